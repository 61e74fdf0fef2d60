//! The attention kernels against a float64 reference and central differences.
//!
//! The reference is `transformers`' eager attention written out in float64: scores
//! `q · kᵀ · scale + additive`, plus `finfo(float32).min` where a key is padding or outside the
//! window (as `ModernBertModel._update_attention_mask` builds its sliding-window mask), a
//! softmax over every key, dropout on the probabilities, the product with the values. A row with
//! every key masked then holds `finfo.min` everywhere (float64 rounds the small scores away, as
//! float32 does) and averages all values, as in PyTorch.

use super::banded::{band_start, band_width};
use super::*;

/// One combination of bias parts (and dropout) to test.
#[derive(Clone, Copy, Default)]
struct Case<'a> {
    padding: Option<&'a [f32]>,
    additive: Option<Additive<'a>>,
    half: Option<usize>,
    dropout: Option<ProbsDropout>,
}

impl<'a> Case<'a> {
    fn bias(&self) -> ScoreBias<'a> {
        ScoreBias {
            key_padding: self.padding,
            additive: self.additive,
            half_window: self.half,
        }
    }

    fn describe(&self) -> String {
        format!(
            "padding={} additive={:?} half={:?} dropout={}",
            self.padding.is_some(),
            self.additive.map(|a| (a.batches, a.heads)),
            self.half,
            self.dropout.is_some()
        )
    }
}

/// What the reference computes: the output, and per `[batch, heads, seq_q, seq_k]` element the
/// probability (before dropout) and the dropout factor.
struct Reference {
    out: Vec<f64>,
    probs: Vec<f64>,
    keep: Vec<f64>,
}

/// The dropout factor the kernel uses at score `(b, h, i, j)`: its element index is the
/// position in the saved probabilities (a band per block of queries with a window), or, for a
/// row that sees no unmasked key under a window, one after all bands.
#[allow(clippy::too_many_arguments)]
fn keep_factor(
    s: AttentionShape,
    case: &Case,
    b: usize,
    h: usize,
    i: usize,
    j: usize,
    row_masked: bool,
) -> Option<f64> {
    let dropout = case.dropout?;
    let task = b * s.heads + h;
    let index = match case.half {
        None => (task * s.seq_q + i) * s.seq_k + j,
        Some(half) => {
            let width = band_width(s, half);
            if row_masked {
                s.batch * s.heads * s.seq_q * width + (task * s.seq_q + i) * s.seq_k + j
            } else {
                let k0 = band_start(s, half, width, i / 64 * 64);
                if j < k0 || j >= k0 + width {
                    return Some(0.0); // outside the band: its probability is 0 anyway
                }
                (task * s.seq_q + i) * width + j - k0
            }
        }
    };
    let mut factor = [0.0f32];
    super::super::dropout::dropout_mask(
        &mut factor,
        index as u64,
        dropout.key,
        dropout.threshold,
        dropout.scale,
    );
    Some(factor[0] as f64)
}

/// `transformers`' eager attention in float64 (see the module's documentation).
fn reference(
    q: &[f64],
    k: &[f64],
    v: &[f64],
    case: &Case,
    scale: f32,
    s: AttentionShape,
) -> Reference {
    let hidden = s.hidden();
    let lowest = f32::MIN as f64;
    let cells = s.batch * s.heads * s.seq_q * s.seq_k;
    let mut out = vec![0.0f64; s.batch * s.seq_q * hidden];
    let (mut probs, mut keep) = (vec![0.0f64; cells], vec![1.0f64; cells]);
    for b in 0..s.batch {
        for h in 0..s.heads {
            for i in 0..s.seq_q {
                let hidden_key = |j: usize| {
                    let padded = case.padding.is_some_and(|p| p[b * s.seq_k + j] != 0.0);
                    let outside = case.half.is_some_and(|half| i.abs_diff(j) > half);
                    padded || outside
                };
                let row_masked = (0..s.seq_k).all(hidden_key);
                let qi = &q[(b * s.seq_q + i) * hidden + h * s.head_dim..][..s.head_dim];
                let scores: Vec<f64> = (0..s.seq_k)
                    .map(|j| {
                        let kj = &k[(b * s.seq_k + j) * hidden + h * s.head_dim..][..s.head_dim];
                        let dot: f64 = qi.iter().zip(kj).map(|(a, c)| a * c).sum();
                        let additive = case.additive.map_or(0.0, |a| {
                            let (ab, ah) = (b.min(a.batches - 1), h.min(a.heads - 1));
                            a.values[((ab * a.heads + ah) * s.seq_q + i) * s.seq_k + j] as f64
                        });
                        let mask = if hidden_key(j) { lowest } else { 0.0 };
                        dot * scale as f64 + additive + mask
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::MIN, f64::max);
                let exps: Vec<f64> = scores.iter().map(|x| (x - max).exp()).collect();
                let total: f64 = exps.iter().sum();
                let row = ((b * s.heads + h) * s.seq_q + i) * s.seq_k;
                for j in 0..s.seq_k {
                    probs[row + j] = exps[j] / total;
                    if let Some(factor) = keep_factor(s, case, b, h, i, j, row_masked) {
                        keep[row + j] = factor;
                    }
                }
                for d in 0..s.head_dim {
                    let value: f64 = (0..s.seq_k)
                        .map(|j| {
                            probs[row + j]
                                * keep[row + j]
                                * v[(b * s.seq_k + j) * hidden + h * s.head_dim + d]
                        })
                        .sum();
                    out[(b * s.seq_q + i) * hidden + h * s.head_dim + d] = value;
                }
            }
        }
    }
    Reference { out, probs, keep }
}

/// The decomposed backward of [`reference`] in float64, as PyTorch's autograd runs it through
/// the eager computation (the masks are constants added to the scores):
/// `dV = P_dropᵀ dO`, `dS = P ⊙ (dP - Σ dP ⊙ P)` with `dP = (dO Vᵀ) ⊙ keep`,
/// `dQ = scale · dS K`, `dK = scale · dSᵀ Q`.
fn reference_backward(
    q: &[f64],
    k: &[f64],
    v: &[f64],
    w: &[f64],
    r: &Reference,
    scale: f64,
    s: AttentionShape,
) -> [Vec<f64>; 3] {
    let hidden = s.hidden();
    let (mut dq, mut dk, mut dv) = (vec![0.0; q.len()], vec![0.0; k.len()], vec![0.0; v.len()]);
    for b in 0..s.batch {
        for h in 0..s.heads {
            let col = h * s.head_dim;
            for i in 0..s.seq_q {
                let qi = (b * s.seq_q + i) * hidden + col;
                let row = ((b * s.heads + h) * s.seq_q + i) * s.seq_k;
                let d_probs: Vec<f64> = (0..s.seq_k)
                    .map(|j| {
                        let vj = (b * s.seq_k + j) * hidden + col;
                        let dot: f64 = (0..s.head_dim).map(|d| w[qi + d] * v[vj + d]).sum();
                        dot * r.keep[row + j]
                    })
                    .collect();
                let inner: f64 = (0..s.seq_k).map(|j| d_probs[j] * r.probs[row + j]).sum();
                for (j, d_prob) in d_probs.iter().enumerate() {
                    let kj = (b * s.seq_k + j) * hidden + col;
                    let p = r.probs[row + j];
                    let d_score = p * (d_prob - inner) * scale;
                    for d in 0..s.head_dim {
                        dv[kj + d] += p * r.keep[row + j] * w[qi + d];
                        dq[qi + d] += d_score * k[kj + d];
                        dk[kj + d] += d_score * q[qi + d];
                    }
                }
            }
        }
    }
    [dq, dk, dv]
}

fn wide(values: &[f32]) -> Vec<f64> {
    values.iter().map(|&v| v as f64).collect()
}

/// The last sequence has its keys after `real` padded (`real` defaults to half the keys).
fn padding_bias(shape: AttentionShape, real: Option<usize>) -> Vec<f32> {
    let real = real.unwrap_or(shape.seq_k / 2 + 1);
    (0..shape.batch * shape.seq_k)
        .map(|i| {
            let (b, j) = (i / shape.seq_k, i % shape.seq_k);
            if b + 1 == shape.batch && j >= real {
                f32::MIN
            } else {
                0.0
            }
        })
        .collect()
}

fn dropout() -> ProbsDropout {
    ProbsDropout {
        key: 7,
        threshold: (0.75 * 4_294_967_296.0) as u32,
        scale: 1.0 / 0.75,
    }
}

/// `n` values on a grid of 0.001 in `[-1, 1)`, from the kernels' shared test stream.
pub(super) fn values(n: usize, seed: u32) -> Vec<f32> {
    crate::cpu::test_stream(seed)
        .take(n)
        .map(|state| (state % 2000) as f32 / 1000.0 - 1.0)
        .collect()
}

/// Runs the kernel (inference, or training when the case has dropout) and returns its output
/// and, in training, the saved probabilities.
fn run(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    case: &Case,
    scale: f32,
    shape: AttentionShape,
) -> (Vec<f32>, Vec<f32>) {
    // NaN-filled, so a value the kernel reads before writing (it may be handed uninitialized
    // memory) or never writes shows in the comparison.
    let mut out = vec![f32::NAN; q.len()];
    let mut probs = vec![f32::NAN; probs_len(shape, case.half)];
    match case.dropout {
        Some(_) => attention_train(
            q,
            k,
            v,
            case.bias(),
            scale,
            shape,
            case.dropout,
            &mut probs,
            &mut out,
        ),
        None => attention(q, k, v, case.bias(), scale, shape, as_uninit(&mut out)),
    }
    (out, probs)
}

fn worst(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .map(|(a, b)| (*a as f64 - b).abs())
        .fold(0.0f64, f64::max)
}

fn check(shape: AttentionShape, case: &Case) {
    let hidden = shape.hidden();
    let q = values(shape.batch * shape.seq_q * hidden, 1);
    let k = values(shape.batch * shape.seq_k * hidden, 2);
    let v = values(shape.batch * shape.seq_k * hidden, 3);
    let scale = 1.0 / (shape.head_dim as f32).sqrt();
    let want = reference(&wide(&q), &wide(&k), &wide(&v), case, scale, shape);
    let (out, _) = run(&q, &k, &v, case, scale, shape);
    let worst = worst(&out, &want.out);
    assert!(
        worst < 3e-6,
        "{shape:?} {}: max |Δ| {worst}",
        case.describe()
    );
    // Training without dropout computes the same.
    if case.dropout.is_none() {
        let mut out = vec![f32::NAN; q.len()];
        let mut probs = vec![f32::NAN; probs_len(shape, case.half)];
        attention_train(
            &q,
            &k,
            &v,
            case.bias(),
            scale,
            shape,
            None,
            &mut probs,
            &mut out,
        );
        let worst = self::worst(&out, &want.out);
        assert!(
            worst < 3e-6,
            "{shape:?} {} (train): max |Δ| {worst}",
            case.describe()
        );
    }
}

/// An additive bias `[batches, heads, seq_q, seq_k]` of modest scores.
fn additive_values(shape: AttentionShape, batches: usize, heads: usize) -> Vec<f32> {
    values(batches * heads * shape.seq_q * shape.seq_k, 11)
        .into_iter()
        .map(|x| 2.0 * x)
        .collect()
}

/// Every combination of padding, additive bias (each broadcast form) and window, with and
/// without dropout.
fn for_each_case(
    shape: AttentionShape,
    real: Option<usize>,
    half: usize,
    mut test: impl FnMut(&Case),
) {
    let padding = padding_bias(shape, real);
    let (b, h) = (shape.batch, shape.heads);
    let additives: Vec<(usize, usize, Vec<f32>)> = [(b, h), (1, h), (b, 1), (1, 1)]
        .into_iter()
        .map(|(bb, hh)| (bb, hh, additive_values(shape, bb, hh)))
        .collect();
    for padded in [false, true] {
        for additive in std::iter::once(None).chain(additives.iter().map(Some)) {
            for window in [None, Some(half)] {
                for dropped in [false, true] {
                    let case = Case {
                        padding: padded.then_some(padding.as_slice()),
                        additive: additive.map(|(batches, heads, values)| Additive {
                            values,
                            batches: *batches,
                            heads: *heads,
                        }),
                        half: window,
                        dropout: dropped.then(dropout),
                    };
                    test(&case);
                }
            }
        }
    }
}

const SMALL: AttentionShape = AttentionShape {
    batch: 2,
    seq_q: 5,
    seq_k: 5,
    heads: 3,
    head_dim: 4,
};
/// Three query blocks of the windowed kernel with bands that start past the first key, and
/// enough work for the thread pool.
const LARGE: AttentionShape = AttentionShape {
    batch: 3,
    seq_q: 150,
    seq_k: 150,
    heads: 4,
    head_dim: 16,
};
const CROSS: AttentionShape = AttentionShape {
    batch: 2,
    seq_q: 9,
    seq_k: 33,
    heads: 2,
    head_dim: 8,
};

#[test]
fn matches_the_reference_for_every_bias_serial_and_parallel() {
    for (shape, half) in [(SMALL, 1), (LARGE, 5), (CROSS, 3)] {
        for_each_case(shape, None, half, |case| check(shape, case));
    }
    // A window wider than the sequence sees everything.
    for_each_case(SMALL, None, 9, |case| check(SMALL, case));
}

#[test]
fn rows_with_every_key_masked_average_all_values() {
    // The last sequence is padding only (a fully padded row), and under a window the queries
    // far past the last real key of the second-to-last sequence see only padding too.
    let shape = AttentionShape {
        batch: 2,
        seq_q: 140,
        seq_k: 140,
        heads: 2,
        head_dim: 8,
    };
    let hidden = shape.hidden();
    let mut padding = padding_bias(shape, Some(0));
    padding[10..shape.seq_k].fill(f32::MIN); // sequence 0: 10 real keys
    let q = values(shape.batch * shape.seq_q * hidden, 1);
    let k = values(shape.batch * shape.seq_k * hidden, 2);
    let v = values(shape.batch * shape.seq_k * hidden, 3);
    let additive = additive_values(shape, 1, shape.heads);
    let additive = Additive {
        values: &additive,
        batches: 1,
        heads: shape.heads,
    };
    let mean_of_values = |b: usize, c: usize| {
        (0..shape.seq_k)
            .map(|j| v[(b * shape.seq_k + j) * hidden + c] as f64)
            .sum::<f64>()
            / shape.seq_k as f64
    };
    for half in [None, Some(4)] {
        for with_additive in [false, true] {
            for dropped in [false, true] {
                let case = Case {
                    padding: Some(&padding),
                    additive: with_additive.then_some(additive),
                    half,
                    dropout: dropped.then(dropout),
                };
                let want = reference(&wide(&q), &wide(&k), &wide(&v), &case, 0.35, shape);
                let (out, _) = run(&q, &k, &v, &case, 0.35, shape);
                let worst = worst(&out, &want.out);
                assert!(worst < 3e-6, "{}: max |Δ| {worst}", case.describe());
                if dropped {
                    continue;
                }
                // Stated directly: a row that sees no real key is the mean of all values.
                let rows = [(1, 0), (1, 139)].into_iter().chain(half.map(|_| (0, 100)));
                for (b, i) in rows {
                    for c in 0..hidden {
                        let got = out[(b * shape.seq_q + i) * hidden + c] as f64;
                        assert!((got - mean_of_values(b, c)).abs() < 1e-5, "row {b},{i}");
                    }
                }
            }
        }
    }
}

#[test]
fn a_window_saves_a_band_per_block_not_every_key() {
    let shape = AttentionShape {
        batch: 2,
        seq_q: 512,
        seq_k: 512,
        heads: 3,
        head_dim: 8,
    };
    assert_eq!(probs_len(shape, None), 2 * 3 * 512 * 512);
    // window 128 (half 64): a block of 64 queries reads 64 + 128 keys.
    assert_eq!(probs_len(shape, Some(64)), 2 * 3 * 512 * 192);
}

/// Gradients of `Σ w ⊙ out` against the decomposed float64 backward, and, where every row sees
/// a real key (where the masks are constant, so the function is smooth), against central
/// differences of the float64 reference.
fn check_gradients(shape: AttentionShape, case: &Case, differences: bool) {
    let hidden = shape.hidden();
    let q = values(shape.batch * shape.seq_q * hidden, 4);
    let k = values(shape.batch * shape.seq_k * hidden, 5);
    let v = values(shape.batch * shape.seq_k * hidden, 6);
    let w = values(shape.batch * shape.seq_q * hidden, 7);
    let scale = 0.7;
    let mut probs = vec![f32::NAN; probs_len(shape, case.half)];
    let mut out = vec![0.0; w.len()];
    attention_train(
        &q,
        &k,
        &v,
        case.bias(),
        scale,
        shape,
        case.dropout,
        &mut probs,
        &mut out,
    );
    let (mut dq, mut dk, mut dv) = (vec![0.0; q.len()], vec![0.0; k.len()], vec![0.0; v.len()]);
    attention_backward(
        &q,
        &k,
        &v,
        &probs,
        &w,
        scale,
        shape,
        case.half,
        case.dropout,
        &mut dq,
        &mut dk,
        &mut dv,
    );
    let (q64, k64, v64) = (wide(&q), wide(&k), wide(&v));
    let r = reference(&q64, &k64, &v64, case, scale, shape);
    let decomposed = reference_backward(&q64, &k64, &v64, &wide(&w), &r, scale as f64, shape);
    for (which, (got, want)) in [&dq, &dk, &dv].into_iter().zip(&decomposed).enumerate() {
        let worst = worst(got, want);
        assert!(
            worst < 2e-5,
            "{} input {which}: max |Δ| {worst}",
            case.describe()
        );
    }
    if !differences {
        return;
    }
    let loss = |q: &[f64], k: &[f64], v: &[f64]| -> f64 {
        reference(q, k, v, case, scale, shape)
            .out
            .iter()
            .zip(&w)
            .map(|(o, w)| o * *w as f64)
            .sum()
    };
    let h = 1e-5;
    for (which, grad) in [(0, &dq), (1, &dk), (2, &dv)] {
        for index in (0..grad.len()).step_by(3) {
            let mut plus = [q64.clone(), k64.clone(), v64.clone()];
            let mut minus = plus.clone();
            plus[which][index] += h;
            minus[which][index] -= h;
            let numeric = (loss(&plus[0], &plus[1], &plus[2])
                - loss(&minus[0], &minus[1], &minus[2]))
                / (2.0 * h);
            let got = grad[index] as f64;
            assert!(
                (got - numeric).abs() < 2e-4 * numeric.abs().max(1.0),
                "input {which} element {index}: {got} vs {numeric} ({})",
                case.describe()
            );
        }
    }
}

#[test]
fn gradients_match_central_differences() {
    let shape = AttentionShape {
        batch: 2,
        seq_q: 5,
        seq_k: 6,
        heads: 2,
        head_dim: 3,
    };
    for_each_case(shape, None, 1, |case| check_gradients(shape, case, true));
}

#[test]
fn windowed_gradients_over_several_blocks_match_the_decomposed_backward() {
    // 150 queries: three blocks whose bands (70 keys) overlap; a window of half 3 and padding
    // after 140 keys, so the last rows see only padding.
    let shape = AttentionShape {
        batch: 2,
        seq_q: 150,
        seq_k: 150,
        heads: 2,
        head_dim: 4,
    };
    assert_eq!(band_width(shape, 3), 70);
    for_each_case(shape, Some(140), 3, |case| {
        check_gradients(shape, case, false)
    });
}
