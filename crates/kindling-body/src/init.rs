//! Layer constructors with Hugging Face's initialization: weights from
//! normal(0, `initializer_range`), zero biases, unit layer-norm scale.

use burn::module::Param;
use burn::nn::{
    Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig,
};
use burn::prelude::*;

/// A linear layer `d_input -> d_output` initialized as `transformers` does: normal weights, zero bias.
pub fn hf_linear(d_input: usize, d_output: usize, std: f64, device: &Device) -> Linear {
    let mut linear = LinearConfig::new(d_input, d_output)
        .with_initializer(Initializer::Normal { mean: 0.0, std })
        .init(device);
    linear.bias = Some(Param::from_tensor(Tensor::zeros([d_output], device)));
    linear
}

/// Looks `ids` up in `embedding`, with no gradient reaching the `padding_idx` row, as
/// `torch.nn.Embedding(padding_idx=...)` (see [`kindling_kernels::embedding`]).
pub fn padded_lookup(
    embedding: &Embedding,
    ids: Tensor<2, Int>,
    padding_idx: Option<usize>,
) -> Tensor<3> {
    kindling_kernels::embedding(embedding, ids, padding_idx)
}

/// An embedding table initialized as `transformers` does: normal weights, and the padding row
/// (when there is one inside the table) set to zero.
pub fn hf_embedding(
    n_embedding: usize,
    d_model: usize,
    std: f64,
    padding_idx: Option<usize>,
    device: &Device,
) -> Embedding {
    let mut embedding = EmbeddingConfig::new(n_embedding, d_model)
        .with_initializer(Initializer::Normal { mean: 0.0, std })
        .init(device);
    if let Some(pad) = padding_idx.filter(|&pad| pad < n_embedding) {
        // Lazily, so a table that a checkpoint will overwrite is never materialized.
        embedding.weight = embedding.weight.init_mapper(move |weight| {
            let device = weight.device();
            weight.slice_assign(
                [pad..pad + 1, 0..d_model],
                Tensor::zeros([1, d_model], &device),
            )
        });
    }
    embedding
}

/// A layer norm over `d_model` features with the given epsilon (Burn's default is 1e-5, BERT's 1e-12).
pub fn hf_layer_norm(d_model: usize, epsilon: f64, device: &Device) -> LayerNorm {
    LayerNormConfig::new(d_model)
        .with_epsilon(epsilon)
        .init(device)
}
