//! The pooler: dense + tanh on the first token (`pooler.*`).

use burn::nn::Linear;
use burn::prelude::*;

use crate::init::hf_linear;

/// BERT's pooler, used by BERT-style sequence classification.
#[derive(Module, Debug)]
pub struct Pooler {
    /// `hidden -> hidden` projection.
    pub dense: Linear,
}

impl Pooler {
    /// Builds the pooler with `transformers`' initialization.
    pub fn new(hidden_size: usize, initializer_range: f64, device: &Device) -> Self {
        Self {
            dense: hf_linear(hidden_size, hidden_size, initializer_range, device),
        }
    }

    /// `[batch, seq, hidden]` to `tanh(dense(hidden[:, 0]))`, `[batch, hidden]`.
    pub fn forward(&self, hidden: Tensor<3>) -> Tensor<2> {
        let [batch, _, width] = hidden.dims();
        let first = hidden
            .slice([0..batch, 0..1, 0..width])
            .reshape([batch, width]);
        crate::kernels::linear_rowwise(first, &self.dense).tanh()
    }
}
