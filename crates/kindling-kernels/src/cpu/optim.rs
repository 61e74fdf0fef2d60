//! The optimizer's passes: the squared norm of a gradient and one AdamW update.

use super::LANES;

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

dispatch!(
    /// Writes `Σ v²` over `values` to `total`.
    sum_of_squares_into(values: &[f32], total: &mut f64) {
    sum_of_squares_body(values, total)
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

dispatch!(
    /// One AdamW update of `param` and its moments `m`, `v` from `grad`, in place.
    adamw_update(param: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32], h: &AdamWScalars) {
    adamw_body(param, grad, m, v, h)
});
