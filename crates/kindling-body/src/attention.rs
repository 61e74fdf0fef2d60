//! Multi-head self-attention as BERT computes it (`attention.self` and `attention.output`).

use burn::nn::{Dropout, DropoutConfig, LayerNorm, Linear};
use burn::prelude::*;
use burn::tensor::activation::softmax;

use crate::init::{hf_layer_norm, hf_linear};
use crate::kernels::{self, KeyBias, mask_value};

/// Query, key and value projections and the scaled dot-product (`attention.self.*`; the field
/// is `self_attention` because `self` is a Rust keyword; [`crate::names`] maps it).
#[derive(Module, Debug)]
pub struct SelfAttention {
    /// Query projection.
    pub query: Linear,
    /// Key projection.
    pub key: Linear,
    /// Value projection.
    pub value: Linear,
    /// Dropout on the attention probabilities.
    pub dropout: Dropout,
    /// Number of heads.
    pub num_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
}

/// Projection back to the hidden size, residual and layer norm (`attention.output.*`).
#[derive(Module, Debug)]
pub struct AttentionOutput {
    /// Output projection.
    pub dense: Linear,
    /// `attention.output.LayerNorm`.
    pub layer_norm: LayerNorm,
    /// Dropout before the residual.
    pub dropout: Dropout,
    /// The norm's epsilon, for kindling's fused kernel (Burn's `LayerNorm` keeps it private).
    #[module(skip)]
    pub layer_norm_eps: f64,
}

/// The whole attention sub-layer of an encoder layer (`attention.*`).
#[derive(Module, Debug)]
pub struct SelfAttentionBlock {
    /// `attention.self`.
    pub self_attention: SelfAttention,
    /// `attention.output`.
    pub output: AttentionOutput,
}

impl SelfAttention {
    /// Builds the projections with `transformers`' initialization.
    pub fn new(
        hidden_size: usize,
        num_heads: usize,
        dropout: f64,
        initializer_range: f64,
        device: &Device,
    ) -> Self {
        Self {
            query: hf_linear(hidden_size, hidden_size, initializer_range, device),
            key: hf_linear(hidden_size, hidden_size, initializer_range, device),
            value: hf_linear(hidden_size, hidden_size, initializer_range, device),
            dropout: DropoutConfig::new(dropout).init(),
            num_heads,
            head_dim: hidden_size / num_heads,
        }
    }

    /// `hidden [batch, seq, hidden]` to the context `[batch, seq, hidden]`, and the attention
    /// probabilities when the mask asks for the decomposed path.
    pub fn forward(
        &self,
        hidden: Tensor<3>,
        mask: &AttentionMask,
    ) -> (Tensor<3>, Option<Tensor<4>>) {
        multi_head_attention(
            kernels::linear(hidden.clone(), &self.query),
            kernels::linear(hidden.clone(), &self.key),
            kernels::linear(hidden, &self.value),
            mask,
            self.num_heads,
            &self.dropout,
        )
    }
}

/// Scaled dot-product attention (scale `1/√head_dim`) over projected queries, keys and values
/// `[batch, seq, heads · head_dim]`, with the heads packed in the last dimension: the context
/// `[batch, seq, heads · head_dim]`, and the probabilities `[batch, heads, seq, seq]` on the
/// decomposed path. Every body's self-attention ends here, whatever its projections are called.
pub fn multi_head_attention(
    query: Tensor<3>,
    key: Tensor<3>,
    value: Tensor<3>,
    mask: &AttentionMask,
    num_heads: usize,
    dropout: &Dropout,
) -> (Tensor<3>, Option<Tensor<4>>) {
    match mask {
        AttentionMask::Fused(key_bias) => {
            let context =
                kernels::attention(query, key, value, key_bias.as_ref(), num_heads, dropout);
            (context, None)
        }
        AttentionMask::Decomposed(key_mask) => {
            let [batch, seq, hidden_size] = query.dims();
            let head_dim = hidden_size / num_heads;
            let split_heads = |x: Tensor<3>| {
                let [batch, seq, _] = x.dims();
                x.reshape([batch, seq, num_heads, head_dim]).swap_dims(1, 2)
            };
            let query = split_heads(query);
            let key = split_heads(key);
            let value = split_heads(value);
            let scale = (head_dim as f64).powf(-0.5);
            let scores = query.matmul(key.swap_dims(2, 3)) * scale;
            let fill = mask_value(scores.dtype());
            let probs = softmax(scores.mask_fill(key_mask.clone(), fill), 3);
            let context = kernels::dropout(probs.clone(), dropout)
                .matmul(value)
                .swap_dims(1, 2)
                .reshape([batch, seq, hidden_size]);
            (context, Some(probs))
        }
    }
}

/// The padding mask, in the form the chosen attention path takes, built once per forward pass
/// and shared by every layer.
#[derive(Debug, Clone)]
pub enum AttentionMask {
    /// Attention as one operation ([`kernels::attention`]: inference without attention
    /// outputs, and training where kindling has a kernel with its backward): no bias when no
    /// key is padding, else the key padding as an additive bias, 0 at real keys and the
    /// dtype's lowest value at padding, which is `transformers`' own mask, so a row of padding
    /// only still averages its values as there.
    Fused(Option<KeyBias>),
    /// Scores, mask, softmax and dropout as separate ops, for training on backends without
    /// kindling's attention kernel and when the probabilities are returned: `true` where a
    /// key is padding, `[batch, 1, 1, seq]`.
    Decomposed(Tensor<4, Bool>),
}

impl AttentionMask {
    /// The mask for `attention_mask` (`[batch, seq]`, 1 at real tokens, 0 at padding). `fused`
    /// picks attention as one operation (no dropout, no probabilities) over the decomposed
    /// path.
    pub fn new(attention_mask: Tensor<2, Int>, fused: bool) -> Self {
        let [batch, seq] = attention_mask.dims();
        let fast = kernels::has_fast_attention(&attention_mask.device());
        let padding = attention_mask.equal_elem(0);
        if !fused {
            return Self::Decomposed(padding.reshape([batch, 1, 1, seq]));
        }
        // One small read: a batch without padding needs no mask at all (as `transformers`'
        // SDPA path drops an all-ones mask).
        if !padding.clone().any().into_scalar::<bool>() {
            return Self::Fused(None);
        }
        let device = padding.device();
        let fill = mask_value(Tensor::<1>::zeros([1], &device).dtype());
        if fast {
            let bias = Tensor::<2>::zeros([batch, seq], &device).mask_fill(padding, fill);
            return Self::Fused(Some(KeyBias::PerKey(bias)));
        }
        // Materialized over queries once, so no backend expands it per layer or per head.
        let bias = Tensor::<4>::zeros([batch, 1, seq, seq], &device).mask_fill(
            padding
                .reshape([batch, 1, 1, seq])
                .expand([batch, 1, seq, seq]),
            fill,
        );
        Self::Fused(Some(KeyBias::PerQuery(bias)))
    }

    /// Whether the probabilities come out of this path.
    pub fn returns_probabilities(&self) -> bool {
        matches!(self, Self::Decomposed(_))
    }
}

impl AttentionOutput {
    /// Builds the projection and norm with `transformers`' initialization.
    pub fn new(
        hidden_size: usize,
        layer_norm_eps: f64,
        dropout: f64,
        initializer_range: f64,
        device: &Device,
    ) -> Self {
        Self {
            dense: hf_linear(hidden_size, hidden_size, initializer_range, device),
            layer_norm: hf_layer_norm(hidden_size, layer_norm_eps, device),
            dropout: DropoutConfig::new(dropout).init(),
            layer_norm_eps,
        }
    }

    /// `LayerNorm(dropout(dense(context)) + residual)`.
    pub fn forward(&self, context: Tensor<3>, residual: Tensor<3>) -> Tensor<3> {
        let projected = kernels::dropout(kernels::linear(context, &self.dense), &self.dropout);
        kernels::add_layer_norm(
            projected,
            Some(residual),
            &self.layer_norm,
            self.layer_norm_eps,
        )
    }
}

impl SelfAttentionBlock {
    /// Self-attention, then projection, residual and norm; also returns the probabilities when
    /// the decomposed path computed them.
    pub fn forward(
        &self,
        hidden: Tensor<3>,
        mask: &AttentionMask,
    ) -> (Tensor<3>, Option<Tensor<4>>) {
        let (context, probs) = self.self_attention.forward(hidden.clone(), mask);
        (self.output.forward(context, hidden), probs)
    }
}
