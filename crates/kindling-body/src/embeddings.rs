//! Word, position and token-type embeddings, summed and normalized.

use burn::nn::{Dropout, DropoutConfig, Embedding, LayerNorm};
use burn::prelude::*;

use crate::config::PositionIds;
use crate::init::{hf_embedding, hf_layer_norm, padded_lookup};
use crate::kernels;

/// The embedding block (`embeddings.*` in Hugging Face checkpoints).
#[derive(Module, Debug)]
pub struct Embeddings {
    /// Token embeddings `[vocab_size, hidden]`.
    pub word_embeddings: Embedding,
    /// Learned absolute positions `[max_position_embeddings, hidden]`.
    pub position_embeddings: Embedding,
    /// Segment embeddings `[type_vocab_size, hidden]`.
    pub token_type_embeddings: Embedding,
    /// `embeddings.LayerNorm`.
    pub layer_norm: LayerNorm,
    /// Dropout after the normalization.
    pub dropout: Dropout,
    /// How position ids are made when the caller gives none.
    #[module(skip)]
    pub position_ids: PositionIds,
    /// The norm's epsilon, for kindling's fused kernel (Burn's `LayerNorm` keeps it private).
    #[module(skip)]
    pub layer_norm_eps: f64,
    /// The word table's padding row, which gets no gradient (`padding_idx`).
    #[module(skip)]
    pub pad_token_id: Option<usize>,
}

impl Embeddings {
    /// Builds the block with `transformers`' initialization.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        vocab_size: usize,
        hidden_size: usize,
        max_position_embeddings: usize,
        type_vocab_size: usize,
        pad_token_id: Option<usize>,
        position_ids: PositionIds,
        layer_norm_eps: f64,
        dropout: f64,
        initializer_range: f64,
        device: &Device,
    ) -> Self {
        let position_pad = match position_ids {
            PositionIds::FromPadding { padding_idx } => Some(padding_idx),
            PositionIds::Absolute => None,
        };
        Self {
            word_embeddings: hf_embedding(
                vocab_size,
                hidden_size,
                initializer_range,
                pad_token_id,
                device,
            ),
            position_embeddings: hf_embedding(
                max_position_embeddings,
                hidden_size,
                initializer_range,
                position_pad,
                device,
            ),
            token_type_embeddings: hf_embedding(
                type_vocab_size,
                hidden_size,
                initializer_range,
                None,
                device,
            ),
            layer_norm: hf_layer_norm(hidden_size, layer_norm_eps, device),
            dropout: DropoutConfig::new(dropout).init(),
            position_ids,
            layer_norm_eps,
            pad_token_id,
        }
    }

    /// Position ids for a batch by this block's rule.
    pub fn make_position_ids(&self, input_ids: &Tensor<2, Int>) -> Tensor<2, Int> {
        let [batch, seq] = input_ids.dims();
        let device = input_ids.device();
        match self.position_ids {
            PositionIds::Absolute => Tensor::<1, Int>::arange(0..seq as i64, &device)
                .reshape([1, seq])
                .expand([batch, seq]),
            PositionIds::FromPadding { padding_idx } => {
                // transformers: mask = ids != pad; cumsum(mask) * mask + pad.
                let mask = input_ids.clone().not_equal_elem(padding_idx as i64).int();
                mask.clone().cumsum(1) * mask + padding_idx as i64
            }
        }
    }

    /// `[batch, seq]` ids to `[batch, seq, hidden]` embeddings.
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        token_type_ids: Option<Tensor<2, Int>>,
        position_ids: Option<Tensor<2, Int>>,
    ) -> Tensor<3> {
        let [batch, seq] = input_ids.dims();
        let device = input_ids.device();
        let position_ids = position_ids.unwrap_or_else(|| self.make_position_ids(&input_ids));
        let token_type_ids =
            token_type_ids.unwrap_or_else(|| Tensor::<2, Int>::zeros([batch, seq], &device));
        let embeddings = padded_lookup(&self.word_embeddings, input_ids, self.pad_token_id)
            + self.token_type_embeddings.forward(token_type_ids);
        let position_pad = match self.position_ids {
            PositionIds::FromPadding { padding_idx } => Some(padding_idx),
            PositionIds::Absolute => None,
        };
        let positions = padded_lookup(&self.position_embeddings, position_ids, position_pad);
        let normalized = kernels::add_layer_norm(
            embeddings,
            Some(positions),
            &self.layer_norm,
            self.layer_norm_eps,
        );
        kernels::dropout(normalized, &self.dropout)
    }
}
