//! The attention kernels against a float64 reference and central differences.

use super::*;

/// The textbook computation in float64, heads split explicitly; `mask` multiplies each
/// probability (dropout), indexed as `[batch, heads, seq_q, seq_k]`.
fn reference(
    q: &[f64],
    k: &[f64],
    v: &[f64],
    bias: Option<&[f32]>,
    scale: f32,
    s: AttentionShape,
    mask: Option<&[f32]>,
) -> Vec<f64> {
    let hidden = s.hidden();
    let mut out = vec![0.0f64; s.batch * s.seq_q * hidden];
    for b in 0..s.batch {
        for h in 0..s.heads {
            for i in 0..s.seq_q {
                let qi = &q[(b * s.seq_q + i) * hidden + h * s.head_dim..][..s.head_dim];
                let scores: Vec<f64> = (0..s.seq_k)
                    .map(|j| {
                        let kj = &k[(b * s.seq_k + j) * hidden + h * s.head_dim..][..s.head_dim];
                        let dot: f64 = qi.iter().zip(kj).map(|(a, c)| a * c).sum();
                        dot * scale as f64 + bias.map_or(0.0, |bb| bb[b * s.seq_k + j] as f64)
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::MIN, f64::max);
                let exps: Vec<f64> = scores.iter().map(|x| (x - max).exp()).collect();
                let total: f64 = exps.iter().sum();
                let row = ((b * s.heads + h) * s.seq_q + i) * s.seq_k;
                for d in 0..s.head_dim {
                    let value: f64 = (0..s.seq_k)
                        .map(|j| {
                            let keep = mask.map_or(1.0, |m| m[row + j] as f64);
                            exps[j] / total
                                * keep
                                * v[(b * s.seq_k + j) * hidden + h * s.head_dim + d]
                        })
                        .sum();
                    out[(b * s.seq_q + i) * hidden + h * s.head_dim + d] = value;
                }
            }
        }
    }
    out
}

fn wide(values: &[f32]) -> Vec<f64> {
    values.iter().map(|&v| v as f64).collect()
}

fn padding_bias(shape: AttentionShape) -> Vec<f32> {
    // The last sequence has its second half padded.
    (0..shape.batch * shape.seq_k)
        .map(|i| {
            let (b, j) = (i / shape.seq_k, i % shape.seq_k);
            if b + 1 == shape.batch && j > shape.seq_k / 2 {
                f32::MIN
            } else {
                0.0
            }
        })
        .collect()
}

fn dropout_of(shape: AttentionShape) -> (ProbsDropout, Vec<f32>) {
    let dropout = ProbsDropout {
        key: 7,
        threshold: (0.75 * 4_294_967_296.0) as u32,
        scale: 1.0 / 0.75,
    };
    let mut mask = vec![0.0f32; shape.batch * shape.heads * shape.seq_q * shape.seq_k];
    super::super::dropout::dropout_mask(
        &mut mask,
        0,
        dropout.key,
        dropout.threshold,
        dropout.scale,
    );
    (dropout, mask)
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

fn check(shape: AttentionShape, padded: bool, dropped: bool) {
    let hidden = shape.hidden();
    let q = values(shape.batch * shape.seq_q * hidden, 1);
    let k = values(shape.batch * shape.seq_k * hidden, 2);
    let v = values(shape.batch * shape.seq_k * hidden, 3);
    let bias = padding_bias(shape);
    let bias = padded.then_some(bias.as_slice());
    let scale = 1.0 / (shape.head_dim as f32).sqrt();
    let mut out = vec![f32::NAN; shape.batch * shape.seq_q * hidden];
    let (dropout, mask) = dropout_of(shape);
    if dropped {
        let mut probs = vec![0.0; mask.len()];
        attention_train(
            &q,
            &k,
            &v,
            bias,
            scale,
            shape,
            Some(dropout),
            &mut probs,
            &mut out,
        );
    } else {
        attention(&q, &k, &v, bias, scale, shape, &mut out);
    }
    let mask = dropped.then_some(mask.as_slice());
    let want = reference(&wide(&q), &wide(&k), &wide(&v), bias, scale, shape, mask);
    let worst = out
        .iter()
        .zip(&want)
        .map(|(a, b)| (*a as f64 - b).abs())
        .fold(0.0f64, f64::max);
    assert!(
        worst < 3e-6,
        "{shape:?} padded={padded} dropout={dropped}: max |Δ| {worst}"
    );
}

/// Gradients against central differences of `Σ w ⊙ out` on the float64 reference.
fn check_gradients(shape: AttentionShape, dropped: bool) {
    let hidden = shape.hidden();
    let q = values(shape.batch * shape.seq_q * hidden, 4);
    let k = values(shape.batch * shape.seq_k * hidden, 5);
    let v = values(shape.batch * shape.seq_k * hidden, 6);
    let w = values(shape.batch * shape.seq_q * hidden, 7);
    let bias = padding_bias(shape);
    let scale = 0.7;
    let (dropout, mask) = dropout_of(shape);
    let dropout = dropped.then_some(dropout);
    let mask = dropped.then_some(mask.as_slice());
    let mut probs = vec![0.0; shape.batch * shape.heads * shape.seq_q * shape.seq_k];
    let mut out = vec![0.0; w.len()];
    attention_train(
        &q,
        &k,
        &v,
        Some(&bias),
        scale,
        shape,
        dropout,
        &mut probs,
        &mut out,
    );
    let (mut dq, mut dk, mut dv) = (vec![0.0; q.len()], vec![0.0; k.len()], vec![0.0; v.len()]);
    attention_backward(
        &q, &k, &v, &probs, &w, scale, shape, dropout, &mut dq, &mut dk, &mut dv,
    );
    let loss = |q: &[f64], k: &[f64], v: &[f64]| -> f64 {
        reference(q, k, v, Some(&bias), scale, shape, mask)
            .iter()
            .zip(&w)
            .map(|(o, w)| o * *w as f64)
            .sum()
    };
    let (q64, k64, v64) = (wide(&q), wide(&k), wide(&v));
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
                "input {which} element {index}: {got} vs {numeric} (dropout {dropped})"
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
    check_gradients(shape, false);
    check_gradients(shape, true);
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
        for (padded, dropped) in [(false, false), (true, false), (true, true)] {
            check(shape, padded, dropped);
        }
    }
}
