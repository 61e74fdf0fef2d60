//! ModernBERT's embeddings (`embeddings.*`): token embeddings, normalized, then dropout. No
//! position or token-type tables: positions enter each layer as rotations.

use burn::nn::{Dropout, DropoutConfig, Embedding, LayerNorm};
use burn::prelude::*;

use crate::init::{hf_embedding, padded_lookup};
use crate::kernels;

/// The embedding block of a ModernBERT body.
#[derive(Module, Debug)]
pub struct ModernBertEmbeddings {
    /// Token embeddings `[vocab_size, hidden_size]`.
    pub tok_embeddings: Embedding,
    /// `embeddings.norm` (with a bias only under `norm_bias`).
    pub norm: LayerNorm,
    /// `embedding_dropout`.
    pub drop: Dropout,
    /// The norm's epsilon, for kindling's fused kernel.
    #[module(skip)]
    pub norm_eps: f64,
    /// The table's padding row, which gets no gradient (`padding_idx`).
    #[module(skip)]
    pub pad_token_id: Option<usize>,
}

impl ModernBertEmbeddings {
    /// Builds the block with `transformers`' initialization.
    pub fn new(
        vocab_size: usize,
        hidden_size: usize,
        shape: &super::layer::LayerShape,
        embedding_dropout: f64,
        pad_token_id: Option<usize>,
        device: &Device,
    ) -> Self {
        Self {
            tok_embeddings: hf_embedding(
                vocab_size,
                hidden_size,
                shape.initializer_range,
                pad_token_id,
                device,
            ),
            norm: shape.norm(device),
            drop: DropoutConfig::new(embedding_dropout).init(),
            norm_eps: shape.norm_eps,
            pad_token_id,
        }
    }

    /// `drop(norm(tok_embeddings(ids)))`: `[batch, seq]` to `[batch, seq, hidden]`.
    pub fn forward(&self, input_ids: Tensor<2, Int>) -> Tensor<3> {
        let embedded = padded_lookup(&self.tok_embeddings, input_ids, self.pad_token_id);
        let normed = kernels::add_layer_norm(embedded, None, &self.norm, self.norm_eps);
        kernels::dropout(normed, &self.drop)
    }
}
