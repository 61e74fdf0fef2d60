//! `exp`, `erf` and exact GELU with its derivative, vectorizable.

/// `a · b + c`: one fused multiply-add when `FUSED` (the instruction sets with FMA, where it is
/// one instruction in place of two, with one rounding), else a product and a sum (without FMA
/// a fused one is a libm call per value).
#[inline(always)]
pub fn mul_add<const FUSED: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FUSED { a.mul_add(b, c) } else { a * b + c }
}

/// `exp(x)` to about 1 ulp (Cephes' `expf`): `2^n · p(r)` with `x = n ln 2 + r`. Below
/// -87.3 it is 0, as the true value is smaller than the least normal float.
#[inline(always)]
pub fn exp<const FUSED: bool>(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let fma = mul_add::<FUSED>;
    let clamped = x.clamp(-87.336_55, 88.376_26);
    let n = fma(clamped, LOG2E, 0.5).floor();
    let r = fma(-n, LN2_LO, fma(-n, LN2_HI, clamped));
    // The degree-5 polynomial in Estrin's form, three multiply-adds deep rather than Horner's
    // five: the chain's latency, not the multiply-adds, bounds a vectorized exp (softmax rows
    // with AVX2 on a Zen 4 took 10% less time).
    let r2 = r * r;
    let high = fma(1.987_569_1e-4, r, 1.398_199_9e-3);
    let middle = fma(8.333_452e-3, r, 4.166_579_6e-2);
    let low = fma(1.666_666_5e-1, r, 0.5);
    let p = fma(high, r2 * r2, fma(middle, r2, low));
    let poly = fma(p, r2, r) + 1.0;
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
pub fn erf<const FUSED: bool>(x: f32) -> f32 {
    let fma = mul_add::<FUSED>;
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10_f32;
    p = fma(p, x2, 2.770_681_4e-8);
    p = fma(p, x2, -2.101_024e-6);
    p = fma(p, x2, -5.692_506_4e-5);
    p = fma(p, x2, -7.349_906_3e-4);
    p = fma(p, x2, -2.954_6e-3);
    p = fma(p, x2, -1.609_603_3e-2);
    let mut q = -1.456_607_2e-5_f32;
    q = fma(q, x2, -2.133_740_6e-4);
    q = fma(q, x2, -1.682_827e-3);
    q = fma(q, x2, -7.373_329e-3);
    q = fma(q, x2, -1.426_473_9e-2);
    x * p / q
}

/// Exact GELU, `x Φ(x) = x/2 (1 + erf(x/√2))`, as `transformers`' `"gelu"`.
#[inline(always)]
pub fn gelu<const FUSED: bool>(x: f32) -> f32 {
    0.5 * x * (1.0 + erf::<FUSED>(x * std::f32::consts::FRAC_1_SQRT_2))
}

#[inline(always)]
fn gelu_slice_body<const FUSED: bool>(values: &mut [f32]) {
    for value in values.iter_mut() {
        *value = gelu::<FUSED>(*value);
    }
}

dispatch!(
    /// Exact GELU of every element, in place.
    gelu_in_place(values: &mut [f32]) { gelu_slice_body::<FUSED>(values) });

#[inline(always)]
fn gelu_backward_body<const FUSED: bool>(grad: &mut [f32], input: &[f32]) {
    const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;
    for (g, &x) in grad.iter_mut().zip(input) {
        let cdf = 0.5 * (1.0 + erf::<FUSED>(x * std::f32::consts::FRAC_1_SQRT_2));
        let pdf = FRAC_1_SQRT_2PI * exp::<FUSED>(-0.5 * x * x);
        *g *= mul_add::<FUSED>(x, pdf, cdf);
    }
}

dispatch!(
    /// GELU's derivative times the incoming gradient: `grad · (Φ(x) + x φ(x))`.
    gelu_backward_in_place(grad: &mut [f32], input: &[f32]) {
    gelu_backward_body::<FUSED>(grad, input)
});

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> impl Iterator<Item = f32> {
        (-200_000..=200_000).map(|i| i as f32 * 5e-5)
    }

    /// `exp` with separate and with fused multiply-adds.
    const EXPS: [fn(f32) -> f32; 2] = [exp::<false>, exp::<true>];

    #[test]
    fn exp_matches_the_standard_library() {
        for exp in EXPS {
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
    }

    #[test]
    fn erf_and_gelu_match_double_precision() {
        let erfs: [fn(f32) -> f32; 2] = [erf::<false>, erf::<true>];
        let gelus: [fn(f32) -> f32; 2] = [gelu::<false>, gelu::<true>];
        for (erf, gelu) in erfs.into_iter().zip(gelus) {
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
    }

    #[test]
    fn dispatched_slices_match_the_scalar_functions() {
        let mut values: Vec<f32> = grid().step_by(97).collect();
        let expected: Vec<f32> = values.iter().map(|&x| gelu::<false>(x)).collect();
        gelu_in_place(&mut values);
        for (got, want) in values.iter().zip(&expected) {
            assert!((got - want).abs() <= 1e-6 * want.abs().max(1.0));
        }
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
}

#[inline(always)]
fn gelu_gate_body<const FUSED: bool>(out: &mut [f32], input: &[f32], gate: &[f32]) {
    for ((o, &x), &g) in out.iter_mut().zip(input).zip(gate) {
        *o = gelu::<FUSED>(x) * g;
    }
}

dispatch!(
    /// `out = gelu(input) · gate`, element-wise (a GeGLU's gating).
    gelu_gate(out: &mut [f32], input: &[f32], gate: &[f32]) {
    gelu_gate_body::<FUSED>(out, input, gate)
});
