//! DistilBERT's embeddings: tokens plus learned or sinusoidal positions, normalized; no token
//! types (`embeddings.*`).

use burn::nn::{Dropout, DropoutConfig, Embedding, LayerNorm};
use burn::prelude::*;

use crate::init::{hf_embedding, hf_layer_norm, padded_lookup};
use crate::kernels;

/// The embedding block of a DistilBERT body.
#[derive(Module, Debug)]
pub struct DistilBertEmbeddings {
    /// Token embeddings `[vocab_size, dim]`.
    pub word_embeddings: Embedding,
    /// Position embeddings `[max_position_embeddings, dim]`, learned; with
    /// `sinusoidal_pos_embds` a fresh table starts as the sinusoidal one (transformers 5 keeps
    /// it a trainable parameter, saves it, and loads the stored table as it is).
    pub position_embeddings: Embedding,
    /// `embeddings.LayerNorm`.
    pub layer_norm: LayerNorm,
    /// Dropout after the normalization.
    pub dropout: Dropout,
    /// The norm's epsilon, for kindling's fused kernel.
    #[module(skip)]
    pub layer_norm_eps: f64,
    /// The word table's padding row, which gets no gradient (`padding_idx`).
    #[module(skip)]
    pub pad_token_id: Option<usize>,
}

/// `transformers`' `create_sinusoidal_embeddings`: row `pos`, column `j` is
/// `sin(pos / 10000^(2⌊j/2⌋/dim))` for even `j` and `cos(...)` for odd `j`.
pub fn sinusoidal_table(rows: usize, dim: usize) -> Vec<f32> {
    let mut table = vec![0.0f32; rows * dim];
    for pos in 0..rows {
        for j in 0..dim {
            let angle = pos as f64 / 10000f64.powf((2 * (j / 2)) as f64 / dim as f64);
            table[pos * dim + j] = if j % 2 == 0 { angle.sin() } else { angle.cos() } as f32;
        }
    }
    table
}

impl DistilBertEmbeddings {
    /// Builds the block with `transformers`' initialization.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        vocab_size: usize,
        dim: usize,
        max_position_embeddings: usize,
        sinusoidal: bool,
        pad_token_id: Option<usize>,
        layer_norm_eps: f64,
        dropout: f64,
        initializer_range: f64,
        device: &Device,
    ) -> Self {
        let mut position_embeddings = hf_embedding(
            max_position_embeddings,
            dim,
            initializer_range,
            None,
            device,
        );
        if sinusoidal {
            let table = sinusoidal_table(max_position_embeddings, dim);
            let device = device.clone();
            position_embeddings.weight = position_embeddings.weight.init_mapper(move |_| {
                Tensor::<1>::from_floats(table.as_slice(), &device)
                    .reshape([max_position_embeddings, dim])
            });
        }
        Self {
            word_embeddings: hf_embedding(vocab_size, dim, initializer_range, pad_token_id, device),
            position_embeddings,
            layer_norm: hf_layer_norm(dim, layer_norm_eps, device),
            dropout: DropoutConfig::new(dropout).init(),
            layer_norm_eps,
            pad_token_id,
        }
    }

    /// `[batch, seq]` ids (and optional explicit positions) to `[batch, seq, dim]`.
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        position_ids: Option<Tensor<2, Int>>,
    ) -> Tensor<3> {
        let [batch, seq] = input_ids.dims();
        let device = input_ids.device();
        let position_ids = position_ids.unwrap_or_else(|| {
            Tensor::<1, Int>::arange(0..seq as i64, &device)
                .reshape([1, seq])
                .expand([batch, seq])
        });
        let positions = self.position_embeddings.forward(position_ids);
        let tokens = padded_lookup(&self.word_embeddings, input_ids, self.pad_token_id);
        let normalized = kernels::add_layer_norm(
            tokens,
            Some(positions),
            &self.layer_norm,
            self.layer_norm_eps,
        );
        kernels::dropout(normalized, &self.dropout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinusoidal_table_alternates_sin_and_cos() {
        let table = sinusoidal_table(3, 4);
        // Row 0: sin(0), cos(0), sin(0), cos(0).
        assert_eq!(&table[0..4], &[0.0, 1.0, 0.0, 1.0]);
        // Row 2, columns 2 and 3: angle 2 / 10000^(2/4) = 0.02.
        assert!((table[8 + 2] - 0.02f64.sin() as f32).abs() < 1e-7);
        assert!((table[8 + 3] - 0.02f64.cos() as f32).abs() < 1e-7);
        assert!((table[8] - 2f64.sin() as f32).abs() < 1e-7);
    }
}
