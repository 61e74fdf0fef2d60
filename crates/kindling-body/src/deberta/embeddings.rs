//! DeBERTa-v2's embeddings (`embeddings.*`): tokens, plus absolute positions when
//! `position_biased_input`, plus token types when the table has rows, projected to the hidden
//! size by `embed_proj` when narrower, normalized, and zeroed at padding.

use burn::nn::{Dropout, DropoutConfig, Embedding, LayerNorm, Linear};
use burn::prelude::*;

use crate::init::{hf_embedding, hf_layer_norm, hf_linear, padded_lookup};
use crate::kernels;

/// The embedding block of a DeBERTa-v2 body.
#[derive(Module, Debug)]
pub struct DebertaV2Embeddings {
    /// Token embeddings `[vocab_size, embedding_size]`.
    pub word_embeddings: Embedding,
    /// Absolute positions `[max_position_embeddings, embedding_size]`, with
    /// `position_biased_input` only.
    pub position_embeddings: Option<Embedding>,
    /// Segment embeddings `[type_vocab_size, embedding_size]`, when `type_vocab_size > 0`.
    pub token_type_embeddings: Option<Embedding>,
    /// `embedding_size -> hidden_size`, no bias, when the two differ.
    pub embed_proj: Option<Linear>,
    /// `embeddings.LayerNorm` over the hidden size.
    pub layer_norm: LayerNorm,
    /// Dropout after the mask.
    pub dropout: Dropout,
    /// The norm's epsilon, for kindling's fused kernel.
    #[module(skip)]
    pub layer_norm_eps: f64,
    /// The word table's padding row, which gets no gradient (`padding_idx`).
    #[module(skip)]
    pub pad_token_id: Option<usize>,
}

/// Sizes of a [`DebertaV2Embeddings`].
#[derive(Debug, Clone, Copy)]
pub struct EmbeddingShape {
    /// Token vocabulary.
    pub vocab_size: usize,
    /// Width of the token embeddings.
    pub embedding_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Rows of the absolute position table, when there is one.
    pub positions: Option<usize>,
    /// Rows of the token-type table (0: none).
    pub type_vocab_size: usize,
    /// Padding token (its embedding row starts at zero).
    pub pad_token_id: Option<usize>,
    /// Layer-norm epsilon.
    pub layer_norm_eps: f64,
    /// Dropout after the embeddings.
    pub dropout: f64,
    /// Standard deviation of the normal initializer.
    pub initializer_range: f64,
}

impl DebertaV2Embeddings {
    /// Builds the block with `transformers`' initialization.
    pub fn new(shape: &EmbeddingShape, device: &Device) -> Self {
        let std = shape.initializer_range;
        let width = shape.embedding_size;
        Self {
            word_embeddings: hf_embedding(shape.vocab_size, width, std, shape.pad_token_id, device),
            position_embeddings: shape
                .positions
                .map(|rows| hf_embedding(rows, width, std, None, device)),
            token_type_embeddings: (shape.type_vocab_size > 0)
                .then(|| hf_embedding(shape.type_vocab_size, width, std, None, device)),
            embed_proj: (width != shape.hidden_size).then(|| {
                let mut linear = hf_linear(width, shape.hidden_size, std, device);
                linear.bias = None;
                linear
            }),
            layer_norm: hf_layer_norm(shape.hidden_size, shape.layer_norm_eps, device),
            dropout: DropoutConfig::new(shape.dropout).init(),
            layer_norm_eps: shape.layer_norm_eps,
            pad_token_id: shape.pad_token_id,
        }
    }

    /// `[batch, seq]` ids to `[batch, seq, hidden]`; `mask` is the attention mask as floats
    /// `[batch, seq, 1]`. Token types are ignored when the body has no table, as in
    /// `transformers`.
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        token_type_ids: Option<Tensor<2, Int>>,
        position_ids: Option<Tensor<2, Int>>,
        mask: Tensor<3>,
    ) -> Tensor<3> {
        let [batch, seq] = input_ids.dims();
        let device = input_ids.device();
        let mut sum = padded_lookup(&self.word_embeddings, input_ids, self.pad_token_id);
        if let Some(table) = &self.position_embeddings {
            let ids = position_ids.unwrap_or_else(|| {
                Tensor::<1, Int>::arange(0..seq as i64, &device)
                    .reshape([1, seq])
                    .expand([batch, seq])
            });
            sum = sum + table.forward(ids);
        }
        if let Some(table) = &self.token_type_embeddings {
            let types =
                token_type_ids.unwrap_or_else(|| Tensor::<2, Int>::zeros([batch, seq], &device));
            sum = sum + table.forward(types);
        }
        if let Some(project) = &self.embed_proj {
            sum = kernels::linear(sum, project);
        }
        let normalized =
            kernels::add_layer_norm(sum, None, &self.layer_norm, self.layer_norm_eps) * mask;
        kernels::dropout(normalized, &self.dropout)
    }
}
