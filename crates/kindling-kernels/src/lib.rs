#![warn(missing_docs)]
//! kindling's fast paths for a transformer encoder's hot operations, with Burn's own operations
//! as the fallback.
//!
//! On Burn's Flex CPU backend in float32 the functions here run kindling's kernels: linear
//! layers as one matrix product onto the bias with GELU as its epilogue, attention that reads
//! heads in place with a vectorized softmax, layer norm fused with the residual add, dropout
//! masks from a counter-based hash, and a one-pass AdamW. In training (autodiff) attention,
//! GELU and layer norm are single autodiff operations with their own backward passes. Every
//! other case (other backends, f16/bf16, gradient checkpointing) computes the same thing with
//! Burn's tensor operations, so callers never branch on the backend. `docs/benchmarks.md`
//! gives each kernel's measured gain.
//!
//! The kernels are compiled with the `flex` feature; without it every function here is Burn's
//! own operations.

mod bias;
#[cfg(feature = "flex")]
mod cpu;
#[cfg(feature = "flex")]
mod flex;
mod int8;
mod relative;
mod rotary;

pub use bias::{AttentionBias, mask_value};
#[cfg(feature = "flex")]
pub use cpu::int8::{ActivationBits, Int8Kernel};
#[cfg(feature = "flex")]
pub use cpu::isa::{ISA_VARIABLE, Isa, isa, isa_name};
#[cfg(feature = "flex")]
pub use int8::Int8Weight;
pub use int8::{
    Int8Values, LinearInt8, QuantizeError, QuantizeReport, int8_weights, linear_weight_paths,
    quantize_linears, quantize_linears_with,
};
pub use relative::{RelativeIndex, RelativeIndexError, RelativeTerm, relative_scores};
pub use rotary::split_rotary_qkv;

use burn::nn::{Dropout, Embedding, LayerNorm, Linear};
use burn::prelude::*;
use burn::tensor::activation;
use burn::tensor::module::attention as fused_attention;
use burn::tensor::ops::AttentionModuleOptions;

/// Whether `device` (autodiff or not) is Burn's Flex CPU device, where kindling's kernels run.
pub fn is_flex_device(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    return flex::is_flex_device(device);
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}

/// Runs `f` on a worker of the thread pool the kernels split their work over, when `device`
/// is the flex device, and returns its result (at once where the caller already is a worker);
/// any other device runs `f` on the calling thread.
///
/// Why: called from outside the pool, every parallel pass hands its work to the pool and puts
/// the calling thread to sleep until the pass ends, a wake-up per pass; from a worker, a pass
/// splits with the other workers directly. On two Zen 4 cores this cut a MiniLM int8
/// forward's context switches by 70% and its time by about 5%. The commands, the server's
/// batches and the benchmark run their models through it.
pub fn on_compute_threads<R: Send>(device: &Device, f: impl FnOnce() -> R + Send) -> R {
    #[cfg(feature = "flex")]
    if is_flex_device(device) {
        return rayon::scope(|_| f());
    }
    let _ = device;
    f()
}

/// `layer.forward(x)`: on Flex one matrix product over all rows onto the bias (in training
/// too, with one backward node for the input, weight and bias gradients).
///
/// A layer [`quantize_linears`] made int8 runs the int8 kernel on Flex float32 inputs.
pub fn linear<const D: usize>(x: Tensor<D>, layer: &Linear) -> Tensor<D> {
    #[cfg(feature = "flex")]
    let x = match flex::linear_int8(x, layer, false) {
        Ok(out) => return out,
        Err(x) => x,
    };
    #[cfg(feature = "flex")]
    let x = match flex::linear(x, layer, false) {
        Ok(out) => return out,
        Err(x) => x,
    };
    #[cfg(feature = "flex")]
    let x = match flex::linear_autodiff(x, layer) {
        Ok(out) => return out,
        Err(x) => x,
    };
    linear_rows(x, layer)
}

/// Looks `ids` up in `table`, with no gradient reaching the `padding` row, as
/// `torch.nn.Embedding(padding_idx=...)`: the positions holding the padding id get no part
/// of the table's gradient. It matters wherever padded positions reach the loss (a span
/// head's softmax runs over every position, pads included); without autodiff it is the plain
/// lookup.
///
/// In training on Flex one backward node scatters the output's gradient onto a table of
/// zeros on the thread pool (Burn's lookup filled and copied the whole dense gradient, 94 MB
/// on BERT-base, on the calling thread); elsewhere the padding positions' lookups are
/// detached.
pub fn embedding(table: &Embedding, ids: Tensor<2, Int>, padding: Option<usize>) -> Tensor<3> {
    #[cfg(feature = "flex")]
    let ids = match flex::embedding_autodiff(ids, table, padding) {
        Ok(out) => return out,
        Err(ids) => ids,
    };
    let out = table.forward(ids.clone());
    // the table, a leaf, says whether gradients are tracked (an op's output never reports it)
    match padding {
        Some(pad) if table.weight.val().is_require_grad() => {
            let mask = ids
                .equal_elem(pad as i64)
                .unsqueeze_dim::<3>(2)
                .expand(out.dims());
            out.clone().mask_where(mask, out.detach())
        }
        _ => out,
    }
}

/// `layer.forward(x)` for each of `layers` on one input, as the query, key and value
/// projections read the same hidden states: layers [`quantize_linears`] made int8 quantize
/// `x` once for all of them; otherwise each is [`linear`].
pub fn linears<const D: usize, const N: usize>(
    x: Tensor<D>,
    layers: [&Linear; N],
) -> [Tensor<D>; N] {
    #[cfg(feature = "flex")]
    let x = match flex::linear_int8_shared(x, layers, cpu::int8::Epilogue::Identity) {
        Ok(out) => return out,
        Err(x) => x,
    };
    layers.map(|layer| linear(x.clone(), layer))
}

/// `layer.forward(x)` with each output row depending on its input row alone, whatever the
/// batch: Burn's own product in float, the int8 kernel when the layer was quantized
/// ([`quantize_linears`]). For heads and poolers, whose answers must not change with the
/// batch they are computed in (the fast float path blocks by row count).
pub fn linear_rowwise<const D: usize>(x: Tensor<D>, layer: &Linear) -> Tensor<D> {
    #[cfg(feature = "flex")]
    let x = match flex::linear_int8(x, layer, false) {
        Ok(out) => return out,
        Err(x) => x,
    };
    layer.forward(x)
}

/// `layer.forward(x)` with every leading dimension folded into the rows first (a view): one
/// `[rows, d_in] · [d_in, d_out]` product, and in training one weight-gradient product over all
/// rows, where Burn's batched form multiplies and then sums per sequence.
fn linear_rows<const D: usize>(x: Tensor<D>, layer: &Linear) -> Tensor<D> {
    if D == 2 {
        return layer.forward(x);
    }
    let mut dims = x.dims();
    let d_in = dims[D - 1];
    let rows = dims[..D - 1].iter().product::<usize>();
    let out = layer.forward(x.reshape([rows, d_in]));
    dims[D - 1] = out.dims()[1];
    out.reshape(dims)
}

/// Exact GELU of `layer.forward(x)`, the activation applied as the product's epilogue on Flex.
pub fn linear_gelu<const D: usize>(x: Tensor<D>, layer: &Linear) -> Tensor<D> {
    #[cfg(feature = "flex")]
    let x = match flex::linear_int8(x, layer, true) {
        Ok(out) => return out,
        Err(x) => x,
    };
    #[cfg(feature = "flex")]
    let x = match flex::linear(x, layer, true) {
        Ok(out) => return out,
        Err(x) => x,
    };
    #[cfg(feature = "flex")]
    let x = match flex::linear_autodiff(x, layer) {
        Ok(out) => return gelu(out),
        Err(x) => x,
    };
    gelu(linear_rows(x, layer))
}

/// `layer.forward(x)` (dropout, active only in training on an autodiff device). On Flex the
/// mask comes from a counter-based hash, in parallel, seeded by one draw from the device's
/// generator (so `Device::seed` still makes runs repeatable); Flex's own Bernoulli sampling
/// draws every element through a locked generator, about a tenth of a training step.
pub fn dropout<const D: usize>(x: Tensor<D>, layer: &Dropout) -> Tensor<D> {
    if !layer.training.is_enabled() || !x.device().is_autodiff() || layer.prob == 0.0 {
        return x;
    }
    #[cfg(feature = "flex")]
    if flex::is_flex_device(&x.device()) {
        return flex::dropout(x, layer.prob);
    }
    layer.forward(x)
}

/// `Σ x²` over every element, as float64: one vectorized pass on Flex (gradient clipping
/// reads every gradient this way), Burn's operations elsewhere.
pub fn sum_of_squares<const D: usize>(x: &Tensor<D>) -> f64 {
    #[cfg(feature = "flex")]
    if let Some(total) = flex::sum_of_squares(x) {
        return total;
    }
    x.clone().powi_scalar(2).sum().into_scalar::<f64>()
}

/// `x · factor`. On Flex in float32, in place where `x` is not shared and on the thread pool:
/// gradient clipping scales every gradient, and Burn's scalar product is a serial pass into a
/// new allocation (the word embeddings' gradient alone is 94 MB on BERT-base). The factor is
/// rounded to float32 first, as Burn's scalar product does, so both give the same values.
pub fn scale<const D: usize>(x: Tensor<D>, factor: f64) -> Tensor<D> {
    #[cfg(feature = "flex")]
    let x = match flex::scale(x, factor as f32) {
        Ok(out) => return out,
        Err(x) => x,
    };
    x * factor
}

/// The hyper-parameters of one [`adamw_step`].
#[derive(Debug, Clone, Copy)]
pub struct AdamWStep {
    /// Learning rate.
    pub lr: f64,
    /// β₁.
    pub beta_1: f32,
    /// β₂.
    pub beta_2: f32,
    /// ε.
    pub epsilon: f32,
    /// Decoupled weight decay.
    pub weight_decay: f32,
    /// The step count after this step (1 on the first), for the bias corrections.
    pub time: usize,
}

/// One AdamW step of a parameter, as burn-optim's `AdamW` computes it: the moments `(m, v)`
/// (`None` on the first step) are updated with `grad`, then
/// `param · (1 - lr · weight_decay) - lr · m̂ / (√v̂ + ε)`. On Flex in float32 this is one
/// pass over the four buffers (burn-optim's is a dozen tensor operations, each a full pass
/// with its own allocation); elsewhere the inputs come back as `Err` for the caller's
/// optimizer.
// `Err` hands the inputs back for the caller's optimizer, as large as the `Ok` it replaces.
#[allow(clippy::type_complexity, clippy::result_large_err)]
pub fn adamw_step<const D: usize>(
    param: Tensor<D>,
    grad: Tensor<D>,
    moments: Option<(Tensor<D>, Tensor<D>)>,
    step: &AdamWStep,
) -> Result<(Tensor<D>, Tensor<D>, Tensor<D>), (Tensor<D>, Tensor<D>, Option<(Tensor<D>, Tensor<D>)>)>
{
    #[cfg(feature = "flex")]
    {
        let time = step.time.min(i32::MAX as usize) as i32;
        let scalars = cpu::optim::AdamWScalars {
            beta_1: step.beta_1,
            beta_2: step.beta_2,
            correction_1: 1.0 - step.beta_1.powi(time),
            correction_2: 1.0 - step.beta_2.powi(time),
            epsilon: step.epsilon,
            lr: step.lr as f32,
            decay: (1.0 - step.lr * step.weight_decay as f64) as f32,
        };
        flex::adamw(param, grad, moments, &scalars)
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = step;
        Err((param, grad, moments))
    }
}

/// `layer(x + residual)` (`layer(x)` without a residual) with the layer norm's `epsilon`
/// (Burn's `LayerNorm` keeps its own private). On Flex one pass per row, in place in
/// inference, and in training one autodiff operation with its own backward (Burn composes
/// layer norm of eight operations there).
pub fn add_layer_norm<const D: usize>(
    x: Tensor<D>,
    residual: Option<Tensor<D>>,
    layer: &LayerNorm,
    epsilon: f64,
) -> Tensor<D> {
    #[cfg(feature = "flex")]
    let (x, residual) = match flex::add_layer_norm(x, residual, layer, epsilon) {
        Ok(out) => return out,
        Err(inputs) => inputs,
    };
    let x = match residual {
        Some(residual) => x + residual,
        None => x,
    };
    #[cfg(feature = "flex")]
    let x = match flex::layer_norm_autodiff(x, layer, epsilon) {
        Ok(out) => return out,
        Err(x) => x,
    };
    #[cfg(not(feature = "flex"))]
    let _ = epsilon;
    layer.forward(x)
}

/// Exact GELU (`transformers`' `"gelu"`), element-wise.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    let x = match flex::gelu(x).or_else(flex::gelu_autodiff) {
        Ok(out) => return out,
        Err(x) => x,
    };
    activation::gelu(x)
}

/// `gelu(input) · gate`, where `input` and `gate` are the two halves of `both`'s last
/// dimension (a GeGLU feed-forward's gating, ModernBERT's `mlp`). On Flex in float32 without
/// autodiff, one pass per row; elsewhere a slice of each half, [`gelu`] and a product.
///
/// # Panics
/// When the last dimension is odd.
pub fn gelu_glu<const D: usize>(both: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    let both = match flex::gelu_glu(both) {
        Ok(out) => return out,
        Err(both) => both,
    };
    let two = both.dims()[D - 1];
    assert!(
        two.is_multiple_of(2),
        "gelu_glu: the last dimension {two} is odd"
    );
    let input = both.clone().narrow(D - 1, 0, two / 2);
    let gate = both.narrow(D - 1, two / 2, two / 2);
    gelu(input) * gate
}

/// Whether [`attention`] runs kindling's kernels on `device` (Flex, with or without
/// autodiff): the caller then passes the bias in parts (the kernel reads them as they are)
/// rather than [materialized](AttentionBias::materialize) once per forward pass, and may use
/// [`attention`] in training too.
pub fn has_fast_attention(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    {
        flex::is_flex_device(device)
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}

/// Multi-head scaled dot-product attention (scale `1/√head_dim`) with the heads packed in the
/// last dimension: `query` `[batch, seq_q, heads · head_dim]`, `key` and `value`
/// `[batch, seq_k, heads · head_dim]`, result `[batch, seq_q, heads · head_dim]`, with `bias`
/// added to the scores (see [`AttentionBias`]) and `dropout` on the probabilities in training.
///
/// On Flex in float32 this is kindling's kernel, forward and (with autodiff) backward, with
/// every part of the bias inside it: the key padding and the additive bias read per score
/// (size-1 batch and head dimensions broadcast), and keys outside a sliding window skipped, so
/// a window costs `O(seq · window)`. The kernel's backward gives no gradient to the bias: in
/// training, a bias that is itself tracked by autodiff (computed from parameters) takes Burn's
/// operations instead, so its gradient is not lost. Elsewhere the bias is materialized
/// ([`AttentionBias::materialize`]) for Burn's fused attention when no dropout is active, else
/// for the decomposed computation.
///
/// # Panics
/// When a part of `bias` does not fit the shapes.
// The closure hands the inputs back as `Err` for the next path, as large as the `Ok` it replaces.
#[allow(clippy::result_large_err)]
pub fn attention(
    query: Tensor<3>,
    key: Tensor<3>,
    value: Tensor<3>,
    bias: Option<&AttentionBias>,
    heads: usize,
    dropout: &Dropout,
) -> Tensor<3> {
    let [batch, seq_q, hidden] = query.dims();
    let seq_k = key.dims()[1];
    if let Some(bias) = bias {
        bias.check(batch, heads, seq_q, seq_k);
    }
    let training = dropout.training.is_enabled() && query.device().is_autodiff();
    let active = (training && dropout.prob > 0.0).then_some(dropout.prob);
    #[cfg(feature = "flex")]
    let (query, key, value) = match flex::attention(query, key, value, bias, heads)
        .or_else(|(q, k, v)| flex::attention_autodiff(q, k, v, bias, heads, active))
    {
        Ok(out) => return out,
        Err(inputs) => inputs,
    };
    let split = |x: Tensor<3>| {
        let [batch, seq, _] = x.dims();
        x.reshape([batch, seq, heads, hidden / heads])
            .swap_dims(1, 2)
    };
    let bias =
        bias.and_then(|bias| bias.materialize(batch, seq_q, seq_k, query.dtype(), &query.device()));
    let context = match active {
        // Burn's fused attention has no dropout.
        Some(_) => {
            let scale = ((hidden / heads) as f64).powf(-0.5);
            let scores = split(query).matmul(split(key).swap_dims(2, 3)) * scale;
            let scores = match bias {
                Some(bias) => scores + bias,
                None => scores,
            };
            self::dropout(activation::softmax(scores, 3), dropout).matmul(split(value))
        }
        // scale: None is 1/sqrt(head_dim), and lets GPU backends pick their flash kernel.
        None => fused_attention(
            split(query),
            split(key),
            split(value),
            None,
            bias,
            AttentionModuleOptions::default(),
        ),
    };
    context.swap_dims(1, 2).reshape([batch, seq_q, hidden])
}

/// The README's examples, compiled and run as doc-tests so the crate's front page cannot drift
/// from its API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
