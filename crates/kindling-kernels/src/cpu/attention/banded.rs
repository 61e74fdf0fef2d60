//! Attention through a sliding window: each block of query rows multiplies only the band of keys
//! its windows cover, so a head costs `O(seq_q · (BLOCK + window))` instead of
//! `O(seq_q · seq_k)`.
//!
//! The probabilities of a block are a `rows × band` tile, zero at keys outside each row's
//! window; training saves them as `[batch, heads, seq_q, band]`. A row whose visible keys are
//! all masked (or that sees none) averages all `seq_k` values, as `transformers` does with
//! every score at `finfo.min`; its saved row is all zeros (a visible row never is: its largest
//! weight is at least `1 / band`), which is how the backward pass knows it.

use super::{
    AttentionShape, ProbsDropout, ScoreBias, Scratch, Shared, View, for_each_head, product,
    product_into, product_onto,
};
use crate::cpu::softmax::{Window, softmax_backward_rows, softmax_window_rows};

/// Query rows per block.
const BLOCK: usize = 64;

/// One windowed attention call.
#[derive(Clone, Copy)]
pub(super) struct Inputs<'a> {
    pub query: &'a [f32],
    pub key: &'a [f32],
    pub value: &'a [f32],
    pub bias: ScoreBias<'a>,
    pub scale: f32,
    pub shape: AttentionShape,
    /// Key `j` is visible from query `i` iff `|i - j| <= half`.
    pub half: usize,
    pub dropout: Option<ProbsDropout>,
}

fn block_rows(shape: AttentionShape) -> usize {
    BLOCK.min(shape.seq_q).max(1)
}

/// Keys in each block's band: what the windows of `block_rows` consecutive queries cover.
pub(super) fn band_width(shape: AttentionShape, half: usize) -> usize {
    shape
        .seq_k
        .min(half.saturating_mul(2).saturating_add(block_rows(shape)))
}

/// The first key of the band of the block from query `first_query` (`width` keys from there
/// cover every window of the block).
pub(super) fn band_start(
    shape: AttentionShape,
    half: usize,
    width: usize,
    first_query: usize,
) -> usize {
    first_query.saturating_sub(half).min(shape.seq_k - width)
}

impl Inputs<'_> {
    fn hidden(&self) -> usize {
        self.shape.hidden()
    }

    /// The first dropout index of the averaged row of query `i` of `task`: an index space
    /// after the bands', one index per key.
    fn masked_row_index(&self, width: usize, task: usize, i: usize) -> usize {
        let AttentionShape {
            batch,
            heads,
            seq_q,
            seq_k,
            ..
        } = self.shape;
        batch * heads * seq_q * width + (task * seq_q + i) * seq_k
    }

    /// The output row of a query that sees no unmasked key: the average of all values (after
    /// dropout on the uniform weights).
    ///
    /// # Safety
    /// `out_row` must address the query's `head_dim` output cells, written by no other thread.
    #[allow(unsafe_code)]
    unsafe fn masked_row_forward(
        &self,
        weights: &mut Vec<f32>,
        width: usize,
        task: usize,
        i: usize,
        out_row: *mut f32,
    ) {
        let AttentionShape {
            heads,
            seq_k,
            head_dim,
            ..
        } = self.shape;
        let hidden = self.hidden();
        let b = task / heads;
        weights.clear();
        weights.resize(seq_k, 1.0 / seq_k as f32);
        if let Some(dropout) = self.dropout {
            dropout.apply(weights, self.masked_row_index(width, task, i));
        }
        let k_off = b * seq_k * hidden + (task % heads) * head_dim;
        let v = View::rows(self.value[k_off..].as_ptr(), hidden);
        // SAFETY: `v` addresses the head's seq_k rows; `out_row` is the caller's.
        unsafe {
            let weights = View::rows(weights.as_ptr(), seq_k);
            product(
                1,
                head_dim,
                seq_k,
                View::rows(out_row, hidden),
                weights,
                v,
                1.0,
            );
        }
    }
}

/// The forward pass (see `attention_forward`), `probs` (`probs_len` cells) saved for training,
/// into `out_ptr`: the `[batch, seq_q, hidden]` output, every value of which it writes without
/// reading any.
#[allow(unsafe_code)]
pub(super) fn forward(inputs: &Inputs, probs: Option<&mut [f32]>, out_ptr: Shared) {
    let Inputs {
        query,
        key,
        value,
        bias,
        scale,
        shape,
        half,
        dropout,
    } = *inputs;
    let AttentionShape {
        seq_q,
        seq_k,
        heads,
        head_dim,
        ..
    } = shape;
    let hidden = shape.hidden();
    let rows = block_rows(shape);
    let width = band_width(shape, half);
    let training = probs.is_some() || dropout.is_some();
    let probs_ptr = probs.map(|p| Shared(p.as_mut_ptr()));
    for_each_head(shape, seq_q * width * head_dim * 2, |scratch, task| {
        let (b, h) = (task / heads, task % heads);
        let (out_ptr, probs_ptr) = (out_ptr, probs_ptr);
        let q_off = b * seq_q * hidden + h * head_dim;
        let k_off = b * seq_k * hidden + h * head_dim;
        let Scratch {
            first: tile,
            second: dropped,
            rows: inverse_sums,
            keys: weights,
        } = scratch;
        for i0 in (0..seq_q).step_by(rows) {
            let r = rows.min(seq_q - i0);
            let k0 = band_start(shape, half, width, i0);
            let cells = r * width;
            let first = (task * seq_q + i0) * width;
            // SAFETY: these `cells` probabilities are this task's block's own.
            let scores: &mut [f32] = match probs_ptr {
                Some(p) => unsafe { std::slice::from_raw_parts_mut(p.0.add(first), cells) },
                None => {
                    tile.resize(cells, 0.0);
                    &mut tile[..cells]
                }
            };
            let filled = bias.fill(shape, b, h, i0, k0, width, scores);
            // SAFETY: the block's `r` query rows from `i0` and the band's `width` key rows
            // from `k0` lie inside the checked slices (k0 + width <= seq_k).
            unsafe {
                let q = View::rows(query[q_off + i0 * hidden..].as_ptr(), hidden);
                let k = View::rows(key[k_off + k0 * hidden..].as_ptr(), hidden);
                let dst = View::rows(scores.as_ptr(), width);
                product_into(r, width, head_dim, dst, q, k.transposed(), scale, filled);
            }
            let window = Window {
                first_query: i0,
                half,
                first_key: k0,
                seq_k,
            };
            inverse_sums.resize(r, 0.0);
            softmax_window_rows(scores, width, window, training, &mut inverse_sums[..r]);
            let weights_of_block: &[f32] = match dropout {
                Some(dropout) => {
                    dropped.clear();
                    dropped.extend_from_slice(scores);
                    dropout.apply(dropped, first);
                    dropped
                }
                None => scores,
            };
            // SAFETY: this task writes its own head's columns of its own block's rows.
            unsafe {
                let v = View::rows(value[k_off + k0 * hidden..].as_ptr(), hidden);
                let out_block = out_ptr.0.add(q_off + i0 * hidden);
                let probs = View::rows(weights_of_block.as_ptr(), width);
                product(
                    r,
                    head_dim,
                    width,
                    View::rows(out_block, hidden),
                    probs,
                    v,
                    1.0,
                );
                for (row, &inverse) in inverse_sums[..r].iter().enumerate() {
                    let out_row = out_block.add(row * hidden);
                    if inverse == 0.0 {
                        inputs.masked_row_forward(weights, width, task, i0 + row, out_row);
                    } else if !training {
                        let out_row = std::slice::from_raw_parts_mut(out_row, head_dim);
                        out_row.iter_mut().for_each(|x| *x *= inverse);
                    }
                }
            }
        }
    });
}

/// The backward pass (see `attention_backward`) from the probabilities [`forward`] saved.
#[allow(unsafe_code)]
pub(super) fn backward(
    inputs: &Inputs,
    probs: &[f32],
    grad_out: &[f32],
    grad_query: &mut [f32],
    grad_key: &mut [f32],
    grad_value: &mut [f32],
) {
    let Inputs {
        query,
        key,
        value,
        scale,
        shape,
        half,
        dropout,
        ..
    } = *inputs;
    let AttentionShape {
        seq_q,
        seq_k,
        heads,
        head_dim,
        ..
    } = shape;
    let hidden = shape.hidden();
    let rows = block_rows(shape);
    let width = band_width(shape, half);
    let (dq_ptr, dk_ptr, dv_ptr) = (
        Shared(grad_query.as_mut_ptr()),
        Shared(grad_key.as_mut_ptr()),
        Shared(grad_value.as_mut_ptr()),
    );
    for_each_head(shape, seq_q * width * head_dim * 4, |scratch, task| {
        let (b, h) = (task / heads, task % heads);
        let (dq_ptr, dk_ptr, dv_ptr) = (dq_ptr, dk_ptr, dv_ptr);
        let q_off = b * seq_q * hidden + h * head_dim;
        let k_off = b * seq_k * hidden + h * head_dim;
        // Bands overlap, so the blocks accumulate into dK and dV: clear this head's columns.
        for j in 0..seq_k {
            // SAFETY: the head's own columns of key row j.
            unsafe {
                std::slice::from_raw_parts_mut(dk_ptr.0.add(k_off + j * hidden), head_dim)
                    .fill(0.0);
                std::slice::from_raw_parts_mut(dv_ptr.0.add(k_off + j * hidden), head_dim)
                    .fill(0.0);
            }
        }
        for i0 in (0..seq_q).step_by(rows) {
            let r = rows.min(seq_q - i0);
            let k0 = band_start(shape, half, width, i0);
            let cells = r * width;
            let first = (task * seq_q + i0) * width;
            let p = &probs[first..first + cells];
            scratch.first.clear();
            scratch.first.extend_from_slice(p);
            if let Some(dropout) = dropout {
                dropout.apply(&mut scratch.first, first);
            }
            scratch.second.resize(cells, 0.0);
            // SAFETY: as in `forward`: views inside their slices, each task writing its own
            // head's columns, scratch buffers per worker.
            unsafe {
                let q = View::rows(query[q_off + i0 * hidden..].as_ptr(), hidden);
                let k = View::rows(key[k_off + k0 * hidden..].as_ptr(), hidden);
                let v = View::rows(value[k_off + k0 * hidden..].as_ptr(), hidden);
                let d_out = View::rows(grad_out[q_off + i0 * hidden..].as_ptr(), hidden);
                // dV_band += P_dropᵀ · dO
                let weights = View::rows(scratch.first.as_ptr(), width);
                let dv = View::rows(dv_ptr.0.add(k_off + k0 * hidden), hidden);
                product_onto(width, head_dim, r, dv, weights.transposed(), d_out, 1.0);
                // dP = (dO · V_bandᵀ) ⊙ mask, then the softmax's backward to dS (0 outside
                // the windows, where P is).
                let d_probs = View::rows(scratch.second.as_ptr(), width);
                product(r, width, head_dim, d_probs, d_out, v.transposed(), 1.0);
                if let Some(dropout) = dropout {
                    dropout.apply(&mut scratch.second[..cells], first);
                }
                softmax_backward_rows(&mut scratch.second[..cells], p, width);
                // dQ = scale · dS · K_band, dK_band += scale · dSᵀ · Q
                let dq = View::rows(dq_ptr.0.add(q_off + i0 * hidden), hidden);
                product(r, head_dim, width, dq, d_probs, k, scale);
                let dk = View::rows(dk_ptr.0.add(k_off + k0 * hidden), hidden);
                product_onto(width, head_dim, r, dk, d_probs.transposed(), q, scale);
            }
            for row in 0..r {
                if p[row * width..(row + 1) * width].iter().all(|&x| x == 0.0) {
                    let i = i0 + row;
                    // SAFETY: as above.
                    unsafe {
                        masked_row_backward(
                            inputs,
                            scratch,
                            width,
                            task,
                            i,
                            grad_out,
                            [dq_ptr, dk_ptr, dv_ptr],
                        );
                    }
                }
            }
        }
    });
}

/// The gradients through the averaged row of query `i` (uniform weights `1 / seq_k` over every
/// key, dropout on them), added to dK and dV and written to the query's row of dQ.
///
/// # Safety
/// The three pointers address gradients shaped as `query`, `key` and `value`, whose head
/// columns of this task no other thread writes.
#[allow(unsafe_code, clippy::too_many_arguments)]
unsafe fn masked_row_backward(
    inputs: &Inputs,
    scratch: &mut Scratch,
    width: usize,
    task: usize,
    i: usize,
    grad_out: &[f32],
    [dq_ptr, dk_ptr, dv_ptr]: [Shared; 3],
) {
    let AttentionShape {
        heads,
        seq_q,
        seq_k,
        head_dim,
        ..
    } = inputs.shape;
    let hidden = inputs.hidden();
    let (b, h) = (task / heads, task % heads);
    let q_off = b * seq_q * hidden + h * head_dim + i * hidden;
    let k_off = b * seq_k * hidden + h * head_dim;
    let uniform = 1.0 / seq_k as f32;
    let index = inputs.masked_row_index(width, task, i);
    let weights = &mut scratch.keys;
    weights.clear();
    weights.resize(seq_k, uniform);
    if let Some(dropout) = inputs.dropout {
        dropout.apply(weights, index);
    }
    let column = |values: &[f32]| View {
        ptr: values.as_ptr(),
        rs: 1,
        cs: seq_k as isize,
    };
    let grad = &mut scratch.rows;
    grad.resize(seq_k, 0.0);
    let d_out = View::rows(grad_out[q_off..].as_ptr(), hidden);
    let k = View::rows(inputs.key[k_off..].as_ptr(), hidden);
    let v = View::rows(inputs.value[k_off..].as_ptr(), hidden);
    let q = View::rows(inputs.query[q_off..].as_ptr(), hidden);
    // SAFETY: forwarded from the caller; the views address the head's rows.
    unsafe {
        // dV += w · dO_i, then dP = dO_i · Vᵀ
        let dv = View::rows(dv_ptr.0.add(k_off), hidden);
        product_onto(seq_k, head_dim, 1, dv, column(weights), d_out, 1.0);
        product(
            1,
            seq_k,
            head_dim,
            View::rows(grad.as_ptr(), seq_k),
            d_out,
            v.transposed(),
            1.0,
        );
    }
    if let Some(dropout) = inputs.dropout {
        dropout.apply(grad, index);
    }
    // The softmax's backward at uniform probabilities: dS = p ⊙ (dP - Σ dP · p).
    let mean = grad.iter().map(|&g| g as f64).sum::<f64>() as f32 * uniform;
    grad.iter_mut().for_each(|g| *g = uniform * (*g - mean));
    // SAFETY: as above.
    unsafe {
        let dq = View::rows(dq_ptr.0.add(q_off), hidden);
        product(
            1,
            head_dim,
            seq_k,
            dq,
            View::rows(grad.as_ptr(), seq_k),
            k,
            inputs.scale,
        );
        let dk = View::rows(dk_ptr.0.add(k_off), hidden);
        product_onto(seq_k, head_dim, 1, dk, column(grad), q, inputs.scale);
    }
}
