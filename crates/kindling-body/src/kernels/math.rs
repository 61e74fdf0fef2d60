//! Vectorizable float32 math for the CPU kernels: `exp`, `erf`, GELU, row softmax.
//!
//! Written as straight-line, branch-free code over slices so the compiler vectorizes it, and
//! compiled once per instruction set ([`dispatch!`]): AVX-512 and AVX2+FMA where the CPU has
//! them, plain SSE2 otherwise. The scalar `libm` functions Burn's CPU backend calls for `erf`
//! and `exp` cost about 20 ns per element; these run a vector of 8 or 16 in a few cycles.

/// Runs `$body` (a call of an `#[inline(always)]` function) compiled for the best instruction
/// set this CPU offers, chosen at run time.
macro_rules! dispatch {
    ($name:ident($($arg:ident: $ty:ty),*) $body:block) => {
        #[allow(unsafe_code)]
        pub fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                fn avx512($($arg: $ty),*) $body
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) $body
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                {
                    // SAFETY: the CPU has the features the function was compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: as above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body
        }
    };
}

/// Lanes the reductions keep apart so they vectorize (one AVX-512 register).
const LANES: usize = 16;

/// `exp(x)` to about 1 ulp (Cephes' `expf`): `2^n · p(r)` with `x = n ln 2 + r`. Below
/// -87.3 it is 0, as the true value is smaller than the least normal float.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let clamped = x.clamp(-87.336_55, 88.376_26);
    let n = (clamped * LOG2E + 0.5).floor();
    let r = clamped - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let poly = p * r * r + r + 1.0;
    // 2^n built from bits. Adding 1.5 · 2^23 puts the integer n in the low mantissa bits
    // (exactly, as |n| ≤ 128), which vectorizes where `n as i32` (a saturating cast) does not.
    const SHIFTER: f32 = 12_582_912.0;
    let n_bits = (n + SHIFTER).to_bits().wrapping_sub(SHIFTER.to_bits());
    let scale = f32::from_bits(n_bits.wrapping_add(127) << 23);
    let value = poly * scale;
    if x < -87.336_55 { 0.0 } else { value }
}

/// `erf(x)` to a few ulp, as a rational function of `x` on `[-4, 4]` (Eigen's and XLA's
/// float32 `erf`); beyond that `erf` is ±1 in float32.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10_f32;
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 - 2.101_024e-6;
    p = p * x2 - 5.692_506_4e-5;
    p = p * x2 - 7.349_906_3e-4;
    p = p * x2 - 2.954_600e-3;
    p = p * x2 - 1.609_603_3e-2;
    let mut q = -1.456_607_2e-5_f32;
    q = q * x2 - 2.133_740_6e-4;
    q = q * x2 - 1.682_827e-3;
    q = q * x2 - 7.373_329e-3;
    q = q * x2 - 1.426_473_9e-2;
    x * p / q
}

/// Exact GELU, `x Φ(x) = x/2 (1 + erf(x/√2))`, as `transformers`' `"gelu"`.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

#[inline(always)]
fn gelu_slice_body(values: &mut [f32]) {
    for value in values.iter_mut() {
        *value = gelu(*value);
    }
}

dispatch!(gelu_in_place(values: &mut [f32]) { gelu_slice_body(values) });

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
    lanes.iter().fold(tail, |m, &v| m.max(v))
}

/// `row <- exp(row - max)`, returning the sum.
#[inline(always)]
fn exp_shifted_sum(row: &mut [f32], max: f32) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let mut chunks = row.chunks_exact_mut(LANES);
    for chunk in &mut chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk.iter_mut()) {
            *v = exp(*v - max);
            *lane += *v;
        }
    }
    let mut tail = 0.0;
    for v in chunks.into_remainder() {
        *v = exp(*v - max);
        tail += *v;
    }
    lanes.iter().sum::<f32>() + tail
}

/// Softmax of each `width`-long row of `scores` after adding `bias` (one value per column,
/// 0 for a real key and `f32::MIN` for padding, as `transformers`' additive mask).
#[inline(always)]
fn softmax_rows_body(scores: &mut [f32], width: usize, bias: Option<&[f32]>) {
    for row in scores.chunks_exact_mut(width) {
        if let Some(bias) = bias {
            for (v, b) in row.iter_mut().zip(bias) {
                *v += b;
            }
        }
        let max = row_max(row);
        let inverse = 1.0 / exp_shifted_sum(row, max);
        for v in row.iter_mut() {
            *v *= inverse;
        }
    }
}

dispatch!(softmax_rows(scores: &mut [f32], width: usize, bias: Option<&[f32]>) {
    softmax_rows_body(scores, width, bias)
});

/// The maximum of `row + bias` (element-wise), without writing either.
#[inline(always)]
fn biased_row_max(row: &[f32], bias: &[f32]) -> f32 {
    let mut lanes = [f32::MIN; LANES];
    let mut chunks = row.chunks_exact(LANES).zip(bias.chunks_exact(LANES));
    for (r, b) in &mut chunks {
        for ((lane, &v), &w) in lanes.iter_mut().zip(r).zip(b) {
            *lane = lane.max(v + w);
        }
    }
    let done = row.len() / LANES * LANES;
    let tail = row[done..]
        .iter()
        .zip(&bias[done..])
        .fold(f32::MIN, |m, (&v, &w)| m.max(v + w));
    lanes.iter().fold(tail, |m, &v| m.max(v))
}

/// As [`softmax_rows`] but leaves each row unnormalized, `exp(row + bias - max)`, and writes
/// `1 / Σ` of each row to `inverse_sums`: the caller scales the (much narrower) product of the
/// weights with the values instead, saving a full pass over the scores (the bias is folded into
/// the two passes left).
#[inline(always)]
fn softmax_rows_unnormalized_body(
    scores: &mut [f32],
    width: usize,
    bias: Option<&[f32]>,
    inverse_sums: &mut [f32],
) {
    for (row, inverse) in scores.chunks_exact_mut(width).zip(inverse_sums.iter_mut()) {
        let sum = match bias {
            Some(bias) => {
                let max = biased_row_max(row, bias);
                let mut lanes = [0.0f32; LANES];
                let mut chunks = row.chunks_exact_mut(LANES).zip(bias.chunks_exact(LANES));
                for (r, b) in &mut chunks {
                    for ((lane, v), &w) in lanes.iter_mut().zip(r.iter_mut()).zip(b) {
                        *v = exp(*v + w - max);
                        *lane += *v;
                    }
                }
                let done = width / LANES * LANES;
                let mut tail = 0.0;
                for (v, &w) in row[done..].iter_mut().zip(&bias[done..]) {
                    *v = exp(*v + w - max);
                    tail += *v;
                }
                lanes.iter().sum::<f32>() + tail
            }
            None => {
                let max = row_max(row);
                exp_shifted_sum(row, max)
            }
        };
        *inverse = 1.0 / sum;
    }
}

dispatch!(softmax_rows_unnormalized(
    scores: &mut [f32],
    width: usize,
    bias: Option<&[f32]>,
    inverse_sums: &mut [f32]
) {
    softmax_rows_unnormalized_body(scores, width, bias, inverse_sums)
});

/// A 32-bit hash of `index` under `key` (a multiply to spread the counter, then MurmurHash3's
/// finalizer): independent-looking bits for each element, computed in any order.
#[inline(always)]
fn hash32(index: u32, key: u64) -> u32 {
    let mut x = (index ^ key as u32).wrapping_mul(0x9e37_79b1) ^ (key >> 32) as u32;
    x ^= x >> 16;
    x = x.wrapping_mul(0x85eb_ca6b);
    x ^= x >> 13;
    x = x.wrapping_mul(0xc2b2_ae35);
    x ^ (x >> 16)
}

#[inline(always)]
fn dropout_mask_body(mask: &mut [f32], first_index: u64, key: u64, threshold: u32, scale: f32) {
    let first = first_index as u32;
    for (i, value) in mask.iter_mut().enumerate() {
        let kept = hash32(first.wrapping_add(i as u32), key) < threshold;
        *value = if kept { scale } else { 0.0 };
    }
}

dispatch!(dropout_mask(mask: &mut [f32], first_index: u64, key: u64, threshold: u32, scale: f32) {
    dropout_mask_body(mask, first_index, key, threshold, scale)
});

#[inline(always)]
fn apply_dropout_body(values: &mut [f32], first_index: u64, key: u64, threshold: u32, scale: f32) {
    let first = first_index as u32;
    for (i, value) in values.iter_mut().enumerate() {
        let kept = hash32(first.wrapping_add(i as u32), key) < threshold;
        *value *= if kept { scale } else { 0.0 };
    }
}

dispatch!(apply_dropout(values: &mut [f32], first_index: u64, key: u64, threshold: u32, scale: f32) {
    apply_dropout_body(values, first_index, key, threshold, scale)
});

/// Softmax's backward on each `width`-long row: `grad <- p ⊙ (grad - Σ grad ⊙ p)`, where
/// `grad` comes in as the gradient of the probabilities `p` and leaves as that of the scores.
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
        let dot = lanes.iter().sum::<f32>() + tail;
        for (a, b) in g.iter_mut().zip(p) {
            *a = b * (*a - dot);
        }
    }
}

dispatch!(softmax_backward_rows(grad: &mut [f32], probs: &[f32], width: usize) {
    softmax_backward_body(grad, probs, width)
});

/// GELU's derivative times the incoming gradient: `grad · (Φ(x) + x φ(x))`.
#[inline(always)]
fn gelu_backward_body(grad: &mut [f32], input: &[f32]) {
    const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;
    for (g, &x) in grad.iter_mut().zip(input) {
        let cdf = 0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
        let pdf = FRAC_1_SQRT_2PI * exp(-0.5 * x * x);
        *g *= cdf + x * pdf;
    }
}

dispatch!(gelu_backward_in_place(grad: &mut [f32], input: &[f32]) {
    gelu_backward_body(grad, input)
});

#[inline(always)]
fn sum_of_squares_body(values: &[f32], total: &mut f64) {
    let mut lanes = [0.0f32; LANES];
    let mut chunks = values.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += v * v;
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|v| v * v).sum();
    *total = lanes.iter().map(|&l| l as f64).sum::<f64>() + tail as f64;
}

dispatch!(sum_of_squares_into(values: &[f32], total: &mut f64) {
    sum_of_squares_body(values, total)
});

/// Layer norm of each `gamma.len()`-wide row of `values` (plus `residual`, element-wise, when
/// given) in place, with two-pass mean and variance; with `saved`, also keeps each row's
/// normalized values and `1/σ` for the backward pass.
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

dispatch!(layer_norm_rows(
    values: &mut [f32],
    residual: Option<&[f32]>,
    gamma: &[f32],
    beta: &[f32],
    epsilon: f32,
    saved: Option<(&mut [f32], &mut [f32])>
) {
    layer_norm_body(values, residual, gamma, beta, epsilon, saved)
});

/// Layer norm's backward over rows: `grad` (of the output) becomes the gradient of the input,
/// in place, and the rows' contributions to the gradients of `gamma` and `beta` are added to
/// `grad_gamma` and `grad_beta`.
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

dispatch!(layer_norm_backward_rows(
    grad: &mut [f32],
    normalized: &[f32],
    inverse_stds: &[f32],
    gamma: &[f32],
    grad_gamma: &mut [f32],
    grad_beta: &mut [f32]
) {
    layer_norm_backward_body(grad, normalized, inverse_stds, gamma, grad_gamma, grad_beta)
});

/// The scalars of one AdamW step, as burn-optim's `AdamW` computes it.
#[derive(Debug, Clone, Copy)]
pub struct AdamWScalars {
    /// β₁.
    pub beta_1: f32,
    /// β₂.
    pub beta_2: f32,
    /// `1 - β₁^t` and `1 - β₂^t`, the bias corrections at step `t`.
    pub correction_1: f32,
    /// See `correction_1`.
    pub correction_2: f32,
    /// ε.
    pub epsilon: f32,
    /// The learning rate.
    pub lr: f32,
    /// `1 - lr · weight_decay`.
    pub decay: f32,
}

#[inline(always)]
fn adamw_body(param: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32], h: &AdamWScalars) {
    let (f1, f2) = (1.0 - h.beta_1, 1.0 - h.beta_2);
    // On the first step the moments come in as zeros, which leaves exactly `g (1 - β)` as
    // burn-optim computes it then.
    for (((p, &g), m), v) in param
        .iter_mut()
        .zip(grad)
        .zip(m.iter_mut())
        .zip(v.iter_mut())
    {
        *m = *m * h.beta_1 + g * f1;
        *v = *v * h.beta_2 + g * g * f2;
        let delta = (*m / h.correction_1) / ((*v / h.correction_2).sqrt() + h.epsilon);
        *p = *p * h.decay - delta * h.lr;
    }
}

dispatch!(adamw_update(param: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32], h: &AdamWScalars) {
    adamw_body(param, grad, m, v, h)
});

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> impl Iterator<Item = f32> {
        (-200_000..=200_000).map(|i| i as f32 * 5e-5)
    }

    #[test]
    fn exp_matches_the_standard_library() {
        let mut worst = 0.0f32;
        for x in (-100_000..=100_000).map(|i| i as f32 * 8.8e-4) {
            let (got, want) = (exp(x), x.exp());
            if want > f32::MIN_POSITIVE {
                worst = worst.max(((got - want) / want).abs());
            } else {
                assert!(got < 1e-37, "exp({x}) = {got}");
            }
        }
        assert!(worst < 4e-7, "max relative error {worst}");
        assert_eq!(exp(f32::MIN), 0.0);
        assert_eq!(exp(-1e30), 0.0);
    }

    #[test]
    fn erf_and_gelu_match_double_precision() {
        let (mut erf_worst, mut gelu_worst) = (0.0f64, 0.0f64);
        for x in grid() {
            let want = libm::erf(x as f64);
            erf_worst = erf_worst.max((erf(x) as f64 - want).abs());
            let gelu_want = 0.5 * x as f64 * (1.0 + libm::erf(x as f64 / 2f64.sqrt()));
            let scale = (x.abs() as f64).max(1.0);
            gelu_worst = gelu_worst.max((gelu(x) as f64 - gelu_want).abs() / scale);
        }
        assert!(erf_worst < 5e-7, "erf max abs error {erf_worst}");
        assert!(gelu_worst < 5e-7, "gelu max scaled error {gelu_worst}");
    }

    #[test]
    fn dispatched_slices_match_the_scalar_functions() {
        let mut values: Vec<f32> = grid().step_by(97).collect();
        let expected: Vec<f32> = values.iter().map(|&x| gelu(x)).collect();
        gelu_in_place(&mut values);
        for (got, want) in values.iter().zip(&expected) {
            assert!((got - want).abs() <= 1e-6 * want.abs().max(1.0));
        }
    }

    #[test]
    fn dropout_masks_keep_the_asked_share_and_depend_on_the_key() {
        let keep = 0.9f64;
        let threshold = (keep * 4_294_967_296.0) as u32;
        let mut mask = vec![0.0f32; 1 << 20];
        dropout_mask(&mut mask, 0, 42, threshold, 2.0);
        let kept = mask.iter().filter(|&&v| v == 2.0).count();
        assert_eq!(
            kept + mask.iter().filter(|&&v| v == 0.0).count(),
            mask.len()
        );
        let share = kept as f64 / mask.len() as f64;
        assert!((share - keep).abs() < 2e-3, "kept {share}");
        // Neighbours are not correlated: pairs of drops occur at the independent rate.
        let both = mask
            .windows(2)
            .filter(|w| w[0] == 0.0 && w[1] == 0.0)
            .count();
        let rate = both as f64 / (mask.len() - 1) as f64;
        assert!((rate - 0.01).abs() < 1e-3, "adjacent drops {rate}");
        // A chunk computed on its own equals the same range of the whole.
        let mut part = vec![0.0f32; 1000];
        dropout_mask(&mut part, 5000, 42, threshold, 2.0);
        assert_eq!(part, mask[5000..6000]);
        let mut other = vec![0.0f32; 1 << 20];
        dropout_mask(&mut other, 0, 43, threshold, 2.0);
        assert_ne!(other, mask);
    }

    #[test]
    fn gelu_backward_matches_a_central_difference() {
        let input: Vec<f32> = (-400..=400).map(|i| i as f32 * 0.02).collect();
        let mut grad = vec![1.5f32; input.len()];
        gelu_backward_in_place(&mut grad, &input);
        for (g, &x) in grad.iter().zip(&input) {
            let h = 1e-3f64;
            let f = |x: f64| 0.5 * x * (1.0 + libm::erf(x / 2f64.sqrt()));
            let want = 1.5 * (f(x as f64 + h) - f(x as f64 - h)) / (2.0 * h);
            assert!((*g as f64 - want).abs() < 1e-5, "x={x}: {g} vs {want}");
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
