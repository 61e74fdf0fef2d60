//! One encoder layer: attention, then the feed-forward block (post-LN, as BERT).

use burn::nn::{Dropout, DropoutConfig, LayerNorm, Linear};
use burn::prelude::*;

use crate::activation::HiddenAct;
use crate::attention::{AttentionMask, AttentionOutput, SelfAttention, SelfAttentionBlock};
use crate::init::{hf_layer_norm, hf_linear};
use crate::kernels;

/// The feed-forward expansion and activation (`intermediate.*`).
#[derive(Module, Debug)]
pub struct Intermediate {
    /// `hidden -> intermediate` projection.
    pub dense: Linear,
    /// The config's `hidden_act`.
    #[module(skip)]
    pub activation: HiddenAct,
}

impl Intermediate {
    /// `activation(dense(hidden))`; exact GELU runs fused with the bias add where a kernel
    /// allows it.
    pub fn forward(&self, hidden: Tensor<3>) -> Tensor<3> {
        match self.activation {
            HiddenAct::Gelu => kernels::linear_gelu(hidden, &self.dense),
            activation => activation.forward(kernels::linear(hidden, &self.dense)),
        }
    }
}

/// The feed-forward contraction, residual and norm (`output.*`).
#[derive(Module, Debug)]
pub struct LayerOutput {
    /// `intermediate -> hidden` projection.
    pub dense: Linear,
    /// `output.LayerNorm`.
    pub layer_norm: LayerNorm,
    /// Dropout before the residual.
    pub dropout: Dropout,
    /// The norm's epsilon, for kindling's fused kernel (Burn's `LayerNorm` keeps it private).
    #[module(skip)]
    pub layer_norm_eps: f64,
}

/// One layer of the encoder stack (`encoder.layer.N.*`).
#[derive(Module, Debug)]
pub struct EncoderLayer {
    /// Self-attention with its output block.
    pub attention: SelfAttentionBlock,
    /// Feed-forward expansion.
    pub intermediate: Intermediate,
    /// Feed-forward contraction.
    pub output: LayerOutput,
}

impl EncoderLayer {
    /// Builds a layer with `transformers`' initialization.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        hidden_size: usize,
        num_heads: usize,
        intermediate_size: usize,
        activation: HiddenAct,
        layer_norm_eps: f64,
        hidden_dropout: f64,
        attention_dropout: f64,
        initializer_range: f64,
        device: &Device,
    ) -> Self {
        Self {
            attention: SelfAttentionBlock {
                self_attention: SelfAttention::new(
                    hidden_size,
                    num_heads,
                    attention_dropout,
                    initializer_range,
                    device,
                ),
                output: AttentionOutput::new(
                    hidden_size,
                    layer_norm_eps,
                    hidden_dropout,
                    initializer_range,
                    device,
                ),
            },
            intermediate: Intermediate {
                dense: hf_linear(hidden_size, intermediate_size, initializer_range, device),
                activation,
            },
            output: LayerOutput {
                dense: hf_linear(intermediate_size, hidden_size, initializer_range, device),
                layer_norm: hf_layer_norm(hidden_size, layer_norm_eps, device),
                dropout: DropoutConfig::new(hidden_dropout).init(),
                layer_norm_eps,
            },
        }
    }

    /// Runs the layer; returns the new hidden states and, on the decomposed attention path, the
    /// attention probabilities.
    pub fn forward(
        &self,
        hidden: Tensor<3>,
        mask: &AttentionMask,
    ) -> (Tensor<3>, Option<Tensor<4>>) {
        let (attended, probs) = self.attention.forward(hidden, mask);
        let expanded = self.intermediate.forward(attended.clone());
        let contracted = kernels::dropout(
            kernels::linear(expanded, &self.output.dense),
            &self.output.dropout,
        );
        let output = &self.output;
        let out = kernels::add_layer_norm(
            contracted,
            Some(attended),
            &output.layer_norm,
            output.layer_norm_eps,
        );
        (out, probs)
    }
}
