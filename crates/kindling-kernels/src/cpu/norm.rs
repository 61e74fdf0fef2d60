//! Layer norm over rows, with the residual add folded in, and its backward.

use super::LANES;

#[inline(always)]
fn layer_norm_body(
    values: &mut [f32],
    residual: Option<&[f32]>,
    gamma: &[f32],
    beta: &[f32],
    epsilon: f32,
    mut saved: Option<(&mut [f32], &mut [f32])>,
) {
    let width = gamma.len();
    let n = width as f32;
    for (row_index, row) in values.chunks_exact_mut(width).enumerate() {
        if let Some(residual) = residual {
            let residual = &residual[row_index * width..(row_index + 1) * width];
            for (v, r) in row.iter_mut().zip(residual) {
                *v += r;
            }
        }
        let mut lanes = [0.0f32; LANES];
        let mut chunks = row.chunks_exact(LANES);
        for chunk in &mut chunks {
            for (lane, &v) in lanes.iter_mut().zip(chunk) {
                *lane += v;
            }
        }
        // The lanes fold in order, not as a tree as softmax's do: the tree's rounding moved
        // some of a W8A8 checkpoint's activations across an int8 step, and its logits went
        // from 1.4e-6 of transformers' to 5.7e-2.
        let mean = (lanes.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()) / n;
        let mut lanes = [0.0f32; LANES];
        let mut chunks = row.chunks_exact(LANES);
        for chunk in &mut chunks {
            for (lane, &v) in lanes.iter_mut().zip(chunk) {
                *lane += (v - mean) * (v - mean);
            }
        }
        let tail: f32 = chunks
            .remainder()
            .iter()
            .map(|&v| (v - mean) * (v - mean))
            .sum();
        let variance = (lanes.iter().sum::<f32>() + tail) / n;
        let inverse_std = 1.0 / (variance + epsilon).sqrt();
        match saved.as_mut() {
            Some((normalized, inverse_stds)) => {
                let normalized = &mut normalized[row_index * width..(row_index + 1) * width];
                for (((v, x), g), b) in row.iter_mut().zip(normalized).zip(gamma).zip(beta) {
                    *x = (*v - mean) * inverse_std;
                    *v = *x * g + b;
                }
                inverse_stds[row_index] = inverse_std;
            }
            None => {
                for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
                    *v = (*v - mean) * inverse_std * g + b;
                }
            }
        }
    }
}

dispatch!(
    /// Layer norm of each `gamma.len()`-wide row of `values` (plus `residual`, element-wise, when
    /// given) in place, with two-pass mean and variance; with `saved`, also keeps each row's
    /// normalized values and `1/σ` for the backward pass.
    layer_norm_rows(
    values: &mut [f32],
    residual: Option<&[f32]>,
    gamma: &[f32],
    beta: &[f32],
    epsilon: f32,
    saved: Option<(&mut [f32], &mut [f32])>
) {
    layer_norm_body(values, residual, gamma, beta, epsilon, saved)
});

#[inline(always)]
fn layer_norm_backward_body(
    grad: &mut [f32],
    normalized: &[f32],
    inverse_stds: &[f32],
    gamma: &[f32],
    grad_gamma: &mut [f32],
    grad_beta: &mut [f32],
) {
    let width = gamma.len();
    let n = width as f32;
    for ((dy, x), &inverse_std) in grad
        .chunks_exact_mut(width)
        .zip(normalized.chunks_exact(width))
        .zip(inverse_stds)
    {
        let (mut sum_g, mut sum_gx) = ([0.0f32; LANES], [0.0f32; LANES]);
        let mut chunks = dy
            .chunks_exact(LANES)
            .zip(x.chunks_exact(LANES))
            .zip(gamma.chunks_exact(LANES));
        for ((d, xs), gs) in &mut chunks {
            for i in 0..LANES {
                let g = d[i] * gs[i];
                sum_g[i] += g;
                sum_gx[i] += g * xs[i];
            }
        }
        let done = width / LANES * LANES;
        let (mut tail_g, mut tail_gx) = (0.0f32, 0.0f32);
        for i in done..width {
            let g = dy[i] * gamma[i];
            tail_g += g;
            tail_gx += g * x[i];
        }
        let mean_g = (sum_g.iter().sum::<f32>() + tail_g) / n;
        let mean_gx = (sum_gx.iter().sum::<f32>() + tail_gx) / n;
        for ((((d, &xs), &g), gg), gb) in dy
            .iter_mut()
            .zip(x)
            .zip(gamma)
            .zip(grad_gamma.iter_mut())
            .zip(grad_beta.iter_mut())
        {
            *gg += *d * xs;
            *gb += *d;
            *d = inverse_std * (*d * g - mean_g - xs * mean_gx);
        }
    }
}

dispatch!(
    /// Layer norm's backward over rows: `grad` (of the output) becomes the gradient of the input,
    /// in place, and the rows' contributions to the gradients of `gamma` and `beta` are added to
    /// `grad_gamma` and `grad_beta`.
    layer_norm_backward_rows(
    grad: &mut [f32],
    normalized: &[f32],
    inverse_stds: &[f32],
    gamma: &[f32],
    grad_gamma: &mut [f32],
    grad_beta: &mut [f32]
) {
    layer_norm_backward_body(grad, normalized, inverse_stds, gamma, grad_gamma, grad_beta)
});

#[cfg(test)]
mod tests {
    use super::*;

    /// `Σ w ⊙ layer_norm(x)` in float64, for central differences.
    fn layer_norm_loss(x: &[f64], gamma: &[f64], beta: &[f64], w: &[f32], eps: f64) -> f64 {
        let width = gamma.len();
        let mut total = 0.0;
        for (row, wr) in x.chunks(width).zip(w.chunks(width)) {
            let mean = row.iter().sum::<f64>() / width as f64;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / width as f64;
            for j in 0..width {
                let y = (row[j] - mean) / (var + eps).sqrt() * gamma[j] + beta[j];
                total += y * wr[j] as f64;
            }
        }
        total
    }

    #[test]
    fn layer_norm_forward_and_backward_match_float64() {
        let (rows, width, eps) = (3, 37, 1e-5f32);
        let x: Vec<f32> = (0..rows * width)
            .map(|i| ((i * 11) % 19) as f32 * 0.3 - 2.0)
            .collect();
        let residual: Vec<f32> = (0..rows * width)
            .map(|i| ((i * 5) % 7) as f32 * 0.1)
            .collect();
        let gamma: Vec<f32> = (0..width).map(|j| 0.5 + j as f32 * 0.03).collect();
        let beta: Vec<f32> = (0..width).map(|j| j as f32 * 0.01 - 0.1).collect();
        let w: Vec<f32> = (0..rows * width)
            .map(|i| ((i * 3) % 13) as f32 * 0.2 - 1.0)
            .collect();
        let summed: Vec<f64> = x
            .iter()
            .zip(&residual)
            .map(|(a, b)| (a + b) as f64)
            .collect();
        let (g64, b64): (Vec<f64>, Vec<f64>) = (
            gamma.iter().map(|&v| v as f64).collect(),
            beta.iter().map(|&v| v as f64).collect(),
        );
        let mut out = x.clone();
        let (mut normalized, mut inverse) = (vec![0.0f32; x.len()], vec![0.0f32; rows]);
        layer_norm_rows(
            &mut out,
            Some(&residual),
            &gamma,
            &beta,
            eps,
            Some((&mut normalized, &mut inverse)),
        );
        let mut plain = x.clone();
        layer_norm_rows(&mut plain, Some(&residual), &gamma, &beta, eps, None);
        assert_eq!(plain, out);
        for (row, out_row) in summed.chunks(width).zip(out.chunks(width)) {
            let mean = row.iter().sum::<f64>() / width as f64;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / width as f64;
            for j in 0..width {
                let want = (row[j] - mean) / (var + eps as f64).sqrt() * g64[j] + b64[j];
                assert!(
                    (out_row[j] as f64 - want).abs() < 2e-5,
                    "{} vs {want}",
                    out_row[j]
                );
            }
        }
        let mut grad = w.clone();
        let (mut dgamma, mut dbeta) = (vec![0.0f32; width], vec![0.0f32; width]);
        layer_norm_backward_rows(
            &mut grad,
            &normalized,
            &inverse,
            &gamma,
            &mut dgamma,
            &mut dbeta,
        );
        let h = 1e-6;
        let check = |got: f32, plus: f64, minus: f64| {
            let numeric = (plus - minus) / (2.0 * h);
            assert!(
                (got as f64 - numeric).abs() < 1e-3 * numeric.abs().max(1.0),
                "{got} vs {numeric}"
            );
        };
        for i in 0..x.len() {
            let (mut p, mut m) = (summed.clone(), summed.clone());
            p[i] += h;
            m[i] -= h;
            let e = eps as f64;
            check(
                grad[i],
                layer_norm_loss(&p, &g64, &b64, &w, e),
                layer_norm_loss(&m, &g64, &b64, &w, e),
            );
        }
        for j in 0..width {
            let (mut p, mut m) = (g64.clone(), g64.clone());
            p[j] += h;
            m[j] -= h;
            let e = eps as f64;
            check(
                dgamma[j],
                layer_norm_loss(&summed, &p, &b64, &w, e),
                layer_norm_loss(&summed, &m, &b64, &w, e),
            );
            let (mut p, mut m) = (b64.clone(), b64.clone());
            p[j] += h;
            m[j] -= h;
            check(
                dbeta[j],
                layer_norm_loss(&summed, &g64, &p, &w, e),
                layer_norm_loss(&summed, &g64, &m, &w, e),
            );
        }
    }
}
