//! One ModernBERT layer (`layers.N.*`), pre-norm: `x + attn(attn_norm(x))`, then
//! `x + mlp(mlp_norm(x))`. Layer 0 has no `attn_norm` (the embeddings were just normalized).
//! Global layers attend to every key; the others to a sliding window. The feed-forward is a
//! GeGLU: `mlp.Wi` gives the input and the gate side by side.

use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear};
use burn::prelude::*;

use super::rotary::Rotation;
use crate::activation::HiddenAct;
use crate::attention::{AttentionMask, multi_head_attention};
use crate::init::hf_linear;
use crate::kernels;

/// Sizes, biases and rates shared by every layer of a body.
#[derive(Debug, Clone, Copy)]
pub struct LayerShape {
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// Width of the GLU (half of `mlp.Wi`'s output).
    pub intermediate_size: usize,
    /// The GLU's activation.
    pub activation: HiddenAct,
    /// Layer-norm epsilon.
    pub norm_eps: f64,
    /// Layer norms with a bias.
    pub norm_bias: bool,
    /// `attn.Wqkv` / `attn.Wo` with biases.
    pub attention_bias: bool,
    /// `mlp.Wi` / `mlp.Wo` with biases.
    pub mlp_bias: bool,
    /// Dropout on attention probabilities and after `attn.Wo`.
    pub attention_dropout: f64,
    /// Dropout inside the feed-forward.
    pub mlp_dropout: f64,
    /// Standard deviation of the initializer.
    pub initializer_range: f64,
}

impl LayerShape {
    /// A layer norm over the hidden size with the body's epsilon and bias setting.
    pub fn norm(&self, device: &Device) -> LayerNorm {
        LayerNormConfig::new(self.hidden_size)
            .with_epsilon(self.norm_eps)
            .with_bias(self.norm_bias)
            .init(device)
    }

    /// [`hf_linear`] without its bias unless `bias`.
    fn linear(&self, d_input: usize, d_output: usize, bias: bool, device: &Device) -> Linear {
        let mut linear = hf_linear(d_input, d_output, self.initializer_range, device);
        if !bias {
            linear.bias = None;
        }
        linear
    }
}

/// `attn.*`: the fused query/key/value projection `Wqkv`, rotations, attention and `Wo`.
#[derive(Module, Debug)]
pub struct ModernBertAttention {
    /// `Wqkv`: `hidden -> 3 · hidden` (queries, keys, values side by side).
    pub wqkv: Linear,
    /// `Wo`: `hidden -> hidden`.
    pub wo: Linear,
    /// Dropout on the attention probabilities.
    pub dropout: Dropout,
    /// Dropout after `Wo` (`out_drop`).
    pub out_drop: Dropout,
    /// Number of heads.
    pub num_heads: usize,
}

/// `mlp.*`: `Wo(drop(act(input) · gate))` with `(input, gate) = Wi(x)` split in two.
#[derive(Module, Debug)]
pub struct ModernBertMlp {
    /// `Wi`: `hidden -> 2 · intermediate`.
    pub wi: Linear,
    /// `Wo`: `intermediate -> hidden`.
    pub wo: Linear,
    /// `drop`.
    pub drop: Dropout,
    /// The activation of the input half.
    #[module(skip)]
    pub activation: HiddenAct,
}

/// One layer of the stack.
#[derive(Module, Debug)]
pub struct ModernBertLayer {
    /// `attn_norm`; absent on layer 0.
    pub attn_norm: Option<LayerNorm>,
    /// Self-attention.
    pub attn: ModernBertAttention,
    /// `mlp_norm`.
    pub mlp_norm: LayerNorm,
    /// Feed-forward.
    pub mlp: ModernBertMlp,
    /// Whether the layer attends to every key (else to the sliding window).
    #[module(skip)]
    pub global: bool,
    /// The norms' epsilon, for kindling's fused kernel.
    #[module(skip)]
    pub norm_eps: f64,
}

impl ModernBertLayer {
    /// Builds layer `index` with `transformers`' shapes (normal initialization).
    pub fn new(shape: &LayerShape, index: usize, global: bool, device: &Device) -> Self {
        let h = shape.hidden_size;
        let i = shape.intermediate_size;
        Self {
            attn_norm: (index > 0).then(|| shape.norm(device)),
            attn: ModernBertAttention {
                wqkv: shape.linear(h, 3 * h, shape.attention_bias, device),
                wo: shape.linear(h, h, shape.attention_bias, device),
                dropout: DropoutConfig::new(shape.attention_dropout).init(),
                out_drop: DropoutConfig::new(shape.attention_dropout).init(),
                num_heads: shape.num_heads,
            },
            mlp_norm: shape.norm(device),
            mlp: ModernBertMlp {
                wi: shape.linear(h, 2 * i, shape.mlp_bias, device),
                wo: shape.linear(i, h, shape.mlp_bias, device),
                drop: DropoutConfig::new(shape.mlp_dropout).init(),
                activation: shape.activation,
            },
            global,
            norm_eps: shape.norm_eps,
        }
    }

    /// The layer over `hidden` `[batch, seq, hidden]`, with the mask and rotation of its kind
    /// (global or sliding); also the attention probabilities on the decomposed path.
    pub fn forward(
        &self,
        hidden: Tensor<3>,
        mask: &AttentionMask,
        rotation: &Rotation,
    ) -> (Tensor<3>, Option<Tensor<4>>) {
        let normed = match &self.attn_norm {
            Some(norm) => kernels::add_layer_norm(hidden.clone(), None, norm, self.norm_eps),
            None => hidden.clone(),
        };
        let (attended, probs) = self.attn.forward(normed, mask, rotation);
        let hidden = hidden + attended;
        let normed = kernels::add_layer_norm(hidden.clone(), None, &self.mlp_norm, self.norm_eps);
        (hidden + self.mlp.forward(normed), probs)
    }
}

impl ModernBertAttention {
    /// `out_drop(Wo(attention(rotate(q), rotate(k), v)))`.
    pub fn forward(
        &self,
        hidden: Tensor<3>,
        mask: &AttentionMask,
        rotation: &Rotation,
    ) -> (Tensor<3>, Option<Tensor<4>>) {
        let qkv = kernels::linear(hidden, &self.wqkv);
        let (query, key, value) = rotation.split_qkv(qkv);
        let (context, probs) =
            multi_head_attention(query, key, value, mask, self.num_heads, &self.dropout);
        let out = kernels::dropout(kernels::linear(context, &self.wo), &self.out_drop);
        (out, probs)
    }
}

impl ModernBertMlp {
    /// `Wo(drop(act(input) · gate))`.
    pub fn forward(&self, hidden: Tensor<3>) -> Tensor<3> {
        let both = kernels::linear(hidden, &self.wi);
        let glu = match self.activation {
            HiddenAct::Gelu => kernels::gelu_glu(both),
            activation => {
                let i = both.dims()[2] / 2;
                activation.forward(both.clone().narrow(2, 0, i)) * both.narrow(2, i, i)
            }
        };
        kernels::linear(kernels::dropout(glu, &self.drop), &self.wo)
    }
}
