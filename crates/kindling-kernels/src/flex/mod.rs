//! The bridge from Burn tensors on the Flex backend to kindling's float32 kernels.
//!
//! Each function takes ownership of its inputs and either returns the result or, when the
//! tensors are not plain Flex float32 tensors (autodiff, another backend, another dtype), hands
//! them back untouched for the generic path.

// `Err` hands the inputs back to the caller's fallback path; `Ok` carries tensors of the same
// size, so boxing the error would only add an allocation per call.
#![allow(clippy::result_large_err)]

use std::cell::OnceCell;

use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, DispatchDevice, Flex};
use burn::nn::{LayerNorm, Linear};
use burn::prelude::*;
use burn::tensor::{DType, Distribution};
use gemm::Parallelism;
use rayon::prelude::*;

use super::AttentionBias;
use super::cpu::activation::{gelu_gate, gelu_in_place};
use super::cpu::attention::{
    Additive, AttentionShape, ProbsDropout, RelativeTerm as RelativeSlices, ScoreBias,
    attention as attention_kernel, relative_scores as relative_kernel,
};
use super::cpu::dropout::dropout_mask;
use super::cpu::few_rows::{few_rows_fit, few_rows_linear};
use super::cpu::int8::{
    ActivationBits, Epilogue, Int8Kernel, QuantizedInput, int8_linear_quantized,
};
use super::cpu::norm::layer_norm_rows;
use super::cpu::optim::{AdamWScalars, adamw_update, sum_of_squares_into};
use super::cpu::rotary::rotate_heads;
use super::cpu::transpose::transpose_band;
use super::cpu::written_in_parallel;

/// The tensor's Flex primitive when it is a float32 tensor on Flex without autodiff.
fn float32<const D: usize>(tensor: Tensor<D>) -> Result<FlexTensor, Tensor<D>> {
    if tensor.dtype() != DType::F32 {
        return Err(tensor);
    }
    match tensor.clone().try_into_primitive::<Flex>() {
        // The clone shared the storage; dropping the original leaves the primitive unique,
        // so in-place kernels need not copy.
        Ok(primitive) => {
            drop(tensor);
            Ok(primitive)
        }
        Err(_) => Err(tensor),
    }
}

fn tensor<const D: usize>(primitive: FlexTensor) -> Tensor<D> {
    Tensor::from_primitive::<Flex>(primitive)
}

/// A contiguous float32 primitive's elements.
fn values(primitive: &FlexTensor) -> &[f32] {
    primitive
        .as_slice::<f32>()
        .expect("a contiguous float32 primitive has a slice")
}

/// `primitive` made contiguous from offset 0 (a copy only when it is a strided view).
fn contiguous(primitive: FlexTensor) -> FlexTensor {
    if primitive.is_contiguous() && primitive.layout().start_offset() == 0 {
        primitive
    } else {
        primitive.to_contiguous()
    }
}

fn from_vec(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// Whether `device` (autodiff or not) is a Flex device.
pub fn is_flex_device(device: &Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        DispatchDevice::Flex(_)
    )
}

/// A dropout mask's parameters, its key one draw from `device`'s generator (so seeding the
/// device makes masks repeatable).
fn dropout_draw(device: &Device, prob: f64) -> ProbsDropout {
    let draw = Tensor::<1>::random([2], Distribution::Default, &device.clone().inner());
    let key = match draw.into_data().try_to_vec::<f32>().as_deref() {
        Ok([a, b]) => (u64::from(a.to_bits()) << 32) | u64::from(b.to_bits()),
        _ => 0,
    };
    let keep = 1.0 - prob;
    ProbsDropout {
        key,
        threshold: (keep * 4_294_967_296.0).min(u32::MAX as f64) as u32,
        scale: (1.0 / keep) as f32,
    }
}

/// `x` times a dropout mask (0 or `1 / (1 - prob)`) made on the host: see `kernels::dropout`.
pub fn dropout<const D: usize>(x: Tensor<D>, prob: f64) -> Tensor<D> {
    const CHUNK: usize = 1 << 15;
    let device = x.device();
    let ProbsDropout {
        key,
        threshold,
        scale,
    } = dropout_draw(&device, prob);
    let shape = x.shape();
    let mut mask = vec![0.0f32; shape.num_elements()];
    mask.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(i, chunk)| {
            dropout_mask(chunk, (i * CHUNK) as u64, key, threshold, scale);
        });
    let mask =
        Tensor::<D>::from_data(TensorData::new(mask, shape), &device.inner()).cast(x.dtype());
    x * mask
}

/// Applies `kernel` to the elements of `primitive`, in place when it owns them.
fn map_in_place(primitive: FlexTensor, kernel: impl FnOnce(&mut [f32])) -> FlexTensor {
    let mut primitive = contiguous(primitive);
    let len = primitive.layout().num_elements();
    match primitive.try_storage_mut::<f32>() {
        Some(storage) if storage.len() == len => {
            kernel(storage);
            primitive
        }
        _ => {
            let shape = primitive.layout().shape().to_vec();
            let mut copy = copy_in_parallel(values(&primitive));
            kernel(&mut copy);
            from_vec(copy, shape)
        }
    }
}

/// Exact GELU with the vectorized `erf`.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Result<Tensor<D>, Tensor<D>> {
    let primitive = float32(x)?;
    Ok(tensor(map_in_place(primitive, gelu_in_place)))
}

/// GELU over a large buffer, in chunks on the thread pool.
fn gelu_in_parallel(values: &mut [f32]) {
    const CHUNK: usize = 1 << 15;
    if values.len() > CHUNK {
        values.par_chunks_mut(CHUNK).for_each(gelu_in_place);
    } else {
        gelu_in_place(values);
    }
}

/// A linear layer's bias as a contiguous Flex float32 primitive (`Ok(None)` without one), or
/// `Err` when it is another kind of tensor.
fn bias32(layer: &Linear) -> Result<Option<FlexTensor>, ()> {
    match layer.bias.as_ref().map(|b| float32(b.val())) {
        None => Ok(None),
        Some(Ok(bias)) => Ok(Some(contiguous(bias))),
        Some(Err(_)) => Err(()),
    }
}

/// Below this many multiply-adds a product runs on the calling thread.
const PARALLEL_MIN_PRODUCT: usize = 1 << 20;

/// One operand of [`product_into`]: its values and its column and row strides.
pub(super) struct Operand<'a> {
    values: &'a [f32],
    column_stride: usize,
    row_stride: usize,
}

impl<'a> Operand<'a> {
    /// A row-major `[rows, width]` matrix.
    pub(super) fn rows(values: &'a [f32], width: usize) -> Self {
        Self {
            values,
            column_stride: 1,
            row_stride: width,
        }
    }

    /// The transpose of a row-major `[.., width]` matrix, read in place.
    pub(super) fn transposed(values: &'a [f32], width: usize) -> Self {
        Self {
            values,
            column_stride: width,
            row_stride: 1,
        }
    }

    /// Whether every element of a `rows × columns` view lies inside the values.
    fn holds(&self, rows: usize, columns: usize) -> bool {
        rows == 0
            || columns == 0
            || (rows - 1) * self.row_stride + (columns - 1) * self.column_stride < self.values.len()
    }
}

/// `out (m × n, row-major) = [out +] lhs (m × k) · rhs (k × n)` with kindling's float32
/// product (which `KINDLING_ISA` lowers), on the thread pool when it is large.
///
/// # Panics
/// When an operand or `out` is smaller than its shape.
#[allow(unsafe_code)]
pub(super) fn product_into(
    out: &mut [f32],
    accumulate: bool,
    dims: [usize; 3],
    lhs: Operand<'_>,
    rhs: Operand<'_>,
) {
    let [m, n, _] = dims;
    assert!(
        out.len() >= m * n,
        "product_into: output smaller than {m}x{n}"
    );
    // SAFETY: `out` holds the m × n values the product writes (and reads, to accumulate).
    unsafe { product_raw(out.as_mut_ptr(), accumulate, dims, lhs, rhs) }
}

/// `lhs (m × k) · rhs (k × n)` into a new row-major `m × n` vector, which the product writes
/// once: no zero fill first (a serial pass on the calling thread while the pool waited).
///
/// # Panics
/// When an operand is smaller than its shape.
#[allow(unsafe_code)]
pub(super) fn product(dims: [usize; 3], lhs: Operand<'_>, rhs: Operand<'_>) -> Vec<f32> {
    let [m, n, _] = dims;
    let mut out = Vec::<f32>::with_capacity(m * n);
    // SAFETY: the spare capacity holds m × n values; without accumulation the product only
    // writes them (every one of them, see `product_raw`), so all are initialized after it.
    unsafe {
        product_raw(out.as_mut_ptr(), false, dims, lhs, rhs);
        out.set_len(m * n);
    }
    out
}

/// The product behind [`product_into`] and [`product`], into `out`.
///
/// # Safety
/// `out` must be valid for `m × n` writes (and initialized reads when `accumulate`); without
/// `accumulate` every one of them is written.
#[allow(unsafe_code)]
unsafe fn product_raw(
    out: *mut f32,
    accumulate: bool,
    [m, n, k]: [usize; 3],
    lhs: Operand<'_>,
    rhs: Operand<'_>,
) {
    assert!(
        lhs.holds(m, k) && rhs.holds(k, n),
        "product_into: operands smaller than {m}x{k} · {k}x{n}"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            // SAFETY: `out` is valid for m × n writes (the caller's contract).
            unsafe { std::ptr::write_bytes(out, 0, m * n) };
        }
        return;
    }
    let parallel = m * n * k >= PARALLEL_MIN_PRODUCT;
    let parallelism = if parallel {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    };
    // `gemm` computes a row-major product transposed, so a column-major right operand (a
    // weight read transposed, as in a linear layer's input gradient) becomes a left operand
    // it packs on the calling thread before its threads start: 7% of a BERT-base training
    // step with the other thread idle. A row-major copy made on the pool avoids that.
    // Taken out of the thread's slot (a product that runs another on this thread while it
    // waits finds the slot empty and allocates its own), and put back after.
    let mut row_major = Vec::new();
    let rhs = if parallel && rhs.row_stride == 1 && rhs.column_stride != 1 && n > 1 {
        row_major = ROW_MAJOR.take();
        row_major_copy(&rhs, k, n, &mut row_major);
        Operand::rows(&row_major, n)
    } else {
        rhs
    };
    // SAFETY: `out` is valid for m × n row-major values (the caller's contract) and each
    // operand holds every element of its view (checked above); the strides fit `isize`
    // because the views lie inside slices.
    unsafe {
        super::cpu::matmul::gemm_f32(
            m,
            n,
            k,
            out,
            1,
            n as isize,
            accumulate,
            lhs.values.as_ptr(),
            lhs.column_stride as isize,
            lhs.row_stride as isize,
            rhs.values.as_ptr(),
            rhs.column_stride as isize,
            rhs.row_stride as isize,
            1.0,
            1.0,
            parallelism,
        );
    }
    if row_major.capacity() > 0 {
        ROW_MAJOR.set(row_major);
    }
}

/// The `rows × columns` view `operand` (column-major: `row_stride` 1) as a row-major matrix in
/// `out`, in bands of rows on the thread pool, each transposed in 8 × 8 tiles.
#[allow(unsafe_code)]
fn row_major_copy(operand: &Operand<'_>, rows: usize, columns: usize, out: &mut Vec<f32>) {
    // Rows a task writes: 64 values of each source row, four cache lines.
    const BAND: usize = 64;
    debug_assert_eq!(operand.row_stride, 1);
    out.clear();
    out.reserve(rows * columns);
    out.spare_capacity_mut()[..rows * columns]
        .par_chunks_mut(BAND * columns)
        .enumerate()
        .for_each(|(band, chunk)| {
            transpose_band(
                operand.values,
                operand.column_stride,
                band * BAND,
                columns,
                chunk,
            );
        });
    // SAFETY: the bands cover all `rows × columns` values, and `transpose_band` writes every
    // value of each.
    unsafe { out.set_len(rows * columns) };
}

std::thread_local! {
    /// The buffer of the last row-major copy made on this thread, kept for the next: a fresh
    /// one per product was new pages to fault in each time (a weight's size, every step).
    static ROW_MAJOR: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// `values` copied into a new vector, in chunks on the thread pool when it is large (a
/// serial copy of an activation left the pool idle).
#[allow(unsafe_code)]
fn copy_in_parallel(values: &[f32]) -> Vec<f32> {
    const CHUNK: usize = 1 << 15;
    if values.len() <= CHUNK {
        return values.to_vec();
    }
    // SAFETY: each chunk is written whole (`write_copy_of_slice` panics on a length mismatch).
    unsafe {
        written_in_parallel(values.len(), CHUNK, |first, out| {
            out.write_copy_of_slice(&values[first..first + out.len()]);
        })
    }
}

/// `x · weight + bias` over `rows` rows of `x` (`[rows, d_in]`, weight `[d_in, d_out]`, both
/// row-major), as one product that accumulates onto the bias, which is already in the output
/// (no separate pass adds it; the rows are filled with it on the thread pool).
#[allow(unsafe_code)]
pub(super) fn linear_values(
    x: &[f32],
    rows: usize,
    weight: &[f32],
    [d_in, d_out]: [usize; 2],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    // A few rows (a short request) are bound by reading the weight from memory, which the
    // few-row kernel prefetches; its sums are `gemm`'s, so rows answer the same either way.
    if few_rows_fit(rows, d_in) {
        let mut out = Vec::with_capacity(rows * d_out);
        few_rows_linear(
            x,
            rows,
            weight,
            [d_in, d_out],
            bias,
            &mut out.spare_capacity_mut()[..rows * d_out],
        );
        // SAFETY: the kernel wrote every one of the rows x d_out values.
        unsafe { out.set_len(rows * d_out) };
        return out;
    }
    let dims = [rows, d_out, d_in];
    let (x, weight) = (Operand::rows(x, d_in), Operand::rows(weight, d_out));
    let Some(bias) = bias.filter(|_| rows * d_out > 0) else {
        return product(dims, x, weight);
    };
    // Rows a task fills with the bias.
    const ROWS: usize = 16;
    // SAFETY: a chunk is whole rows (`ROWS` of them, fewer in the last), each written whole.
    let mut out = unsafe {
        written_in_parallel(rows * d_out, ROWS * d_out, |_, out| {
            for row in out.chunks_exact_mut(d_out) {
                row.write_copy_of_slice(&bias[..d_out]);
            }
        })
    };
    product_into(&mut out, true, dims, x, weight);
    out
}

/// `x · weight + bias`, then GELU when `gelu` is set, as one matrix product over every row of
/// `x` (Burn's batched form repacks the weight once per sequence) onto the bias.
pub fn linear<const D: usize>(
    x: Tensor<D>,
    layer: &Linear,
    gelu: bool,
) -> Result<Tensor<D>, Tensor<D>> {
    let x = float32(x)?;
    let weight = match float32(layer.weight.val()) {
        Ok(weight) => contiguous(weight),
        Err(_) => return Err(tensor(x)),
    };
    let Ok(bias) = bias32(layer) else {
        return Err(tensor(x));
    };
    let x = contiguous(x);
    let mut dims = x.layout().shape().to_vec();
    let d_in = dims[D - 1];
    let rows = dims[..D - 1].iter().product::<usize>();
    let [w_in, d_out] = [weight.layout().shape()[0], weight.layout().shape()[1]];
    assert_eq!(w_in, d_in, "linear: input width {d_in}, weight rows {w_in}");
    let mut out = linear_values(
        values(&x),
        rows,
        values(&weight),
        [d_in, d_out],
        bias.as_ref().map(values),
    );
    if gelu {
        gelu_in_parallel(&mut out);
    }
    dims[D - 1] = d_out;
    Ok(tensor(from_vec(out, dims)))
}

/// `x · weight + bias` (then GELU when `gelu` is set) with the int8 kernel, when `layer`'s
/// weight was quantized ([`crate::quantize_linears`]) and `x` is a plain Flex float32 tensor.
pub fn linear_int8<const D: usize>(
    x: Tensor<D>,
    layer: &Linear,
    gelu: bool,
) -> Result<Tensor<D>, Tensor<D>> {
    let epilogue = if gelu {
        Epilogue::Gelu
    } else {
        Epilogue::Identity
    };
    linear_int8_shared(x, [layer], epilogue).map(|[out]| out)
}

/// `x · weight + bias` for each of `layers` with the int8 kernel, `x` quantized once for all
/// of them, when every layer's weight was quantized ([`crate::quantize_linears`]) and `x` is a
/// plain Flex float32 tensor. Panics when `x`'s width is not a layer's input width.
pub fn linear_int8_shared<const D: usize, const N: usize>(
    x: Tensor<D>,
    layers: [&Linear; N],
    epilogue: Epilogue,
) -> Result<[Tensor<D>; N], Tensor<D>> {
    let mut weights = Vec::with_capacity(N);
    for layer in layers {
        let Some(int8) = layer.weight.reparameterization::<crate::int8::Int8Weight>() else {
            return Err(x);
        };
        let Ok(bias) = bias32(layer) else {
            return Err(x);
        };
        weights.push((int8, bias));
    }
    let x = contiguous(float32(x)?);
    let dims = x.layout().shape().to_vec();
    let d_in = dims[D - 1];
    for (int8, _) in &weights {
        let w_in = int8.packed().d_in();
        assert_eq!(d_in, w_in, "linear: input width {d_in}, weight rows {w_in}");
    }
    let rows = dims[..D - 1].iter().product::<usize>();
    // One quantization of `x` per way the layers take it (in practice they all take the same).
    let (eight, seven) = (OnceCell::new(), OnceCell::new());
    let kernel = Int8Kernel::detect();
    Ok(std::array::from_fn(|i| {
        let (int8, bias) = &weights[i];
        let packed = int8.packed();
        let bits = packed.activations();
        let input = match bits {
            ActivationBits::Eight => &eight,
            ActivationBits::Seven => &seven,
        }
        .get_or_init(|| QuantizedInput::new(values(&x), rows, d_in, bits));
        let out = int8_linear_quantized(input, packed, bias.as_ref().map(values), kernel, epilogue);
        let mut dims = dims.clone();
        dims[D - 1] = packed.d_out();
        tensor(from_vec(out, dims))
    }))
}

type AttentionInputs = (Tensor<3>, Tensor<3>, Tensor<3>);

/// A float32 Flex tensor's values as a contiguous primitive, on an autodiff device or not, when
/// no gradient flows through it: the kernels read it as a constant.
fn constant32<const D: usize>(tensor: &Tensor<D>) -> Option<FlexTensor> {
    if tensor.dtype() != DType::F32 {
        return None;
    }
    match tensor.clone().try_into_primitive::<Flex>() {
        Ok(primitive) => Some(contiguous(primitive)),
        Err(_) => {
            let tracked = tensor.clone().try_into_primitive::<Autodiff<Flex>>().ok()?;
            (!tracked.is_tracked()).then(|| contiguous(tracked.primitive().clone()))
        }
    }
}

/// An [`AttentionBias`]'s tensors as contiguous Flex float32 primitives, for the kernels.
#[derive(Debug, Default)]
struct BiasParts {
    padding: Option<FlexTensor>,
    /// The values, and their batch and head dimensions (each 1 or full).
    additive: Option<(FlexTensor, usize, usize)>,
    half_window: Option<usize>,
}

impl BiasParts {
    /// The parts of `bias`, or `None` when one is not a constant Flex float32 tensor.
    fn new(bias: Option<&AttentionBias>) -> Option<Self> {
        let Some(bias) = bias else {
            return Some(Self::default());
        };
        let padding = match bias.key_padding() {
            None => None,
            Some(padding) => Some(constant32(padding)?),
        };
        let additive = match bias.additive() {
            None => None,
            Some(additive) => {
                let [batches, heads, _, _] = additive.dims();
                Some((constant32(additive)?, batches, heads))
            }
        };
        Some(Self {
            padding,
            additive,
            half_window: bias.half_window(),
        })
    }

    fn slices(&self) -> ScoreBias<'_> {
        ScoreBias {
            key_padding: self.padding.as_ref().map(values),
            additive: self
                .additive
                .as_ref()
                .map(|(additive, batches, heads)| Additive {
                    values: values(additive),
                    batches: *batches,
                    heads: *heads,
                }),
            half_window: self.half_window,
        }
    }
}

/// Attention with heads read in place (see the `attention` kernel).
pub fn attention(
    query: Tensor<3>,
    key: Tensor<3>,
    value: Tensor<3>,
    bias: Option<&AttentionBias>,
    heads: usize,
) -> Result<Tensor<3>, AttentionInputs> {
    let Some(bias) = BiasParts::new(bias) else {
        return Err((query, key, value));
    };
    let [batch, seq_q, hidden] = query.dims();
    let [_, seq_k, _] = key.dims();
    let (q, k, v) = match (float32(query), float32(key), float32(value)) {
        (Ok(q), Ok(k), Ok(v)) => (contiguous(q), contiguous(k), contiguous(v)),
        (q, k, v) => {
            let back = |r: Result<FlexTensor, Tensor<3>>| r.map_or_else(|t| t, tensor);
            return Err((back(q), back(k), back(v)));
        }
    };
    let shape = AttentionShape {
        batch,
        seq_q,
        seq_k,
        heads,
        head_dim: hidden / heads,
    };
    let len = batch * seq_q * hidden;
    let mut out = Vec::<f32>::with_capacity(len);
    let scale = 1.0 / (shape.head_dim as f32).sqrt();
    attention_kernel(
        values(&q),
        values(&k),
        values(&v),
        bias.slices(),
        scale,
        shape,
        &mut out.spare_capacity_mut()[..len],
    );
    // SAFETY: the attention kernel wrote all `len` values (it panics on any length mismatch).
    #[allow(unsafe_code)]
    unsafe {
        out.set_len(len)
    };
    Ok(tensor(from_vec(out, vec![batch, seq_q, hidden])))
}

/// [`crate::relative_scores`] with kindling's kernel, when every tensor is Flex float32
/// without autodiff (`None` otherwise: the caller takes Burn's operations).
pub fn relative_scores(
    terms: &[crate::RelativeTerm<'_>],
    heads: usize,
    scale: f64,
) -> Option<Tensor<4>> {
    let parts = terms
        .iter()
        .map(|term| {
            let content = contiguous(float32(term.content.clone()).ok()?);
            let positions = contiguous(float32(term.positions.clone()).ok()?);
            Some((content, positions))
        })
        .collect::<Option<Vec<_>>>()?;
    let [batch, seq, hidden] = terms.first()?.content.dims();
    let slices = terms
        .iter()
        .zip(&parts)
        .map(|(term, (content, positions))| RelativeSlices {
            content: values(content),
            positions: values(positions),
            rows: term.index.rows(),
            // The kernel reads every term by query row.
            index: if term.by_key {
                term.index.transposed()
            } else {
                term.index.entries()
            },
            by_key: term.by_key,
        })
        .collect::<Vec<_>>();
    let shape = AttentionShape {
        batch,
        seq_q: seq,
        seq_k: seq,
        heads,
        head_dim: hidden / heads,
    };
    let mut out = vec![0.0f32; batch * heads * seq * seq];
    relative_kernel(&slices, shape, scale as f32, &mut out);
    Some(tensor(from_vec(out, vec![batch, heads, seq, seq])))
}

/// Rows per task of the row-wise kernels below.
const ROWS_PER_TASK: usize = 16;

/// `gelu(input) · gate` of the two halves of `both`'s last dimension, one pass per row.
pub fn gelu_glu<const D: usize>(both: Tensor<D>) -> Result<Tensor<D>, Tensor<D>> {
    let mut dims = both.dims();
    let two = dims[D - 1];
    if !two.is_multiple_of(2) {
        return Err(both);
    }
    let both = contiguous(float32(both)?);
    let half = two / 2;
    let rows = dims[..D - 1].iter().product::<usize>();
    let mut out = vec![0.0f32; rows * half];
    out.par_chunks_mut(ROWS_PER_TASK * half.max(1))
        .zip(values(&both).par_chunks(ROWS_PER_TASK * two.max(1)))
        .for_each(|(out, both)| {
            for (out, row) in out.chunks_exact_mut(half).zip(both.chunks_exact(two)) {
                let (input, gate) = row.split_at(half);
                gelu_gate(out, input, gate);
            }
        });
    dims[D - 1] = half;
    Ok(tensor(from_vec(out, dims.to_vec())))
}

/// The query, key and value of a fused `[batch, seq, 3 · hidden]` projection, query and key
/// rotated by `cos` / `sin` (`[batch or 1, seq, 1, head_dim]`): one pass per row.
pub fn split_rotary_qkv(
    qkv: Tensor<3>,
    cos: &Tensor<4>,
    sin: &Tensor<4>,
) -> Result<(Tensor<3>, Tensor<3>, Tensor<3>), Tensor<3>> {
    let [batch, seq, three] = qkv.dims();
    let [tables, cos_seq, _, head_dim] = cos.dims();
    if !three.is_multiple_of(3)
        || cos.dims() != sin.dims()
        || cos_seq != seq
        || !(tables == 1 || tables == batch)
        || head_dim == 0
        || !head_dim.is_multiple_of(2)
        || !(three / 3).is_multiple_of(head_dim)
    {
        return Err(qkv);
    }
    let (Some(cos), Some(sin)) = (constant32(cos), constant32(sin)) else {
        return Err(qkv);
    };
    let qkv = contiguous(float32(qkv)?);
    let hidden = three / 3;
    let rows = batch * seq;
    let (cos, sin, qkv) = (values(&cos), values(&sin), values(&qkv));
    let mut parts = [
        vec![0.0f32; rows * hidden],
        vec![0.0f32; rows * hidden],
        vec![0.0f32; rows * hidden],
    ];
    let [query, key, value] = &mut parts;
    let chunk = ROWS_PER_TASK * hidden.max(1);
    query
        .par_chunks_mut(chunk)
        .zip(key.par_chunks_mut(chunk))
        .zip(value.par_chunks_mut(chunk))
        .enumerate()
        .for_each(|(task, ((query, key), value))| {
            let first = task * ROWS_PER_TASK;
            let rows = query
                .chunks_exact_mut(hidden)
                .zip(key.chunks_exact_mut(hidden))
                .zip(value.chunks_exact_mut(hidden));
            for (r, ((query, key), value)) in rows.enumerate() {
                let row = first + r;
                let table = if tables == 1 { row % seq } else { row };
                let angles = table * head_dim..(table + 1) * head_dim;
                let (cos, sin) = (&cos[angles.clone()], &sin[angles]);
                let source = &qkv[row * three..(row + 1) * three];
                rotate_heads(query, &source[..hidden], cos, sin);
                rotate_heads(key, &source[hidden..2 * hidden], cos, sin);
                value.copy_from_slice(&source[2 * hidden..]);
            }
        });
    let [query, key, value] = parts;
    let shape = || vec![batch, seq, hidden];
    Ok((
        tensor(from_vec(query, shape())),
        tensor(from_vec(key, shape())),
        tensor(from_vec(value, shape())),
    ))
}

/// The parameter, first and second moments after one AdamW step.
pub type AdamWOutput<const D: usize> = (Tensor<D>, Tensor<D>, Tensor<D>);
/// The inputs handed back when the fused step does not apply.
pub type AdamWInputs<const D: usize> = (Tensor<D>, Tensor<D>, Option<(Tensor<D>, Tensor<D>)>);

/// One AdamW step in one pass over parameter, gradient and moments, in place where the
/// buffers are not shared.
pub fn adamw<const D: usize>(
    param: Tensor<D>,
    grad: Tensor<D>,
    moments: Option<(Tensor<D>, Tensor<D>)>,
    scalars: &AdamWScalars,
) -> Result<AdamWOutput<D>, AdamWInputs<D>> {
    const CHUNK: usize = 1 << 14;
    let all_flex = [&param, &grad]
        .into_iter()
        .chain(moments.iter().flat_map(|(m, v)| [m, v]))
        .all(|t| t.dtype() == DType::F32 && t.clone().try_into_primitive::<Flex>().is_ok());
    if !all_flex || param.shape() != grad.shape() {
        return Err((param, grad, moments));
    }
    let dims = param.dims().to_vec();
    let n = param.shape().num_elements();
    let grad = match float32(grad) {
        Ok(grad) => contiguous(grad),
        Err(grad) => return Err((param, grad, moments)),
    };
    // Unique, contiguous buffers move out without a copy, so the update runs in place.
    let owned = |t: Tensor<D>| -> Vec<f32> {
        float32(t)
            .ok()
            .and_then(|primitive| contiguous(primitive).into_data().try_into_vec::<f32>().ok())
            .unwrap_or_default()
    };
    let mut p = owned(param);
    let (mut m, mut v) = match moments {
        Some((m, v)) => (owned(m), owned(v)),
        None => (vec![0.0f32; n], vec![0.0f32; n]),
    };
    let g = values(&grad);
    assert!(p.len() == n && m.len() == n && v.len() == n && g.len() == n);
    p.par_chunks_mut(CHUNK)
        .zip(m.par_chunks_mut(CHUNK))
        .zip(v.par_chunks_mut(CHUNK))
        .zip(g.par_chunks(CHUNK))
        .for_each(|(((p, m), v), g)| adamw_update(p, g, m, v, scalars));
    let wrap = |values: Vec<f32>| tensor::<D>(from_vec(values, dims.clone()));
    Ok((wrap(p), wrap(m), wrap(v)))
}

/// `Σ x²` of a Flex float32 tensor (with or without autodiff), in chunks on the thread pool,
/// or `None` elsewhere.
pub fn sum_of_squares<const D: usize>(x: &Tensor<D>) -> Option<f64> {
    const CHUNK: usize = 1 << 14;
    if x.dtype() != DType::F32 {
        return None;
    }
    let primitive = match x.clone().try_into_primitive::<Flex>() {
        Ok(primitive) => primitive,
        Err(_) => autodiff32(x.clone()).ok()?.primitive().clone(),
    };
    let primitive = contiguous(primitive);
    let total = values(&primitive)
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut total = 0.0;
            sum_of_squares_into(chunk, &mut total);
            total
        })
        .collect::<Vec<f64>>();
    // The chunks' totals summed in order, not by rayon's `sum`, which groups them by the
    // splits work stealing happened to make: the last bit then changed from run to run, and
    // with it the clipping scale and every weight (two identical training runs on an Intel
    // Xeon ended with different weights).
    let total = total.iter().sum();
    Some(total)
}

/// `x · factor`, in place where `x` is not shared, in chunks on the thread pool; a shared `x`
/// is read once into a new buffer (no copy first, then a second pass to scale it).
#[allow(unsafe_code)]
pub fn scale<const D: usize>(x: Tensor<D>, factor: f32) -> Result<Tensor<D>, Tensor<D>> {
    const CHUNK: usize = 1 << 15;
    let mut primitive = contiguous(float32(x)?);
    let len = primitive.layout().num_elements();
    if let Some(storage) = primitive
        .try_storage_mut::<f32>()
        .filter(|s| s.len() == len)
    {
        storage
            .par_chunks_mut(CHUNK)
            .for_each(|chunk| chunk.iter_mut().for_each(|v| *v *= factor));
        return Ok(tensor(primitive));
    }
    let shape = primitive.layout().shape().to_vec();
    let source = values(&primitive);
    // SAFETY: each chunk is written whole: `zip` pairs it with as many source values, because
    // the chunks cover exactly `source.len()` values.
    let scaled = unsafe {
        written_in_parallel(source.len(), CHUNK, |first, out| {
            for (out, &v) in out.iter_mut().zip(&source[first..]) {
                out.write(v * factor);
            }
        })
    };
    Ok(tensor(from_vec(scaled, shape)))
}

/// Rows of a layer norm per task on the thread pool.
const NORM_ROWS: usize = 16;

/// `layer`'s gamma and beta as contiguous Flex float32 primitives, beta zeros for a norm
/// without one (ModernBERT's); `None` when they are not Flex float32.
fn norm_parameters(layer: &LayerNorm) -> Option<(FlexTensor, FlexTensor)> {
    let gamma = contiguous(float32(layer.gamma.val()).ok()?);
    let beta = match &layer.beta {
        Some(beta) => contiguous(float32(beta.val()).ok()?),
        None => {
            let width = gamma.layout().num_elements();
            from_vec(vec![0.0; width], vec![width])
        }
    };
    Some((gamma, beta))
}

/// `layer(x + residual)` (or `layer(x)`) in one pass per row, in place on `x`'s buffer when it
/// owns it; the inputs come back when they are not Flex float32 without autodiff.
pub fn add_layer_norm<const D: usize>(
    x: Tensor<D>,
    residual: Option<Tensor<D>>,
    layer: &LayerNorm,
    epsilon: f64,
) -> Result<Tensor<D>, (Tensor<D>, Option<Tensor<D>>)> {
    let Some((gamma, beta)) = norm_parameters(layer) else {
        return Err((x, residual));
    };
    if x.dims()[D - 1] != gamma.layout().num_elements() {
        return Err((x, residual));
    }
    let residual = match residual.map(float32) {
        None => None,
        Some(Ok(r)) => Some(contiguous(r)),
        Some(Err(r)) => return Err((x, Some(r))),
    };
    let x = match float32(x) {
        Ok(x) => x,
        Err(x) => return Err((x, residual.map(tensor))),
    };
    if residual
        .as_ref()
        .is_some_and(|r| r.layout().shape() != x.layout().shape())
    {
        return Err((tensor(x), residual.map(tensor)));
    }
    let (gamma, beta) = (values(&gamma), values(&beta));
    let width = gamma.len();
    let out = map_in_place(x, |v| {
        let chunk = NORM_ROWS * width;
        match &residual {
            Some(r) => v
                .par_chunks_mut(chunk)
                .zip(values(r).par_chunks(chunk))
                .for_each(|(v, r)| layer_norm_rows(v, Some(r), gamma, beta, epsilon as f32, None)),
            None => v
                .par_chunks_mut(chunk)
                .for_each(|v| layer_norm_rows(v, None, gamma, beta, epsilon as f32, None)),
        }
    });
    Ok(tensor(out))
}

mod autodiff;

use autodiff::autodiff32;
pub use autodiff::{
    attention_autodiff, embedding_autodiff, gelu_autodiff, layer_norm_autodiff, linear_autodiff,
};
