//! DeBERTa-v2's encoder (`encoder.*`): the layer stack, the relative-embedding table with its
//! optional norm, and the optional convolution after the first layer.

use burn::module::Param;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{Dropout, DropoutConfig, Embedding, Initializer, LayerNorm, PaddingConfig1d};
use burn::prelude::*;

use crate::activation::HiddenAct;
use crate::attention::{AttentionMask, AttentionOutput};
use crate::deberta::disentangled_attention::{
    DisentangledSelfAttention, PosAttention, RelativeContext,
};
use crate::deberta::relative_position::RelativePositions;
use crate::init::{hf_embedding, hf_layer_norm, hf_linear};
use crate::kernels;
use crate::layer::{Intermediate, LayerOutput};

/// `attention.*` of a DeBERTa layer: disentangled self-attention, then BERT's output block.
#[derive(Module, Debug)]
pub struct DebertaV2Attention {
    /// `attention.self`.
    pub self_attention: DisentangledSelfAttention,
    /// `attention.output` (dense, residual, `LayerNorm`).
    pub output: AttentionOutput,
}

/// One layer of the stack (`encoder.layer.N.*`), post-LN as BERT's.
#[derive(Module, Debug)]
pub struct DebertaV2Layer {
    /// Attention with its output block.
    pub attention: DebertaV2Attention,
    /// Feed-forward expansion.
    pub intermediate: Intermediate,
    /// Feed-forward contraction, residual and norm.
    pub output: LayerOutput,
}

/// `encoder.conv.*`: a 1-D convolution over the embeddings output, added to the first
/// layer's output and normalized: `LayerNorm(layer_0 + act(mask · conv(embeddings))) · mask`.
#[derive(Module, Debug)]
pub struct ConvLayer {
    /// `conv`: `hidden -> hidden`, width `conv_kernel_size`, padding `(width - 1) / 2`.
    pub conv: Conv1d,
    /// `LayerNorm`.
    pub layer_norm: LayerNorm,
    /// Dropout before the activation.
    pub dropout: Dropout,
    /// `conv_act`.
    #[module(skip)]
    pub activation: HiddenAct,
    /// The norm's epsilon, for kindling's fused kernel.
    #[module(skip)]
    pub layer_norm_eps: f64,
}

/// The encoder of a DeBERTa-v2 body.
#[derive(Module, Debug)]
pub struct DebertaV2Encoder {
    /// `encoder.layer.N`.
    pub layer: Vec<DebertaV2Layer>,
    /// `rel_embeddings` `[2 · span, hidden]`, with relative attention.
    pub rel_embeddings: Option<Embedding>,
    /// `encoder.LayerNorm` on the relative embeddings (`norm_rel_ebd: layer_norm`).
    pub layer_norm: Option<LayerNorm>,
    /// The convolution after the first layer (`conv_kernel_size > 0`).
    pub conv: Option<ConvLayer>,
    /// How distances become table rows.
    #[module(skip)]
    pub positions: RelativePositions,
    /// The norms' epsilon, for kindling's fused kernel.
    #[module(skip)]
    pub layer_norm_eps: f64,
}

/// Sizes and options of one [`DebertaV2Layer`].
#[derive(Debug, Clone, Copy)]
pub struct LayerShape {
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// Feed-forward width.
    pub intermediate_size: usize,
    /// Feed-forward activation.
    pub activation: HiddenAct,
    /// The relative terms.
    pub pos: PosAttention,
    /// Layer-norm epsilon.
    pub layer_norm_eps: f64,
    /// Dropout on sub-layer outputs and relative embeddings.
    pub hidden_dropout: f64,
    /// Dropout on attention probabilities.
    pub attention_dropout: f64,
    /// Standard deviation of the normal initializer.
    pub initializer_range: f64,
}

impl DebertaV2Layer {
    /// Builds a layer with `transformers`' initialization.
    pub fn new(shape: &LayerShape, device: &Device) -> Self {
        let (h, std) = (shape.hidden_size, shape.initializer_range);
        Self {
            attention: DebertaV2Attention {
                self_attention: DisentangledSelfAttention::new(
                    h,
                    shape.num_heads,
                    shape.pos,
                    shape.attention_dropout,
                    shape.hidden_dropout,
                    std,
                    device,
                ),
                output: AttentionOutput::new(
                    h,
                    shape.layer_norm_eps,
                    shape.hidden_dropout,
                    std,
                    device,
                ),
            },
            intermediate: Intermediate {
                dense: hf_linear(h, shape.intermediate_size, std, device),
                activation: shape.activation,
            },
            output: LayerOutput {
                dense: hf_linear(shape.intermediate_size, h, std, device),
                layer_norm: hf_layer_norm(h, shape.layer_norm_eps, device),
                dropout: DropoutConfig::new(shape.hidden_dropout).init(),
                layer_norm_eps: shape.layer_norm_eps,
            },
        }
    }

    /// Runs the layer; also returns the attention probabilities on the decomposed path.
    /// `query_mask` is the attention mask as floats, `[batch, seq, 1]`.
    pub fn forward(
        &self,
        hidden: Tensor<3>,
        mask: &AttentionMask,
        relative: Option<&RelativeContext>,
        query_mask: &Tensor<3>,
    ) -> (Tensor<3>, Option<Tensor<4>>) {
        let (context, probs) =
            self.attention
                .self_attention
                .forward(hidden.clone(), mask, relative, query_mask);
        let attended = self.attention.output.forward(context, hidden);
        let expanded = self.intermediate.forward(attended.clone());
        let output = &self.output;
        let contracted =
            kernels::dropout(kernels::linear(expanded, &output.dense), &output.dropout);
        let out = kernels::add_layer_norm(
            contracted,
            Some(attended),
            &output.layer_norm,
            output.layer_norm_eps,
        );
        (out, probs)
    }
}

impl ConvLayer {
    /// Builds the convolution block (normal(0, `initializer_range`) kernel, zero bias).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        hidden_size: usize,
        kernel_size: usize,
        groups: usize,
        activation: HiddenAct,
        layer_norm_eps: f64,
        dropout: f64,
        initializer_range: f64,
        device: &Device,
    ) -> Self {
        let pad = (kernel_size - 1) / 2;
        let conv = Conv1dConfig::new(hidden_size, hidden_size, kernel_size)
            .with_groups(groups)
            .with_padding(PaddingConfig1d::Explicit(pad, pad))
            .with_initializer(Initializer::Normal {
                mean: 0.0,
                std: initializer_range,
            })
            .init(device);
        let mut conv = conv;
        conv.bias = Some(Param::from_tensor(Tensor::zeros([hidden_size], device)));
        Self {
            conv,
            layer_norm: hf_layer_norm(hidden_size, layer_norm_eps, device),
            dropout: DropoutConfig::new(dropout).init(),
            activation,
            layer_norm_eps,
        }
    }

    /// `embeddings` (the encoder's input) and `residual` (the first layer's output), both
    /// `[batch, seq, hidden]`, and `mask` `[batch, seq, 1]` to the block's output.
    pub fn forward(
        &self,
        embeddings: Tensor<3>,
        residual: Tensor<3>,
        mask: Tensor<3>,
    ) -> Tensor<3> {
        let out = self
            .conv
            .forward(embeddings.swap_dims(1, 2))
            .swap_dims(1, 2)
            * mask.clone();
        let out = self
            .activation
            .forward(kernels::dropout(out, &self.dropout));
        kernels::add_layer_norm(out, Some(residual), &self.layer_norm, self.layer_norm_eps) * mask
    }
}

impl DebertaV2Encoder {
    /// What every layer's relative terms read for sequences of `seq`: the rows of the
    /// relative embeddings in reach (through `encoder.LayerNorm` where the config asks) and
    /// the gather indices into them; `None` without relative attention.
    pub fn relative_context(&self, seq: usize) -> Option<RelativeContext> {
        let table = self.rel_embeddings.as_ref()?;
        let sliced = self.positions.sliced_indices(seq);
        let rows = sliced.first_row..sliced.first_row + sliced.rows;
        let mut embeddings = table.weight.val().slice([rows]);
        if let Some(norm) = &self.layer_norm {
            embeddings = kernels::add_layer_norm(embeddings, None, norm, self.layer_norm_eps);
        }
        let index = |values| {
            kernels::RelativeIndex::new(seq, sliced.rows, values)
                .expect("sliced indices stay within their rows")
        };
        Some(RelativeContext {
            embeddings,
            c2p: index(sliced.c2p),
            p2c: index(sliced.p2c),
        })
    }

    /// The relative-embedding table with `transformers`' initialization.
    pub fn rel_table(rows: usize, hidden_size: usize, std: f64, device: &Device) -> Embedding {
        hf_embedding(rows, hidden_size, std, None, device)
    }
}
