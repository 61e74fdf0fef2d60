//! Rotary position embeddings (RoPE) as ModernBERT applies them to queries and keys, with one
//! base for global layers and another for sliding-window layers.

use burn::prelude::*;

use crate::kernels;

/// The inverse frequencies `1 / base^(2i / head_dim)` for `i < head_dim / 2`, computed in
/// float32 as `transformers`' `compute_default_rope_parameters` does (so the angles, and the
/// outputs, match its rounding).
pub fn inverse_frequencies(base: f64, head_dim: usize) -> Vec<f32> {
    let base = base as f32;
    (0..head_dim / 2)
        .map(|i| 1.0 / base.powf((2 * i) as f32 / head_dim as f32))
        .collect()
}

/// The cosines and sines of one layer type's rotation, `[batch or 1, seq, 1, head_dim]` each,
/// broadcast over the heads of queries and keys laid out `[batch, seq, heads, head_dim]`.
#[derive(Debug, Clone)]
pub struct Rotation {
    cos: Tensor<4>,
    sin: Tensor<4>,
}

impl Rotation {
    /// The rotation of `positions` (`[batch or 1, seq]`) for the RoPE `base`: angle
    /// `position · inv_freq`, the frequencies repeated over both halves of the head, computed
    /// on the device in float32 and then cast to `dtype`.
    pub fn new(
        positions: Tensor<2, Int>,
        base: f64,
        head_dim: usize,
        dtype: burn::tensor::DType,
    ) -> Self {
        let device = positions.device();
        let [rows, seq] = positions.dims();
        let half = head_dim / 2;
        let inv_freq = Tensor::<1>::from_data(
            TensorData::new(inverse_frequencies(base, head_dim), [half]),
            &device,
        )
        .reshape([1, 1, half]);
        let positions = positions.float().reshape([rows, seq, 1]);
        let freqs = positions.expand([rows, seq, half]) * inv_freq.expand([rows, seq, half]);
        let angles = Tensor::cat(vec![freqs.clone(), freqs], 2).reshape([rows, seq, 1, head_dim]);
        Self {
            cos: angles.clone().cos().cast(dtype),
            sin: angles.sin().cast(dtype),
        }
    }

    /// The query, key and value of a fused `[batch, seq, 3 · hidden]` projection, query
    /// and key rotated: `x · cos + rotate_half(x) · sin`, where `rotate_half` maps the halves
    /// `(x1, x2)` of each head to `(-x2, x1)` ([`kernels::split_rotary_qkv`]).
    pub fn split_qkv(&self, qkv: Tensor<3>) -> (Tensor<3>, Tensor<3>, Tensor<3>) {
        kernels::split_rotary_qkv(qkv, &self.cos, &self.sin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotation_keeps_norms_and_turns_position_zero_into_identity() {
        let device = Device::flex();
        let heads = 2;
        let values: Vec<f32> = (0..2 * 3 * 8).map(|i| (i as f32 * 0.37).sin()).collect();
        let x = Tensor::<3>::from_data(TensorData::new(values, [2, 3, 8]), &device);
        let positions = Tensor::<1, Int>::arange(0..3, &device).reshape([1, 3]);
        let rotation = Rotation::new(positions, 10_000.0, 4, x.dtype());
        let qkv = Tensor::cat(vec![x.clone(), x.clone(), x.clone()], 2);
        let (y, k, v) = rotation.split_qkv(qkv);
        assert_eq!(heads * 4, y.dims()[2]);
        let read3 = |t: Tensor<3>| t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        assert_eq!(read3(y.clone()), read3(k));
        assert_eq!(read3(v), read3(x.clone()));
        let read = |t: Tensor<3>| t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        let (x, y) = (read(x), read(y));
        // position 0 of each row is unchanged
        for row in 0..2 {
            let start = row * 24;
            for j in 0..8 {
                assert!((x[start + j] - y[start + j]).abs() < 1e-6);
            }
        }
        // each (i, i + half) pair keeps its length
        for pair in 0..(2 * 3 * heads) {
            let base = pair * 4;
            for i in 0..2 {
                let before = x[base + i].hypot(x[base + i + 2]);
                let after = y[base + i].hypot(y[base + i + 2]);
                assert!((before - after).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn frequencies_fall_from_one_by_the_base() {
        let f = inverse_frequencies(10_000.0, 8);
        assert_eq!(f.len(), 4);
        assert_eq!(f[0], 1.0);
        assert!((f[2] - 0.01).abs() < 1e-7);
    }
}
