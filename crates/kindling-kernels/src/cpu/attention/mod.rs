//! Scaled dot-product attention on float32 slices, heads read in place.
//!
//! The query, key and value projections come out of their linear layers as
//! `[batch, seq, heads · head_dim]`. Splitting heads into `[batch, heads, seq, head_dim]` and
//! merging them back costs four full copies per layer; here every `(batch, head)` pair instead
//! reads its columns through strides (the matrix kernel packs its operands anyway) and writes
//! its context straight into the merged `[batch, seq, hidden]` output.

use std::mem::MaybeUninit;

use gemm::Parallelism;
use rayon::prelude::*;

use super::dropout::apply_dropout;
use super::matmul::gemm_f32;
use super::softmax::{softmax_backward_rows, softmax_rows, softmax_rows_unnormalized};

mod banded;
mod bias;
mod relative;

pub use bias::{Additive, ScoreBias};
pub use relative::{RelativeTerm, relative_scores};

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
struct Shared(*mut f32);
// SAFETY: tasks write disjoint cells (see each user).
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl Shared {
    /// The pointer (a method, so closures capture the whole `Send` wrapper, not its field).
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// Below this many multiply-adds a call runs on the calling thread.
const PARALLEL_MIN_WORK: usize = 1 << 18;

/// A strided `rows × cols` float32 matrix: element `(i, j)` at `ptr + i·rs + j·cs`.
#[derive(Clone, Copy)]
struct View {
    ptr: *const f32,
    rs: isize,
    cs: isize,
}

impl View {
    fn rows(ptr: *const f32, row_stride: usize) -> Self {
        Self {
            ptr,
            rs: row_stride as isize,
            cs: 1,
        }
    }

    fn transposed(self) -> Self {
        Self {
            ptr: self.ptr,
            rs: self.cs,
            cs: self.rs,
        }
    }
}

/// `dst (m × n) = scale · lhs (m × k) · rhs (k × n)`, or `+=` with `accumulate` (onto a bias
/// already in `dst`), single-threaded (tasks run in parallel).
///
/// # Safety
/// Every view must address `m × k`, `k × n` and `m × n` valid elements, and `dst` must not
/// overlap the inputs or cells another thread writes.
#[allow(unsafe_code, clippy::too_many_arguments)]
unsafe fn product_into(
    m: usize,
    n: usize,
    k: usize,
    dst: View,
    lhs: View,
    rhs: View,
    scale: f32,
    accumulate: bool,
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        gemm_f32(
            m,
            n,
            k,
            dst.ptr as *mut f32,
            dst.cs,
            dst.rs,
            accumulate,
            lhs.ptr,
            lhs.cs,
            lhs.rs,
            rhs.ptr,
            rhs.cs,
            rhs.rs,
            if accumulate { 1.0 } else { 0.0 },
            scale,
            Parallelism::None,
        );
    }
}

/// `dst (m × n) = scale · lhs (m × k) · rhs (k × n)`, single-threaded.
///
/// # Safety
/// As [`product_into`].
#[allow(unsafe_code)]
unsafe fn product(m: usize, n: usize, k: usize, dst: View, lhs: View, rhs: View, scale: f32) {
    // SAFETY: forwarded from the caller.
    unsafe { product_into(m, n, k, dst, lhs, rhs, scale, false) }
}

/// `dst (m × n) += scale · lhs (m × k) · rhs (k × n)`, single-threaded.
///
/// # Safety
/// As [`product_into`].
#[allow(unsafe_code)]
unsafe fn product_onto(m: usize, n: usize, k: usize, dst: View, lhs: View, rhs: View, scale: f32) {
    // SAFETY: forwarded from the caller.
    unsafe { product_into(m, n, k, dst, lhs, rhs, scale, true) }
}

/// Runs `task(scratch, index)` for every `(batch, head)` pair, in parallel when the work pays
/// for it; each worker keeps its own scratch buffers.
fn for_each_head(
    shape: AttentionShape,
    work_per_task: usize,
    task: impl Fn(&mut Scratch, usize) + Sync + Send,
) {
    let tasks = shape.batch * shape.heads;
    if tasks * work_per_task < PARALLEL_MIN_WORK || rayon::current_num_threads() == 1 {
        let mut scratch = Scratch::default();
        (0..tasks).for_each(|t| task(&mut scratch, t));
    } else {
        (0..tasks)
            .into_par_iter()
            .for_each_init(Scratch::default, |scratch, t| task(scratch, t));
    }
}

/// Per-worker score buffers.
#[derive(Default)]
struct Scratch {
    first: Vec<f32>,
    second: Vec<f32>,
    /// One value per query row (inverse sums), or one per key (a row of weights).
    rows: Vec<f32>,
    /// A second row of one value per key.
    keys: Vec<f32>,
}

/// Dropout on the attention probabilities, as a counter-based mask: element `e` of the
/// `[batch, heads, seq_q, seq_k]` probabilities is kept (and scaled by `scale`) when
/// `hash(e, key) < threshold`, so the backward pass regenerates the mask instead of storing it.
#[derive(Debug, Clone, Copy)]
pub struct ProbsDropout {
    /// Seed of the mask.
    pub key: u64,
    /// Keep probability times 2³².
    pub threshold: u32,
    /// `1 / keep`.
    pub scale: f32,
}

impl ProbsDropout {
    fn apply(&self, rows: &mut [f32], first_index: usize) {
        apply_dropout(
            rows,
            first_index as u64,
            self.key,
            self.threshold,
            self.scale,
        );
    }
}

/// The checks and layout every entry point shares.
fn check_lengths(
    shape: AttentionShape,
    query: usize,
    key: usize,
    value: usize,
    out: usize,
    bias: ScoreBias,
) {
    let AttentionShape {
        batch,
        seq_q,
        seq_k,
        ..
    } = shape;
    let hidden = shape.hidden();
    assert_eq!(query, batch * seq_q * hidden, "query length");
    assert_eq!(key, batch * seq_k * hidden, "key length");
    assert_eq!(value, batch * seq_k * hidden, "value length");
    assert_eq!(out, batch * seq_q * hidden, "output length");
    if let Some(padding) = bias.key_padding {
        assert_eq!(padding.len(), batch * seq_k, "key padding length");
    }
    if let Some(additive) = bias.additive {
        assert!(
            (additive.batches == 1 || additive.batches == batch)
                && (additive.heads == 1 || additive.heads == shape.heads),
            "additive bias batches {} and heads {}",
            additive.batches,
            additive.heads
        );
        assert_eq!(
            additive.values.len(),
            additive.batches * additive.heads * seq_q * seq_k,
            "additive bias length"
        );
    }
}

/// The length of the probabilities [`attention_train`] saves: `[batch, heads, seq_q, band]`,
/// where the band is every key (`seq_k`) without a window and a block's band of keys with one.
pub fn probs_len(shape: AttentionShape, half_window: Option<usize>) -> usize {
    let band = match half_window {
        Some(half) => banded::band_width(shape, half),
        None => shape.seq_k,
    };
    shape.batch * shape.heads * shape.seq_q * band
}

/// `out[b, i, h] = softmax(scale · q[b, i, h] · k[b, :, h]ᵀ + bias[b, h, i]) · v[b, :, h]` for
/// every sequence `b`, query `i` and head `h`, where `[.., h]` is the head's `head_dim` columns.
///
/// `query` and `out` are `[batch, seq_q, hidden]`, `key` and `value` `[batch, seq_k, hidden]`,
/// all row-major. The bias of a score is its key's padding (0 at real keys and `f32::MIN` at
/// padding) plus the additive bias, the sum stopped at `f32::MIN`; a key outside the window
/// gets no weight and is not computed at all. Masked keys get no weight unless a row has
/// nothing else: then, as in `transformers` with its `finfo.min` mask, the row averages all
/// `seq_k` values (with a window too, where `transformers` masks the keys outside it with the
/// same value).
///
/// `out` may be uninitialized: every value of it is written, none read, so a caller with a
/// fresh buffer need not zero it first (that fill was 0.8% of a MiniLM int8 forward).
///
/// # Panics
/// When a slice's length does not match `shape`.
pub fn attention(
    query: &[f32],
    key: &[f32],
    value: &[f32],
    bias: ScoreBias,
    scale: f32,
    shape: AttentionShape,
    out: &mut [MaybeUninit<f32>],
) {
    attention_forward(query, key, value, bias, scale, shape, None, None, out);
}

/// `values` as memory the forward pass may take as uninitialized: it writes every value
/// (never an uninitialized one) and reads none, so they stay initialized for the caller.
#[allow(unsafe_code)]
fn as_uninit(values: &mut [f32]) -> &mut [MaybeUninit<f32>] {
    // SAFETY: `MaybeUninit<f32>` is laid out as `f32`, and only floats are written through it.
    unsafe { &mut *(values as *mut [f32] as *mut [MaybeUninit<f32>]) }
}

/// The forward pass for training: as [`attention`], with dropout on the probabilities, and
/// the probabilities (before dropout, [`probs_len`] of them: `[batch, heads, seq_q, seq_k]`
/// without a window) written to `probs` for [`attention_backward`].
#[allow(clippy::too_many_arguments)]
pub fn attention_train(
    query: &[f32],
    key: &[f32],
    value: &[f32],
    bias: ScoreBias,
    scale: f32,
    shape: AttentionShape,
    dropout: Option<ProbsDropout>,
    probs: &mut [f32],
    out: &mut [f32],
) {
    assert_eq!(
        probs.len(),
        probs_len(shape, bias.half_window),
        "probabilities length"
    );
    attention_forward(
        query,
        key,
        value,
        bias,
        scale,
        shape,
        dropout,
        Some(probs),
        as_uninit(out),
    );
}

#[allow(clippy::too_many_arguments, unsafe_code)]
fn attention_forward(
    query: &[f32],
    key: &[f32],
    value: &[f32],
    bias: ScoreBias,
    scale: f32,
    shape: AttentionShape,
    dropout: Option<ProbsDropout>,
    probs: Option<&mut [f32]>,
    out: &mut [MaybeUninit<f32>],
) {
    check_lengths(shape, query.len(), key.len(), value.len(), out.len(), bias);
    let AttentionShape {
        seq_q,
        seq_k,
        heads,
        head_dim,
        ..
    } = shape;
    if out.is_empty() {
        return;
    }
    if seq_k == 0 {
        for v in out.iter_mut() {
            v.write(0.0);
        }
        return;
    }
    // Every path below writes each output value once and reads none (the products overwrite
    // their tiles), so `out` may start uninitialized.
    let out_ptr = Shared(out.as_mut_ptr().cast::<f32>());
    if let Some(half) = bias.half_window {
        let inputs = banded::Inputs {
            query,
            key,
            value,
            bias,
            scale,
            shape,
            half,
            dropout,
        };
        banded::forward(&inputs, probs, out_ptr);
        return;
    }
    let hidden = shape.hidden();
    let tile = seq_q * seq_k;
    let probs_ptr = probs.map(|p| Shared(p.as_mut_ptr()));
    for_each_head(shape, tile * head_dim * 2, |scratch, task| {
        let (b, h) = (task / heads, task % heads);
        let (out_ptr, probs_ptr) = (out_ptr, probs_ptr);
        let q = View::rows(query[b * seq_q * hidden + h * head_dim..].as_ptr(), hidden);
        let k = View::rows(key[b * seq_k * hidden + h * head_dim..].as_ptr(), hidden);
        let v = View::rows(value[b * seq_k * hidden + h * head_dim..].as_ptr(), hidden);
        // SAFETY: the probabilities tile of this task is its own `tile` cells; the scores
        // buffer is the worker's.
        let scores: &mut [f32] = match probs_ptr {
            Some(p) => unsafe { std::slice::from_raw_parts_mut(p.0.add(task * tile), tile) },
            None => {
                scratch.first.resize(tile, 0.0);
                &mut scratch.first
            }
        };
        // Key padding alone is added inside the softmax's passes; with an additive bias the
        // whole bias is written into the scores first and the product accumulates onto it.
        let padding = match bias.additive {
            None => bias.padding_of(b, seq_k),
            Some(_) => None,
        };
        let filled = bias.additive.is_some() && bias.fill(shape, b, h, 0, 0, seq_k, scores);
        // SAFETY: every view stays inside its slice (the last element read of `q` is
        // (seq_q - 1) · hidden + head_dim - 1 past its start, within the checked lengths, and
        // likewise for `k`, `v` and the output); tasks write their own sequence's rows and
        // their own head's columns of `out`.
        unsafe {
            let dst = View::rows(scores.as_ptr(), seq_k);
            product_into(
                seq_q,
                seq_k,
                head_dim,
                dst,
                q,
                k.transposed(),
                scale,
                filled,
            );
            let out_head = out_ptr.0.add(b * seq_q * hidden + h * head_dim);
            if probs_ptr.is_none() && dropout.is_none() {
                // Inference: normalize the narrow product instead of the scores.
                scratch.second.resize(seq_q, 0.0);
                softmax_rows_unnormalized(scores, seq_k, padding, &mut scratch.second);
                let weights = View::rows(scores.as_ptr(), seq_k);
                product(
                    seq_q,
                    head_dim,
                    seq_k,
                    View::rows(out_head, hidden),
                    weights,
                    v,
                    1.0,
                );
                for (i, inverse) in scratch.second.iter().enumerate() {
                    let row = std::slice::from_raw_parts_mut(out_head.add(i * hidden), head_dim);
                    row.iter_mut().for_each(|x| *x *= inverse);
                }
                return;
            }
            softmax_rows(scores, seq_k, padding);
            let weights: &[f32] = match dropout {
                Some(dropout) => {
                    scratch.second.clear();
                    scratch.second.extend_from_slice(scores);
                    dropout.apply(&mut scratch.second, task * tile);
                    &scratch.second
                }
                None => scores,
            };
            let out_head = View::rows(out_ptr.0.add(b * seq_q * hidden + h * head_dim), hidden);
            product(
                seq_q,
                head_dim,
                seq_k,
                out_head,
                View::rows(weights.as_ptr(), seq_k),
                v,
                1.0,
            );
        }
    });
}

/// The gradients of [`attention_train`]'s inputs from the gradient of its output: `grad_out`
/// `[batch, seq_q, hidden]` and the saved `probs` in, `grad_query`, `grad_key` and
/// `grad_value` (shaped as their inputs) out. The same `half_window` and `dropout` as the
/// forward pass. The bias gets no gradient: it is a constant of the operation.
#[allow(clippy::too_many_arguments, unsafe_code)]
pub fn attention_backward(
    query: &[f32],
    key: &[f32],
    value: &[f32],
    probs: &[f32],
    grad_out: &[f32],
    scale: f32,
    shape: AttentionShape,
    half_window: Option<usize>,
    dropout: Option<ProbsDropout>,
    grad_query: &mut [f32],
    grad_key: &mut [f32],
    grad_value: &mut [f32],
) {
    check_lengths(
        shape,
        query.len(),
        key.len(),
        value.len(),
        grad_out.len(),
        ScoreBias::default(),
    );
    check_lengths(
        shape,
        grad_query.len(),
        grad_key.len(),
        grad_value.len(),
        grad_out.len(),
        ScoreBias::default(),
    );
    let AttentionShape {
        seq_q,
        seq_k,
        heads,
        head_dim,
        ..
    } = shape;
    assert_eq!(
        probs.len(),
        probs_len(shape, half_window),
        "probabilities length"
    );
    if grad_out.is_empty() || seq_k == 0 {
        grad_query.fill(0.0);
        grad_key.fill(0.0);
        grad_value.fill(0.0);
        return;
    }
    if let Some(half) = half_window {
        let inputs = banded::Inputs {
            query,
            key,
            value,
            bias: ScoreBias::default(),
            scale,
            shape,
            half,
            dropout,
        };
        banded::backward(&inputs, probs, grad_out, grad_query, grad_key, grad_value);
        return;
    }
    let hidden = shape.hidden();
    let tile = seq_q * seq_k;
    let (dq_ptr, dk_ptr, dv_ptr) = (
        Shared(grad_query.as_mut_ptr()),
        Shared(grad_key.as_mut_ptr()),
        Shared(grad_value.as_mut_ptr()),
    );
    for_each_head(shape, tile * head_dim * 4, |scratch, task| {
        let (b, h) = (task / heads, task % heads);
        let (dq_ptr, dk_ptr, dv_ptr) = (dq_ptr, dk_ptr, dv_ptr);
        let q_off = b * seq_q * hidden + h * head_dim;
        let k_off = b * seq_k * hidden + h * head_dim;
        let q = View::rows(query[q_off..].as_ptr(), hidden);
        let k = View::rows(key[k_off..].as_ptr(), hidden);
        let v = View::rows(value[k_off..].as_ptr(), hidden);
        let d_out = View::rows(grad_out[q_off..].as_ptr(), hidden);
        let p = &probs[task * tile..(task + 1) * tile];
        scratch.first.clear();
        scratch.first.extend_from_slice(p);
        if let Some(dropout) = dropout {
            dropout.apply(&mut scratch.first, task * tile);
        }
        scratch.second.resize(tile, 0.0);
        // SAFETY: as in `attention_forward`: views inside their slices, each task writing its
        // own rows and columns of the three gradients, scratch buffers per worker.
        unsafe {
            // dV = P_dropᵀ · dO
            let weights = View::rows(scratch.first.as_ptr(), seq_k);
            let dv = View::rows(dv_ptr.0.add(k_off), hidden);
            product(seq_k, head_dim, seq_q, dv, weights.transposed(), d_out, 1.0);
            // dP = (dO · Vᵀ) ⊙ mask, then the softmax's backward to dS.
            let d_probs = View::rows(scratch.second.as_ptr(), seq_k);
            product(seq_q, seq_k, head_dim, d_probs, d_out, v.transposed(), 1.0);
            if let Some(dropout) = dropout {
                dropout.apply(&mut scratch.second, task * tile);
            }
            softmax_backward_rows(&mut scratch.second, p, seq_k);
            // dQ = scale · dS · K, dK = scale · dSᵀ · Q
            let dq = View::rows(dq_ptr.0.add(q_off), hidden);
            product(seq_q, head_dim, seq_k, dq, d_probs, k, scale);
            let dk = View::rows(dk_ptr.0.add(k_off), hidden);
            product(seq_k, head_dim, seq_q, dk, d_probs.transposed(), q, scale);
        }
    });
}

#[cfg(test)]
mod tests;
