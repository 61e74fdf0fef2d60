//! One DistilBERT transformer block (`transformer.layer.N.*`): attention with `q_lin` / `k_lin`
//! / `v_lin` / `out_lin`, then the feed-forward `ffn.lin1` / `ffn.lin2`, each followed by the
//! residual and its layer norm (post-LN, as BERT).

use burn::nn::{Dropout, DropoutConfig, LayerNorm, Linear};
use burn::prelude::*;

use crate::activation::HiddenAct;
use crate::attention::{AttentionMask, multi_head_attention};
use crate::init::{hf_layer_norm, hf_linear};
use crate::kernels;

/// `attention.*`: the projections around scaled dot-product attention. Unlike BERT there is no
/// dropout after `out_lin`.
#[derive(Module, Debug)]
pub struct DistilBertAttention {
    /// Query projection.
    pub q_lin: Linear,
    /// Key projection.
    pub k_lin: Linear,
    /// Value projection.
    pub v_lin: Linear,
    /// Output projection.
    pub out_lin: Linear,
    /// Dropout on the attention probabilities (`attention_dropout`).
    pub dropout: Dropout,
    /// Number of heads.
    pub n_heads: usize,
}

/// `ffn.*`: `lin2(activation(lin1(x)))`, then dropout.
#[derive(Module, Debug)]
pub struct FeedForward {
    /// `dim -> hidden_dim`.
    pub lin1: Linear,
    /// `hidden_dim -> dim`.
    pub lin2: Linear,
    /// Dropout on the output (`dropout`).
    pub dropout: Dropout,
    /// The config's `activation`.
    #[module(skip)]
    pub activation: HiddenAct,
}

/// One block of the stack.
#[derive(Module, Debug)]
pub struct TransformerBlock {
    /// Self-attention.
    pub attention: DistilBertAttention,
    /// Norm after attention and its residual.
    pub sa_layer_norm: LayerNorm,
    /// Feed-forward.
    pub ffn: FeedForward,
    /// Norm after the feed-forward and its residual.
    pub output_layer_norm: LayerNorm,
    /// The norms' epsilon, for kindling's fused kernel.
    #[module(skip)]
    pub layer_norm_eps: f64,
}

/// Sizes and rates of a [`TransformerBlock`].
#[derive(Debug, Clone, Copy)]
pub struct BlockShape {
    /// Width of the hidden states.
    pub dim: usize,
    /// Attention heads.
    pub n_heads: usize,
    /// Feed-forward width.
    pub hidden_dim: usize,
    /// Feed-forward activation.
    pub activation: HiddenAct,
    /// Dropout on the feed-forward output.
    pub dropout: f64,
    /// Dropout on attention probabilities.
    pub attention_dropout: f64,
    /// Layer-norm epsilon.
    pub layer_norm_eps: f64,
    /// Standard deviation of the normal initializer.
    pub initializer_range: f64,
}

impl TransformerBlock {
    /// Builds a block with `transformers`' initialization.
    pub fn new(shape: &BlockShape, device: &Device) -> Self {
        let std = shape.initializer_range;
        let linear = |i, o| hf_linear(i, o, std, device);
        Self {
            attention: DistilBertAttention {
                q_lin: linear(shape.dim, shape.dim),
                k_lin: linear(shape.dim, shape.dim),
                v_lin: linear(shape.dim, shape.dim),
                out_lin: linear(shape.dim, shape.dim),
                dropout: DropoutConfig::new(shape.attention_dropout).init(),
                n_heads: shape.n_heads,
            },
            sa_layer_norm: hf_layer_norm(shape.dim, shape.layer_norm_eps, device),
            ffn: FeedForward {
                lin1: linear(shape.dim, shape.hidden_dim),
                lin2: linear(shape.hidden_dim, shape.dim),
                dropout: DropoutConfig::new(shape.dropout).init(),
                activation: shape.activation,
            },
            output_layer_norm: hf_layer_norm(shape.dim, shape.layer_norm_eps, device),
            layer_norm_eps: shape.layer_norm_eps,
        }
    }

    /// Runs the block; also returns the attention probabilities on the decomposed path.
    pub fn forward(
        &self,
        hidden: Tensor<3>,
        mask: &AttentionMask,
    ) -> (Tensor<3>, Option<Tensor<4>>) {
        let attention = &self.attention;
        let [query, key, value] = kernels::linears(
            hidden.clone(),
            [&attention.q_lin, &attention.k_lin, &attention.v_lin],
        );
        let (context, probs) = multi_head_attention(
            query,
            key,
            value,
            mask,
            attention.n_heads,
            &attention.dropout,
        );
        let attended = kernels::add_layer_norm(
            kernels::linear(context, &attention.out_lin),
            Some(hidden),
            &self.sa_layer_norm,
            self.layer_norm_eps,
        );
        let ffn = &self.ffn;
        let expanded = match ffn.activation {
            HiddenAct::Gelu => kernels::linear_gelu(attended.clone(), &ffn.lin1),
            activation => activation.forward(kernels::linear(attended.clone(), &ffn.lin1)),
        };
        let contracted = kernels::dropout(kernels::linear(expanded, &ffn.lin2), &ffn.dropout);
        let out = kernels::add_layer_norm(
            contracted,
            Some(attended),
            &self.output_layer_norm,
            self.layer_norm_eps,
        );
        (out, probs)
    }
}
