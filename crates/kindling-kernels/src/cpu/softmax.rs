//! Row softmax (normalized, or unnormalized with the row sums apart, over whole rows or over a
//! window of each) and its backward, and the bias rows attention adds to its scores.

use super::activation::exp;
use super::{LANES, lanes_max, lanes_sum};

#[inline(always)]
fn row_max(row: &[f32]) -> f32 {
    let mut lanes = [f32::MIN; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = lane.max(v);
        }
    }
    let tail = chunks.remainder().iter().fold(f32::MIN, |m, &v| m.max(v));
    lanes_max(lanes).max(tail)
}

/// `row <- exp(row - max)`, returning the sum.
#[inline(always)]
fn exp_shifted_sum<const FUSED: bool>(row: &mut [f32], max: f32) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let mut chunks = row.chunks_exact_mut(LANES);
    for chunk in &mut chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk.iter_mut()) {
            *v = exp::<FUSED>(*v - max);
            *lane += *v;
        }
    }
    let mut tail = 0.0;
    for v in chunks.into_remainder() {
        *v = exp::<FUSED>(*v - max);
        tail += *v;
    }
    lanes_sum(lanes) + tail
}

#[inline(always)]
fn softmax_rows_body<const FUSED: bool>(scores: &mut [f32], width: usize, bias: Option<&[f32]>) {
    for row in scores.chunks_exact_mut(width) {
        if let Some(bias) = bias {
            for (v, b) in row.iter_mut().zip(bias) {
                *v += b;
            }
        }
        let max = row_max(row);
        let inverse = 1.0 / exp_shifted_sum::<FUSED>(row, max);
        for v in row.iter_mut() {
            *v *= inverse;
        }
    }
}

dispatch!(
    /// Softmax of each `width`-long row of `scores` after adding `bias` (one value per column,
    /// 0 for a real key and `f32::MIN` for padding, as `transformers`' additive mask).
    softmax_rows(scores: &mut [f32], width: usize, bias: Option<&[f32]>) {
    softmax_rows_body::<FUSED>(scores, width, bias)
});

/// `row <- row + bias` (element-wise), returning the maximum.
#[inline(always)]
fn add_row_max(row: &mut [f32], bias: &[f32]) -> f32 {
    let mut lanes = [f32::MIN; LANES];
    let mut chunks = row.chunks_exact_mut(LANES).zip(bias.chunks_exact(LANES));
    for (r, b) in &mut chunks {
        for ((lane, v), &w) in lanes.iter_mut().zip(r.iter_mut()).zip(b) {
            *v += w;
            *lane = lane.max(*v);
        }
    }
    let done = row.len() / LANES * LANES;
    let mut tail = f32::MIN;
    for (v, &w) in row[done..].iter_mut().zip(&bias[done..]) {
        *v += w;
        tail = tail.max(*v);
    }
    lanes_max(lanes).max(tail)
}

#[inline(always)]
fn softmax_rows_unnormalized_body<const FUSED: bool>(
    scores: &mut [f32],
    width: usize,
    bias: Option<&[f32]>,
    inverse_sums: &mut [f32],
) {
    for (row, inverse) in scores.chunks_exact_mut(width).zip(inverse_sums.iter_mut()) {
        // The bias goes into the row in the pass that takes its maximum, so that the exp pass
        // is the unbiased one: `v + w - max` rounds the same either way, and the exp with the
        // bias read alongside did not vectorize for AVX2 (5.6 cycles a score on a Zen 4).
        let max = match bias {
            Some(bias) => add_row_max(row, bias),
            None => row_max(row),
        };
        let sum = exp_shifted_sum::<FUSED>(row, max);
        *inverse = 1.0 / sum;
    }
}

dispatch!(
    /// As [`softmax_rows`] but leaves each row unnormalized, `exp(row + bias - max)`, and writes
    /// `1 / Σ` of each row to `inverse_sums`: the caller scales the (much narrower) product of the
    /// weights with the values instead, saving a full pass over the scores (the bias is folded into
    /// the two passes left).
    softmax_rows_unnormalized(
    scores: &mut [f32],
    width: usize,
    bias: Option<&[f32]>,
    inverse_sums: &mut [f32]
) {
    softmax_rows_unnormalized_body::<FUSED>(scores, width, bias, inverse_sums)
});

/// A score at or below this is masked: only `f32::MIN` (a padding or mask value) added to a
/// score gets here.
pub const MASKED: f32 = f32::MIN / 2.0;

#[inline(always)]
fn fill_bias_body(dst: &mut [f32], additive: Option<&[f32]>, padding: Option<&[f32]>) {
    match (additive, padding) {
        (Some(a), Some(p)) => {
            for ((d, &a), &p) in dst.iter_mut().zip(a).zip(p) {
                *d = (a + p).max(f32::MIN);
            }
        }
        (Some(x), None) | (None, Some(x)) => {
            for (d, &x) in dst.iter_mut().zip(x) {
                *d = x.max(f32::MIN);
            }
        }
        (None, None) => dst.fill(0.0),
    }
}

dispatch!(
    /// `dst <- additive + padding` (either may be absent), element-wise, stopped at `f32::MIN`
    /// so that a masked key added to a mask (or a -∞) stays the finite lowest value.
    fill_bias(dst: &mut [f32], additive: Option<&[f32]>, padding: Option<&[f32]>) {
    fill_bias_body(dst, additive, padding)
});

/// Which keys of a band a run of query rows sees.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// The first row's query position.
    pub first_query: usize,
    /// Key `j` is visible from query `i` iff `|i - j| <= half`.
    pub half: usize,
    /// The band's first key position.
    pub first_key: usize,
    /// Keys in all (the window stops there).
    pub seq_k: usize,
}

#[inline(always)]
fn softmax_window_body<const FUSED: bool>(
    scores: &mut [f32],
    width: usize,
    window: Window,
    normalize: bool,
    inverse_sums: &mut [f32],
) {
    let Window {
        first_query,
        half,
        first_key,
        seq_k,
    } = window;
    let band_end = (first_key + width).min(seq_k);
    for (r, (row, inverse)) in scores
        .chunks_exact_mut(width)
        .zip(inverse_sums.iter_mut())
        .enumerate()
    {
        let i = first_query + r;
        let lo = i.saturating_sub(half).max(first_key);
        let hi = (i + half + 1).min(band_end);
        let max = if lo < hi {
            row_max(&row[lo - first_key..hi - first_key])
        } else {
            f32::MIN
        };
        if max <= MASKED {
            row.fill(0.0);
            *inverse = 0.0;
            continue;
        }
        let (lo, hi) = (lo - first_key, hi - first_key);
        row[..lo].fill(0.0);
        row[hi..].fill(0.0);
        let visible = &mut row[lo..hi];
        let sum = exp_shifted_sum::<FUSED>(visible, max);
        *inverse = 1.0 / sum;
        if normalize {
            for v in visible.iter_mut() {
                *v *= *inverse;
            }
        }
    }
}

dispatch!(
    /// Softmax of each `width`-long row of `scores` (a band of keys from `window.first_key`)
    /// over the keys its query sees through `window`, 0 at the others; normalized when
    /// `normalize`, else left as `exp(score - max)`. Writes `1 / Σ` of each row to
    /// `inverse_sums`, or 0 for a row whose visible keys are all masked (at or below
    /// [`MASKED`]) or that sees none: that row is all zeros, for the caller to average.
    softmax_window_rows(
    scores: &mut [f32],
    width: usize,
    window: Window,
    normalize: bool,
    inverse_sums: &mut [f32]
) {
    softmax_window_body::<FUSED>(scores, width, window, normalize, inverse_sums)
});

#[inline(always)]
fn softmax_backward_body(grad: &mut [f32], probs: &[f32], width: usize) {
    for (g, p) in grad.chunks_exact_mut(width).zip(probs.chunks_exact(width)) {
        let mut lanes = [0.0f32; LANES];
        let mut chunks = g.chunks_exact(LANES).zip(p.chunks_exact(LANES));
        for (gc, pc) in &mut chunks {
            for ((lane, a), b) in lanes.iter_mut().zip(gc).zip(pc) {
                *lane += a * b;
            }
        }
        let done = width / LANES * LANES;
        let tail: f32 = g[done..].iter().zip(&p[done..]).map(|(a, b)| a * b).sum();
        let dot = lanes_sum(lanes) + tail;
        for (a, b) in g.iter_mut().zip(p) {
            *a = b * (*a - dot);
        }
    }
}

dispatch!(
    /// Softmax's backward on each `width`-long row: `grad <- p ⊙ (grad - Σ grad ⊙ p)`, where
    /// `grad` comes in as the gradient of the probabilities `p` and leaves as that of the scores.
    softmax_backward_rows(grad: &mut [f32], probs: &[f32], width: usize) {
    softmax_backward_body(grad, probs, width)
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unnormalized_softmax_times_its_inverse_sums_is_the_softmax() {
        let width = 45;
        let scores: Vec<f32> = (0..3 * width)
            .map(|i| ((i * 13) % 17) as f32 * 0.4 - 3.0)
            .collect();
        let bias: Vec<f32> = (0..width)
            .map(|j| if j % 7 == 3 { f32::MIN } else { 0.0 })
            .collect();
        for bias in [None, Some(bias.as_slice())] {
            let mut want = scores.clone();
            softmax_rows(&mut want, width, bias);
            let mut got = scores.clone();
            let mut inverse = vec![0.0f32; 3];
            softmax_rows_unnormalized(&mut got, width, bias, &mut inverse);
            for (row, (g, w)) in got.chunks(width).zip(want.chunks(width)).enumerate() {
                for (a, b) in g.iter().zip(w) {
                    assert!((a * inverse[row] - b).abs() < 1e-6);
                }
            }
        }
    }

    #[test]
    fn softmax_backward_matches_the_jacobian() {
        let width = 21;
        let mut probs: Vec<f32> = (0..2 * width).map(|i| ((i * 5) % 7) as f32 * 0.3).collect();
        softmax_rows(&mut probs, width, None);
        let upstream: Vec<f32> = (0..2 * width)
            .map(|i| ((i * 3) % 11) as f32 - 5.0)
            .collect();
        let mut grad = upstream.clone();
        softmax_backward_rows(&mut grad, &probs, width);
        for row in 0..2 {
            let p = &probs[row * width..][..width];
            let u = &upstream[row * width..][..width];
            for j in 0..width {
                // d/ds_j of Σ_i u_i p_i = Σ_i u_i p_i (δ_ij - p_j)
                let want: f64 = (0..width)
                    .map(|i| {
                        let delta = if i == j { 1.0 } else { 0.0 };
                        u[i] as f64 * p[i] as f64 * (delta - p[j] as f64)
                    })
                    .sum();
                let got = grad[row * width + j] as f64;
                assert!((got - want).abs() < 1e-5, "{got} vs {want}");
            }
        }
    }

    #[test]
    fn softmax_rows_mask_padding_and_sum_to_one() {
        let width = 37;
        let mut scores: Vec<f32> = (0..3 * width)
            .map(|i| ((i * 7) % 11) as f32 - 5.0)
            .collect();
        let original = scores.clone();
        let bias: Vec<f32> = (0..width)
            .map(|j| if j % 5 == 4 { f32::MIN } else { 0.0 })
            .collect();
        softmax_rows(&mut scores, width, Some(&bias));
        for (row, input) in scores.chunks(width).zip(original.chunks(width)) {
            let max = input
                .iter()
                .zip(&bias)
                .filter(|(_, b)| **b == 0.0)
                .fold(f32::MIN, |m, (v, _)| m.max(*v));
            let total: f64 = input
                .iter()
                .zip(&bias)
                .filter(|(_, b)| **b == 0.0)
                .map(|(v, _)| ((v - max) as f64).exp())
                .sum();
            for ((got, x), b) in row.iter().zip(input).zip(&bias) {
                let want = if *b == 0.0 {
                    ((x - max) as f64).exp() / total
                } else {
                    0.0
                };
                assert!((*got as f64 - want).abs() < 1e-6, "{got} vs {want}");
            }
        }
    }
}
