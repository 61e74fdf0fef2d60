//! Scaled dot-product attention on float32 slices, heads read in place.
//!
//! The query, key and value projections come out of their linear layers as
//! `[batch, seq, heads · head_dim]`. Splitting heads into `[batch, heads, seq, head_dim]` and
//! merging them back costs four full copies per layer; here every `(batch, head)` pair instead
//! reads its columns through strides (the matrix kernel packs its operands anyway) and writes
//! its context straight into the merged `[batch, seq, hidden]` output.

use gemm::{Parallelism, gemm};
use rayon::prelude::*;

use super::math::softmax_rows;

/// The shape of one attention call.
#[derive(Debug, Clone, Copy)]
pub struct AttentionShape {
    /// Sequences in the batch.
    pub batch: usize,
    /// Query positions.
    pub seq_q: usize,
    /// Key and value positions.
    pub seq_k: usize,
    /// Attention heads.
    pub heads: usize,
    /// Width of one head.
    pub head_dim: usize,
}

impl AttentionShape {
    fn hidden(&self) -> usize {
        self.heads * self.head_dim
    }
}

/// A raw pointer that may cross threads: every task writes its own disjoint set of cells.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);
// SAFETY: tasks write disjoint columns of distinct rows (see `attention`).
unsafe impl Send for SharedOut {}
// SAFETY: as above.
unsafe impl Sync for SharedOut {}

/// Below this many multiply-adds a call runs on the calling thread.
const PARALLEL_MIN_WORK: usize = 1 << 18;

/// `out[b, i, h] = softmax(scale · q[b, i, h] · k[b, :, h]ᵀ + key_bias[b]) · v[b, :, h]` for every
/// sequence `b`, query `i` and head `h`, where `[.., h]` is the head's `head_dim` columns.
///
/// `query` and `out` are `[batch, seq_q, hidden]`, `key` and `value` `[batch, seq_k, hidden]`,
/// all row-major; `key_bias` (`[batch, seq_k]`) is added to every score row of its sequence:
/// 0 at real keys and `f32::MIN` at padding, so padding gets no weight unless a row has nothing
/// else (then, as in `transformers`, the row averages all values).
///
/// # Panics
/// When a slice's length does not match `shape`.
#[allow(unsafe_code)]
pub fn attention(
    query: &[f32],
    key: &[f32],
    value: &[f32],
    key_bias: Option<&[f32]>,
    scale: f32,
    shape: AttentionShape,
    out: &mut [f32],
) {
    let AttentionShape {
        batch,
        seq_q,
        seq_k,
        heads,
        head_dim,
    } = shape;
    let hidden = shape.hidden();
    assert_eq!(query.len(), batch * seq_q * hidden, "query length");
    assert_eq!(key.len(), batch * seq_k * hidden, "key length");
    assert_eq!(value.len(), batch * seq_k * hidden, "value length");
    assert_eq!(out.len(), batch * seq_q * hidden, "output length");
    if let Some(bias) = key_bias {
        assert_eq!(bias.len(), batch * seq_k, "key bias length");
    }
    if out.is_empty() {
        return;
    }
    if seq_k == 0 {
        out.fill(0.0);
        return;
    }
    let out_ptr = SharedOut(out.as_mut_ptr());
    let hidden_stride = hidden as isize;

    let run = |scores: &mut Vec<f32>, task: usize| {
        let (b, h) = (task / heads, task % heads);
        let q = &query[b * seq_q * hidden + h * head_dim..];
        let k = &key[b * seq_k * hidden + h * head_dim..];
        let v = &value[b * seq_k * hidden + h * head_dim..];
        let bias = key_bias.map(|bias| &bias[b * seq_k..(b + 1) * seq_k]);
        scores.resize(seq_q * seq_k, 0.0);
        let out_ptr = out_ptr;
        // SAFETY: every pointer stays inside its slice: the last element read of `q` is
        // (seq_q - 1) * hidden + head_dim - 1 past its start, within the asserted lengths, and
        // likewise for `k`, `v` and the output. Tasks write disjoint cells of `out` (their own
        // sequence's rows, their own head's columns), and `scores` is the task's own.
        unsafe {
            // scores[i, j] = scale · Σ_d q[i, d] k[j, d]
            gemm(
                seq_q,
                seq_k,
                head_dim,
                scores.as_mut_ptr(),
                1,
                seq_k as isize,
                false,
                q.as_ptr(),
                1,
                hidden_stride,
                k.as_ptr(),
                hidden_stride,
                1,
                0.0,
                scale,
                false,
                false,
                false,
                Parallelism::None,
            );
            softmax_rows(scores, seq_k, bias);
            // out[i, d] = Σ_j scores[i, j] v[j, d]
            let out_head = out_ptr.0.add(b * seq_q * hidden + h * head_dim);
            gemm(
                seq_q,
                head_dim,
                seq_k,
                out_head,
                1,
                hidden_stride,
                false,
                scores.as_ptr(),
                1,
                seq_k as isize,
                v.as_ptr(),
                1,
                hidden_stride,
                0.0,
                1.0,
                false,
                false,
                false,
                Parallelism::None,
            );
        }
    };

    let tasks = batch * heads;
    let work = tasks * seq_q * seq_k * head_dim * 2;
    if work < PARALLEL_MIN_WORK || rayon::current_num_threads() == 1 {
        let mut scores = Vec::new();
        (0..tasks).for_each(|task| run(&mut scores, task));
    } else {
        (0..tasks)
            .into_par_iter()
            .for_each_init(Vec::new, |scores, task| run(scores, task));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook computation in float64, heads split explicitly.
    fn reference(
        q: &[f32],
        k: &[f32],
        v: &[f32],
        bias: Option<&[f32]>,
        scale: f32,
        s: AttentionShape,
    ) -> Vec<f32> {
        let hidden = s.hidden();
        let mut out = vec![0.0f32; s.batch * s.seq_q * hidden];
        for b in 0..s.batch {
            for h in 0..s.heads {
                for i in 0..s.seq_q {
                    let qi = &q[(b * s.seq_q + i) * hidden + h * s.head_dim..][..s.head_dim];
                    let scores: Vec<f64> = (0..s.seq_k)
                        .map(|j| {
                            let kj =
                                &k[(b * s.seq_k + j) * hidden + h * s.head_dim..][..s.head_dim];
                            let dot: f64 =
                                qi.iter().zip(kj).map(|(a, c)| *a as f64 * *c as f64).sum();
                            dot * scale as f64 + bias.map_or(0.0, |bb| bb[b * s.seq_k + j] as f64)
                        })
                        .collect();
                    let max = scores.iter().cloned().fold(f64::MIN, f64::max);
                    let exps: Vec<f64> = scores.iter().map(|x| (x - max).exp()).collect();
                    let total: f64 = exps.iter().sum();
                    for d in 0..s.head_dim {
                        let value: f64 = (0..s.seq_k)
                            .map(|j| {
                                exps[j] / total
                                    * v[(b * s.seq_k + j) * hidden + h * s.head_dim + d] as f64
                            })
                            .sum();
                        out[(b * s.seq_q + i) * hidden + h * s.head_dim + d] = value as f32;
                    }
                }
            }
        }
        out
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state % 2000) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    fn check(shape: AttentionShape, padded: bool) {
        let hidden = shape.hidden();
        let q = values(shape.batch * shape.seq_q * hidden, 1);
        let k = values(shape.batch * shape.seq_k * hidden, 2);
        let v = values(shape.batch * shape.seq_k * hidden, 3);
        // The last sequence has its second half padded.
        let bias: Vec<f32> = (0..shape.batch * shape.seq_k)
            .map(|i| {
                let (b, j) = (i / shape.seq_k, i % shape.seq_k);
                if b + 1 == shape.batch && j >= shape.seq_k / 2 + 1 {
                    f32::MIN
                } else {
                    0.0
                }
            })
            .collect();
        let bias = padded.then_some(bias.as_slice());
        let scale = 1.0 / (shape.head_dim as f32).sqrt();
        let mut out = vec![f32::NAN; shape.batch * shape.seq_q * hidden];
        attention(&q, &k, &v, bias, scale, shape, &mut out);
        let want = reference(&q, &k, &v, bias, scale, shape);
        let worst = out
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 2e-6, "{shape:?} padded={padded}: max |Δ| {worst}");
    }

    #[test]
    fn matches_the_reference_serial_and_parallel() {
        let small = AttentionShape {
            batch: 2,
            seq_q: 5,
            seq_k: 5,
            heads: 3,
            head_dim: 4,
        };
        let large = AttentionShape {
            batch: 3,
            seq_q: 70,
            seq_k: 70,
            heads: 4,
            head_dim: 16,
        };
        let cross = AttentionShape {
            batch: 2,
            seq_q: 9,
            seq_k: 33,
            heads: 2,
            head_dim: 8,
        };
        for shape in [small, large, cross] {
            check(shape, false);
            check(shape, true);
        }
    }
}
