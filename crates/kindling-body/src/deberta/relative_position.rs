//! DeBERTa's relative positions: `build_relative_position` and `make_log_bucket_position` of
//! `transformers`, and the gather indices of the two disentangled terms.
//!
//! The positions depend only on the sequence length and the config, so they are computed on
//! the host, once per forward pass; nothing is read back from the device.

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

    /// [`indices`](Self::indices) over only the table rows they read (a short sequence reads
    /// `2 · seq - 1` of the `2 · span` rows at most): the first row, and the c2p and p2c indices
    /// of that slice of the table, which has `rows` rows.
    pub fn sliced_indices(&self, seq: usize) -> SlicedIndices {
        let (c2p, p2c) = self.indices(seq);
        let all = || c2p.iter().chain(&p2c).copied();
        let first = all().min().unwrap_or(0);
        let last = all().max().unwrap_or(0);
        let shift = |values: Vec<i64>| values.into_iter().map(|r| (r - first) as u32).collect();
        SlicedIndices {
            first_row: first as usize,
            rows: (last - first + 1) as usize,
            c2p: shift(c2p),
            p2c: shift(p2c),
        }
    }
}

/// The indices of [`RelativePositions::sliced_indices`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlicedIndices {
    /// The first table row read.
    pub first_row: usize,
    /// Rows from the first to the last read.
    pub rows: usize,
    /// Content-to-position rows, `[seq, seq]`, from `first_row`.
    pub c2p: Vec<u32>,
    /// Position-to-content rows, `[seq, seq]` indexed by key then query, from `first_row`.
    pub p2c: Vec<u32>,
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

    #[test]
    fn sliced_indices_read_only_the_rows_in_reach() {
        let positions = RelativePositions {
            span: 8,
            buckets: None,
            max_position: 8,
        };
        let (c2p, p2c) = positions.indices(3);
        let sliced = positions.sliced_indices(3);
        // Distances -2..=2 read rows 6..=10 of 16.
        assert_eq!((sliced.first_row, sliced.rows), (6, 5));
        for e in 0..9 {
            assert_eq!(i64::from(sliced.c2p[e]) + 6, c2p[e]);
            assert_eq!(i64::from(sliced.p2c[e]) + 6, p2c[e]);
        }
    }
}
