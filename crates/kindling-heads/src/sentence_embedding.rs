//! Sentence embeddings (sentence-transformers' `Pooling` + `Normalize`): no parameters.

use burn::prelude::*;
use kindling_body::BodyOutput;

use crate::error::HeadError;
use crate::head::{Head, HeadContext, NoLabels};
use crate::sequence_classification::{first_token, masked_mean};

/// How token states become one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// Mean over real tokens (all-MiniLM-L6-v2's choice).
    Mean,
    /// The first token's state.
    Cls,
    /// Element-wise max over real tokens.
    Max,
}

/// Pools the body's token states into one embedding per sequence, optionally L2-normalized.
#[derive(Module, Debug)]
pub struct SentenceEmbeddingHead {
    /// The pooling rule.
    #[module(skip)]
    pub pooling: Pooling,
    /// Whether to divide by the L2 norm (sentence-transformers' `Normalize`).
    pub normalize: bool,
    /// The body width this head reads.
    pub hidden_size: usize,
}

/// Outputs of [`SentenceEmbeddingHead`].
#[derive(Debug, Clone)]
pub struct SentenceEmbeddingOutput {
    /// `[batch, hidden]`.
    pub sentence_embedding: Tensor<2>,
}

impl SentenceEmbeddingHead {
    /// A head for a body of width `hidden_size`.
    pub fn new(hidden_size: usize, pooling: Pooling, normalize: bool) -> Self {
        Self {
            pooling,
            normalize,
            hidden_size,
        }
    }
}

impl Head for SentenceEmbeddingHead {
    type Output = SentenceEmbeddingOutput;
    type Labels = NoLabels;

    fn forward(&self, body: BodyOutput, context: &HeadContext) -> Self::Output {
        let hidden = body.last_hidden_state;
        let [batch, seq, width] = hidden.dims();
        let pooled = match self.pooling {
            Pooling::Cls => first_token(hidden),
            Pooling::Mean => masked_mean(hidden, context.attention_mask.clone(), 1e-9),
            Pooling::Max => {
                let padding = context
                    .attention_mask
                    .clone()
                    .equal_elem(0)
                    .reshape([batch, seq, 1])
                    .expand([batch, seq, width]);
                hidden
                    .mask_fill(padding, -1e9)
                    .max_dim(1)
                    .reshape([batch, width])
            }
        };
        let sentence_embedding = if self.normalize {
            let norm = pooled
                .clone()
                .powi_scalar(2)
                .sum_dim(1)
                .sqrt()
                .clamp_min(1e-12);
            pooled / norm
        } else {
            pooled
        };
        SentenceEmbeddingOutput { sentence_embedding }
    }

    fn loss(&self, _output: &Self::Output, labels: Self::Labels) -> Result<Tensor<1>, HeadError> {
        match labels {}
    }

    fn hidden_size(&self) -> usize {
        self.hidden_size
    }
}
