//! DeBERTa's relative positions: `build_relative_position` and `make_log_bucket_position` of
//! `transformers`, and the gather indices of the two disentangled terms.
//!
//! The positions depend only on the sequence length and the config, so they are computed on
//! the host, once per forward pass, and uploaded as index tensors; nothing is read back from
//! the device.

use burn::prelude::*;

/// How query-to-key distances become rows of the relative-embedding table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelativePositions {
    /// Rows per side of the table (`att_span`: `position_buckets` when bucketed, else the
    /// relative span); the table has `2 * span` rows.
    pub span: usize,
    /// Log buckets per side, when bucketed (`position_buckets`).
    pub buckets: Option<usize>,
    /// The largest distance the buckets cover (`max_relative_positions`, or
    /// `max_position_embeddings` when that is unset).
    pub max_position: usize,
}

impl RelativePositions {
    /// `make_log_bucket_position` for one distance: distances within `buckets / 2` stay as
    /// they are; longer ones are mapped logarithmically onto the remaining buckets, reaching
    /// `buckets - 1` at `max_position - 1`. Computed in float32 as PyTorch does.
    pub fn bucket(relative: i64, buckets: usize, max_position: usize) -> i64 {
        let mid = (buckets / 2) as i64;
        let abs = if relative < mid && relative > -mid {
            mid - 1
        } else {
            relative.abs()
        };
        if abs <= mid {
            return relative;
        }
        // torch: ceil(log(abs / mid) / log(tensor((max_position - 1) / mid)) * (mid - 1)) + mid,
        // every step in float32 (the divisor is a Python float made a float32 tensor).
        let ratio = abs as f32 / mid as f32;
        let base = ((max_position as f64 - 1.0) / mid as f64) as f32;
        let log_pos = (ratio.ln() / base.ln() * (mid - 1) as f32).ceil() + mid as f32;
        (log_pos * relative.signum() as f32) as i64
    }

    /// `build_relative_position(seq, seq)`: the bucketed `i - j` for query `i` and key `j`,
    /// row-major `[seq, seq]`.
    pub fn distances(&self, seq: usize) -> Vec<i64> {
        let mut out = Vec::with_capacity(seq * seq);
        for i in 0..seq as i64 {
            for j in 0..seq as i64 {
                let relative = i - j;
                out.push(match self.buckets {
                    Some(buckets) => Self::bucket(relative, buckets, self.max_position),
                    None => relative,
                });
            }
        }
        out
    }

    /// The gather indices, `[seq, seq]` row-major: content-to-position
    /// `clamp(r[i][j] + span, 0, 2·span - 1)` for query `i` and key `j`, and position-to-content
    /// `clamp(-r[k][q] + span, 0, 2·span - 1)` indexed by key `k` then query `q`: `transformers`
    /// gathers the keys' rows of `key · pos_queryᵀ` with it and transposes the result back to
    /// query rows.
    pub fn indices(&self, seq: usize) -> (Vec<i64>, Vec<i64>) {
        let r = self.distances(seq);
        let span = self.span as i64;
        let clamp = |v: i64| v.clamp(0, 2 * span - 1);
        let mut c2p = Vec::with_capacity(seq * seq);
        let mut p2c = Vec::with_capacity(seq * seq);
        for i in 0..seq {
            for j in 0..seq {
                c2p.push(clamp(r[i * seq + j] + span));
                p2c.push(clamp(-r[i * seq + j] + span));
            }
        }
        (c2p, p2c)
    }

    /// [`indices`](Self::indices) as `[batch, heads, seq, seq]` integer tensors on `device`,
    /// ready for a gather over the table rows of `[batch, heads, seq, 2·span]` scores.
    pub fn index_tensors(
        &self,
        batch: usize,
        heads: usize,
        seq: usize,
        device: &Device,
    ) -> (Tensor<4, Int>, Tensor<4, Int>) {
        let (c2p, p2c) = self.indices(seq);
        let to_tensor = |values: Vec<i64>| {
            Tensor::<2, Int>::from_data(TensorData::new(values, [seq, seq]), device)
                .reshape([1, 1, seq, seq])
                .repeat_dim(0, batch)
                .repeat_dim(1, heads)
        };
        (to_tensor(c2p), to_tensor(p2c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_distances_are_kept_and_long_ones_bucketed_symmetrically() {
        // 8 buckets per side (mid 4) over distances up to 63.
        for r in -4..=4 {
            assert_eq!(RelativePositions::bucket(r, 8, 64), r);
        }
        // abs 63 = max_position - 1 reaches the last bucket: ceil(1 * 3) + 4 = 7.
        assert_eq!(RelativePositions::bucket(63, 8, 64), 7);
        assert_eq!(RelativePositions::bucket(-63, 8, 64), -7);
        // abs 5: ceil(log(5/4) / log(63/4) * 3) + 4 = ceil(0.2437) + 4 = 5.
        assert_eq!(RelativePositions::bucket(5, 8, 64), 5);
        for r in 0..200 {
            assert_eq!(
                RelativePositions::bucket(r, 8, 64),
                -RelativePositions::bucket(-r, 8, 64)
            );
        }
    }

    #[test]
    fn indices_clamp_to_the_table_and_transpose_p2c() {
        let positions = RelativePositions {
            span: 3,
            buckets: None,
            max_position: 3,
        };
        let (c2p, p2c) = positions.indices(5);
        // Query 0, key 4: distance -4, clamped to row 0; query 4, key 0: 4 + 3 -> row 5.
        assert_eq!(c2p[4], 0);
        assert_eq!(c2p[4 * 5], 5);
        assert_eq!(c2p[2 * 5 + 2], 3);
        // p2c[k][q] = clamp(-(k - q) + span): the transpose of c2p.
        for i in 0..5 {
            for j in 0..5 {
                assert_eq!(p2c[i * 5 + j], c2p[j * 5 + i]);
            }
        }
        assert_eq!(p2c[4], 5);
    }
}
