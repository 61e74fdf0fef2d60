//! Dynamic int8 matrix products: `x · W + b` with `W` quantized per output channel
//! (symmetric int8, one scale per column) and each row of `x` quantized on the fly (symmetric,
//! one scale per row), accumulated exactly in int32.
//!
//! Both quantizations follow compressed-tensors' `W8A8` scheme, the one a `transformers`
//! int8 checkpoint (`quant_method: compressed-tensors`) is computed with: the scale is
//! `max |v| / 127.5` and a value is `round(v / scale)`, ties to even, clamped to `[-128, 127]`.
//! A float model quantized where the kernel is plain AVX2 takes its activations one bit
//! shorter ([`ActivationBits::Seven`]: `max |v| / 63.5`, values in `[-64, 64]`), as PyTorch's
//! dynamic quantization does on x86 (`reduce_range`), so that AVX2's 8-bit multiply-add is
//! exact; its weights stay 8-bit.
//!
//! The activations are stored as unsigned bytes `q + 128`. The kernels compute the same
//! integers, so their outputs are bit-for-bit equal:
//! - AVX-512 VNNI: `vpdpbusd` multiplies the unsigned bytes by the signed weights, four at a
//!   time, into int32, and `128 · Σ_k w` is taken back off each column.
//! - AVX-VNNI: the same `vpdpbusd` on 256-bit registers (VEX-encoded), for the CPUs that have
//!   it without AVX-512 (Intel's since Alder Lake): 32 products an instruction, the
//!   accumulation included, against the int16 kernel's 16 products in two instructions.
//! - AVX2 with 7-bit activations: `vpmaddubsw` multiplies the weights, stored as unsigned
//!   `w + 128`, by the signed activations and adds pairs into int16, which cannot saturate
//!   (`2 · 255 · 64 < 2¹⁵`); `vpmaddwd` by ones adds the pairs into int32, and
//!   `128 · Σ_k q` is taken back off each row: 32 products in three instructions.
//! - AVX2 with 8-bit activations (a quantized checkpoint's `W8A8`): both sides widened to
//!   int16 (the weights once, the activations per product), then `vpmaddwd` multiplies pairs
//!   of inputs and adds them into int32: 16 products an instruction, none of which can
//!   saturate (the 8-bit form could with 8-bit activations, and making it exact cost more
//!   instructions than the widening saves).
//! - a portable loop, the reference and the fallback.
//!
//! The weights are packed once, in blocks of 16 output columns, 4 inputs per column, the order
//! in which the VNNI kernel reads them; the AVX2 kernels' copies (int16, 2 inputs per column,
//! or the unsigned bytes) are made the first time they run.

use std::mem::MaybeUninit;
use std::sync::OnceLock;

use rayon::prelude::*;

use super::isa::{Isa, avx_vnni_allowed, isa};

/// Output columns per packed block (one AVX-512 register of int32).
const BLOCK: usize = 16;
/// Rows one AVX2 kernel call computes: 6 rows by one block is 12 accumulators, 2 weight
/// registers and a broadcast, inside the 16 registers.
const TILE_ROWS: usize = 6;
/// Rows one 8-bit AVX2 kernel call computes: 5 rows by one block is 10 accumulators, 2
/// weight registers, a broadcast, a product register and the int16 ones.
const U8S8_TILE_ROWS: usize = 5;
/// Rows one AVX-VNNI kernel call computes: 6 rows by one block is 12 accumulators, 2 weight
/// registers and a broadcast (`vpdpbusd` accumulates in place, so no product register).
const VNNI256_TILE_ROWS: usize = 6;
/// Rows one VNNI kernel call computes: 8 rows by 3 blocks is 24 accumulators, 3 weight
/// registers and a broadcast, inside the 32 registers, and the 3 blocks' weights (`48 · d_in`
/// bytes) with 8 rows of activations stay in L1 for `d_in` up to about 768.
const VNNI_TILE_ROWS: usize = 8;
/// Blocks one VNNI kernel call computes.
const VNNI_TILE_BLOCKS: usize = 3;

/// How finely each row of a product's input is quantized (the weights are int8 either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ActivationBits {
    /// Steps of `max |x| / 127.5`, values in `[-128, 127]`: compressed-tensors' `W8A8`, what a
    /// quantized checkpoint declares.
    #[default]
    Eight,
    /// Steps of `max |x| / 63.5`, values in `[-64, 64]`: one bit less, as PyTorch's dynamic
    /// quantization on x86 (`reduce_range`). AVX2's 8-bit `vpmaddubsw` is then exact, and makes
    /// 32 products a cycle where the int16 form makes 25 (`cargo bench --bench ceiling`).
    Seven,
}

impl ActivationBits {
    /// Half the number of steps a row's range is cut into.
    fn half_steps(self) -> f32 {
        match self {
            Self::Eight => HALF_STEPS,
            Self::Seven => 63.5,
        }
    }

    /// The scale of a row whose largest magnitude is `max`.
    fn scale(self, max: f32) -> f32 {
        let scale = scale_for(max, self.half_steps());
        match self {
            Self::Eight => scale,
            // A subnormal scale can be rounded so far down that `max / scale` passes 64.5,
            // and a 65 would saturate the 8-bit kernel's pair sums; a normal one is within
            // 2⁻²⁴ of `max / 63.5`, which keeps every value in [-64, 64].
            Self::Seven => scale.max(f32::MIN_POSITIVE),
        }
    }

    /// What dynamic quantization of a float model takes with `kernel`: seven bits for plain
    /// AVX2 (no VNNI), whose exact 8-bit form is 1.25x slower; eight for every other kernel,
    /// which multiplies 8-bit activations at full speed.
    pub fn for_kernel(kernel: Int8Kernel) -> Self {
        match kernel {
            Int8Kernel::Avx2 => Self::Seven,
            _ => Self::Eight,
        }
    }
}

/// A linear layer's weight, quantized per output channel and packed for the kernels.
#[derive(Debug, Clone)]
pub struct PackedInt8 {
    d_in: usize,
    d_out: usize,
    /// Groups of 4 inputs (`d_in` rounded up to a multiple of 4, over 4).
    groups: usize,
    /// `[block][group][column in block][input in group]`, zero past `d_in` and `d_out`.
    data: Vec<i8>,
    /// Per column (padded to whole blocks): `Σ_k w[k][n]`, for the VNNI offset of 128.
    column_sums: Vec<i32>,
    /// `data` widened to int16 for the AVX2 kernel, `[block][pair][column in block][input in
    /// pair]`, made on its first use (a CPU with VNNI never needs it).
    wide: OnceLock<Vec<i16>>,
    /// `data` as unsigned bytes `w + 128`, for the 8-bit AVX2 kernel, made on its first use.
    unsigned: OnceLock<Vec<u8>>,
    /// Per column (padded with zeros): the scale that maps int8 back to float.
    scales: Vec<f32>,
    /// How the inputs of this weight's products are quantized.
    activations: ActivationBits,
}

impl PackedInt8 {
    /// Quantizes a row-major `[d_in, d_out]` float weight (Burn's `Linear` layout): each column
    /// gets the scale `max |w| / 127.5` and its values `round(w / scale)`, ties to even, in
    /// `[-128, 127]` (compressed-tensors' symmetric per-channel rule).
    pub fn quantize(weight: &[f32], d_in: usize, d_out: usize) -> Self {
        assert_eq!(weight.len(), d_in * d_out, "weight is not d_in x d_out");
        let mut scales = vec![0.0f32; d_out.div_ceil(BLOCK) * BLOCK];
        for row in weight.chunks_exact(d_out.max(1)) {
            for (scale, w) in scales.iter_mut().zip(row) {
                *scale = scale.max(w.abs());
            }
        }
        for scale in &mut scales[..d_out] {
            *scale = scale_for(*scale, HALF_STEPS);
        }
        let mut by_input = vec![0i8; d_in * d_out];
        for (row, out) in weight
            .chunks_exact(d_out.max(1))
            .zip(by_input.chunks_exact_mut(d_out.max(1)))
        {
            quantize_by_column(row, &scales[..d_out], out);
        }
        let mut values = vec![0i8; d_in * d_out];
        for (k, row) in by_input.chunks_exact(d_out.max(1)).enumerate() {
            for (n, &v) in row.iter().enumerate() {
                values[n * d_in + k] = v;
            }
        }
        Self::from_quantized(&values, scales, d_in, d_out)
    }

    /// Packs `values` (row-major `[d_out, d_in]`, one row per output column) with their
    /// per-column `scales` (at least `d_out` of them).
    pub fn from_quantized(values: &[i8], mut scales: Vec<f32>, d_in: usize, d_out: usize) -> Self {
        assert_eq!(values.len(), d_in * d_out, "values are not d_out x d_in");
        let groups = d_in.div_ceil(4);
        let blocks = d_out.div_ceil(BLOCK);
        scales.resize(blocks * BLOCK, 0.0);
        scales[d_out..].fill(0.0);
        let mut data = vec![0i8; blocks * groups * BLOCK * 4];
        let mut column_sums = vec![0i32; blocks * BLOCK];
        for n in 0..d_out {
            let (block, column) = (n / BLOCK, n % BLOCK);
            let row = &values[n * d_in..(n + 1) * d_in];
            column_sums[n] = row.iter().map(|&v| i32::from(v)).sum();
            for (k, &v) in row.iter().enumerate() {
                data[((block * groups + k / 4) * BLOCK + column) * 4 + k % 4] = v;
            }
        }
        Self {
            d_in,
            d_out,
            groups,
            data,
            column_sums,
            wide: OnceLock::new(),
            unsigned: OnceLock::new(),
            scales,
            activations: ActivationBits::Eight,
        }
    }

    /// The same weight, its products quantizing their inputs with `bits`.
    pub fn with_activations(mut self, bits: ActivationBits) -> Self {
        self.activations = bits;
        self
    }

    /// How the inputs of this weight's products are quantized.
    pub fn activations(&self) -> ActivationBits {
        self.activations
    }

    /// The values as unsigned bytes `w + 128` (the top bit flipped), in the packed order.
    fn unsigned(&self) -> &[u8] {
        self.unsigned.get_or_init(|| {
            self.data
                .iter()
                .map(|&v| v.cast_unsigned() ^ 0x80)
                .collect()
        })
    }

    /// The values as int16 in the AVX2 kernel's order: each group of 4 inputs of a block
    /// (`[column][4]`) becomes two pairs (`[pair][column][2]`), so one 32-byte load holds 8
    /// columns' pair.
    fn wide(&self) -> &[i16] {
        self.wide.get_or_init(|| {
            let mut wide = vec![0i16; self.data.len()];
            for (group, out) in self
                .data
                .chunks_exact(BLOCK * 4)
                .zip(wide.chunks_exact_mut(BLOCK * 4))
            {
                for (column, four) in group.chunks_exact(4).enumerate() {
                    for (t, &v) in four.iter().enumerate() {
                        out[((t / 2) * BLOCK + column) * 2 + t % 2] = i16::from(v);
                    }
                }
            }
            wide
        })
    }

    /// Input width.
    pub fn d_in(&self) -> usize {
        self.d_in
    }

    /// Output width.
    pub fn d_out(&self) -> usize {
        self.d_out
    }

    /// The per-column scales (`d_out` of them).
    pub fn scales(&self) -> &[f32] {
        &self.scales[..self.d_out]
    }

    /// The int8 value of input `k`, output column `n`.
    pub fn value(&self, k: usize, n: usize) -> i8 {
        let (block, column) = (n / BLOCK, n % BLOCK);
        self.data[((block * self.groups + k / 4) * BLOCK + column) * 4 + k % 4]
    }

    /// The weight back in float, row-major `[d_in, d_out]`: `value · scale`.
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0.0f32; self.d_in * self.d_out];
        for k in 0..self.d_in {
            for n in 0..self.d_out {
                out[k * self.d_out + n] = f32::from(self.value(k, n)) * self.scales[n];
            }
        }
        out
    }

    /// The values and scales unpacked, row-major `[d_out, d_in]` (a quantized checkpoint's
    /// layout).
    pub fn to_values(&self) -> crate::int8::Int8Values {
        let mut values = vec![0i8; self.d_out * self.d_in];
        for n in 0..self.d_out {
            for k in 0..self.d_in {
                values[n * self.d_in + k] = self.value(k, n);
            }
        }
        crate::int8::Int8Values {
            d_out: self.d_out,
            d_in: self.d_in,
            values,
            scales: self.scales().to_vec(),
        }
    }

    /// Bytes held (the packed values, their int16 or unsigned copy once an AVX2 kernel made
    /// it, and the per-column vectors).
    pub fn bytes(&self) -> usize {
        self.data.len()
            + self.wide.get().map_or(0, |wide| 2 * wide.len())
            + self.unsigned.get().map_or(0, Vec::len)
            + 4 * (self.column_sums.len() + self.scales.len())
    }
}

/// Half the number of int8 steps: a scale is `max |v| / 127.5` (compressed-tensors' rule, for
/// the weights and for 8-bit activations).
const HALF_STEPS: f32 = 127.5;
/// What the stored activation bytes add to each value: `q + 128` is `q` with its top bit
/// flipped.
const OFFSET: i32 = 128;

/// The scale of values whose largest magnitude is `max`, cut into `2 · half_steps` steps
/// (127.5: compressed-tensors' rule); the machine epsilon when `max` is 0, as
/// compressed-tensors avoids dividing by zero.
fn scale_for(max: f32, half_steps: f32) -> f32 {
    let scale = max / half_steps;
    if scale == 0.0 { f32::EPSILON } else { scale }
}

/// `round(v / scale)`, ties to even, clamped to `[-128, 127]`.
#[inline(always)]
fn quantize_value(v: f32, scale: f32) -> i32 {
    (v / scale).clamp(-128.0, 127.0).round_ties_even() as i32
}

#[inline(always)]
fn max_abs_body(row: &[f32], max: &mut f32) {
    let mut lanes = [0.0f32; super::LANES];
    let mut chunks = row.chunks_exact(super::LANES);
    for chunk in &mut chunks {
        for (m, v) in lanes.iter_mut().zip(chunk) {
            *m = m.max(v.abs());
        }
    }
    let tail = chunks
        .remainder()
        .iter()
        .fold(0.0f32, |m, v| m.max(v.abs()));
    *max = super::lanes_max(lanes).max(tail);
}

dispatch!(
    /// One row of a `[d_in, d_out]` weight quantized with each column's scale (compiled per
    /// instruction set so the rounding is one instruction, not a libm call: it runs over every
    /// weight when a model loads).
    quantize_by_column(row: &[f32], scales: &[f32], out: &mut [i8]) {
    for ((q, &w), &scale) in out.iter_mut().zip(row).zip(scales) {
        *q = quantize_value(w, scale) as i8;
    }
});

dispatch!(
    /// The largest magnitude in `row` (NaNs ignored), written to `max`.
    max_abs(row: &[f32], max: &mut f32) {
    max_abs_body(row, max)
});

/// `row` quantized with `scale` into `out` as `q + 128`, in plain Rust. `out` may be
/// uninitialized: its first `row.len()` bytes are written.
fn quantize_values_portable(row: &[f32], out: &mut [MaybeUninit<u8>], scale: f32) {
    for (q, &v) in out.iter_mut().zip(row) {
        q.write((quantize_value(v, scale) + OFFSET) as u8);
    }
}

/// `row` quantized with `scale` into `out` as `q + 128`, with the instruction set `isa`
/// (which the CPU must have); as [`quantize_values_portable`], `out` may be uninitialized.
fn quantize_values(row: &[f32], out: &mut [MaybeUninit<u8>], scale: f32, isa: Isa) {
    assert!(
        out.len() >= row.len(),
        "quantize: output shorter than the row"
    );
    match isa {
        // SAFETY: the CPU has AVX-512 F and BW (what `Isa::Avx512` is detected from), and
        // `out` holds at least `row.len()` bytes.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { x86::quantize_avx512(row, out, scale) },
        // SAFETY: the CPU has AVX2; as above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { x86::quantize_avx2(row, out, scale) },
        _ => quantize_values_portable(row, out, scale),
    }
}

/// One row quantized to int8 (stored as `q + 128`) with the scale `bits` takes (written to
/// `scale`, and `Σ q` to `sum` with seven bits); the padding past the row is the value 0.
/// Every byte of `out` (which may be uninitialized) is written.
#[allow(unsafe_code)]
fn quantize_row(
    row: &[f32],
    out: &mut [MaybeUninit<u8>],
    scale: &mut f32,
    sum: &mut i32,
    bits: ActivationBits,
) {
    let mut max = 0.0f32;
    max_abs(row, &mut max);
    let s = bits.scale(max);
    *scale = s;
    quantize_values(row, out, s, isa());
    for padding in &mut out[row.len()..] {
        padding.write(OFFSET as u8);
    }
    // SAFETY: the row's bytes and the padding's were all just written.
    let out = unsafe { &*(out as *const [MaybeUninit<u8>] as *const [u8]) };
    if bits == ActivationBits::Seven {
        // The stored bytes' sum less the offsets: an unsigned byte sum vectorizes better.
        let stored: u32 = out.iter().map(|&b| u32::from(b)).sum();
        *sum = stored as i32 - OFFSET * out.len() as i32;
    }
}

/// Rows of `x` quantized: unsigned bytes `q + 128` (each row padded with the value 0 to
/// whole groups of 4) and one scale per row; with 7-bit activations also each row's `Σ q`
/// (the 8-bit AVX2 kernel's offset), taken while the row is in cache.
struct QuantizedRows {
    values: Vec<u8>,
    scales: Vec<f32>,
    /// `Σ q` per row with [`ActivationBits::Seven`]; zeros with eight bits, which no kernel
    /// needs them for.
    sums: Vec<i32>,
    stride: usize,
}

fn quantize_rows(
    x: &[f32],
    rows: usize,
    d_in: usize,
    groups: usize,
    bits: ActivationBits,
) -> QuantizedRows {
    let stride = groups * 4;
    // Written once, by `quantize_row`, with no zero fill first (the fill was 1-2% of a MiniLM
    // int8 forward with AVX2).
    let mut values = Vec::<u8>::with_capacity(rows * stride);
    let spare = &mut values.spare_capacity_mut()[..rows * stride];
    let mut scales = vec![0.0f32; rows];
    let mut sums = vec![0i32; rows];
    let (width, stride_or_one) = (d_in.max(1), stride.max(1));
    if rows * d_in >= 1 << 16 {
        x.par_chunks(width)
            .zip(spare.par_chunks_mut(stride_or_one))
            .zip(scales.par_iter_mut().zip(sums.par_iter_mut()))
            .for_each(|((row, out), (scale, sum))| quantize_row(row, out, scale, sum, bits));
    } else {
        x.chunks(width)
            .zip(spare.chunks_mut(stride_or_one))
            .zip(scales.iter_mut().zip(sums.iter_mut()))
            .for_each(|((row, out), (scale, sum))| quantize_row(row, out, scale, sum, bits));
    }
    // SAFETY: `x` has `rows` rows of `d_in` (the caller's check), so every chunk of `stride`
    // bytes was paired with a row, and `quantize_row` wrote all of it. With `d_in` 0 there
    // are no bytes.
    #[allow(unsafe_code)]
    unsafe {
        values.set_len(rows * stride)
    };
    QuantizedRows {
        values,
        scales,
        sums,
        stride,
    }
}

/// The kernel a product runs: the best this CPU has (see [`isa`], which `KINDLING_ISA` can lower).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Int8Kernel {
    /// AVX-512 with VNNI (`vpdpbusd`).
    Avx512Vnni,
    /// `vpdpbusd` on 256-bit registers: AVX-VNNI's VEX form where the CPU has it, otherwise
    /// the same instruction's EVEX form from AVX-512 VL and VNNI (which [`Self::detect`] never
    /// picks, as it picks [`Self::Avx512Vnni`] there; asked for explicitly, it tests this
    /// kernel's arithmetic on an AVX-512 machine).
    AvxVnni,
    /// AVX2 (`vpmaddwd` on int16).
    Avx2,
    /// Plain Rust.
    Portable,
}

impl Int8Kernel {
    /// The kernel for this CPU and the instruction set in use.
    pub fn detect() -> Self {
        Self::choose(
            isa(),
            Self::Avx512Vnni.is_supported(),
            has_avx_vnni() && avx_vnni_allowed(),
        )
    }

    /// The kernel for the instruction set `level` on a CPU with or without AVX-512 VNNI and
    /// AVX-VNNI.
    fn choose(level: Isa, avx512_vnni: bool, avx_vnni: bool) -> Self {
        match level {
            Isa::Avx512 if avx512_vnni => Self::Avx512Vnni,
            // AVX-VNNI is a VEX extension of AVX2, so an AVX2 level keeps it; the EVEX form
            // is not picked when AVX2 is forced, as an AVX2-only CPU would not have it.
            Isa::Avx512 | Isa::Avx2 if avx_vnni => Self::AvxVnni,
            Isa::Avx512 | Isa::Avx2 => Self::Avx2,
            Isa::Baseline => Self::Portable,
        }
    }

    /// Whether this CPU can run the kernel.
    pub fn is_supported(self) -> bool {
        match self {
            Self::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Self::AvxVnni => {
                has_avx_vnni()
                    || (std::arch::is_x86_feature_detected!("avx512vl")
                        && std::arch::is_x86_feature_detected!("avx512vnni"))
            }
            #[cfg(target_arch = "x86_64")]
            Self::Avx512Vnni => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }
}

/// Whether the CPU has AVX-VNNI (with the AVX2 it extends).
fn has_avx_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("avxvnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The output pointer, shared by tasks that write disjoint tiles.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: every task writes its own rows x columns rectangle of the output.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

/// Arguments every tile of one product shares.
struct Product<'a> {
    rows: &'a QuantizedRows,
    weight: &'a PackedInt8,
    /// For the int16 AVX2 kernel: the rows' values as int16 `q` (the stride of `rows`) and the
    /// weight's int16 copy; empty otherwise.
    wide_rows: &'a [i16],
    wide_weight: &'a [i16],
    /// For the 8-bit AVX2 kernel: the rows' values as signed `q` (the stride of `rows`), each
    /// row's `Σ q`, and the weight as unsigned `w + 128`; empty otherwise.
    signed_rows: &'a [i8],
    row_sums: &'a [i32],
    unsigned_weight: &'a [u8],
    /// The bias, padded to whole blocks (zeros when the layer has none).
    bias: &'a [f32],
    out: OutPtr,
}

/// What a product applies to each output value after the bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epilogue {
    /// Nothing: `x · W + b`.
    Identity,
    /// Exact GELU (`transformers`' `"gelu"`), applied to each task's tile while it is still in
    /// cache rather than in a second pass over the whole output.
    Gelu,
}

/// The rows of one input quantized once, for every product that reads them: the query, key
/// and value projections of an attention layer share their input, and quantizing it is a pass
/// over it (two with the AVX2 kernel's int16 copy).
pub struct QuantizedInput {
    rows: QuantizedRows,
    d_in: usize,
    bits: ActivationBits,
    /// The values as int16 `q`, for the int16 AVX2 kernel, made on its first use.
    wide: OnceLock<Vec<i16>>,
    /// The values as signed `q`, for the 8-bit AVX2 kernel, made on its first use.
    signed: OnceLock<Vec<i8>>,
}

impl QuantizedInput {
    /// `x`, row-major `[rows, d_in]`, each row quantized with its own scale: `max |row| /
    /// 127.5` with [`ActivationBits::Eight`], `max |row| / 63.5` with
    /// [`ActivationBits::Seven`] (the weights' [`PackedInt8::activations`]).
    pub fn new(x: &[f32], rows: usize, d_in: usize, bits: ActivationBits) -> Self {
        assert_eq!(x.len(), rows * d_in, "quantize: x is not rows x d_in");
        Self {
            rows: quantize_rows(x, rows, d_in, d_in.div_ceil(4), bits),
            d_in,
            bits,
            wide: OnceLock::new(),
            signed: OnceLock::new(),
        }
    }

    /// The signed copy (`q`: the stored bytes with their top bit flipped back).
    fn signed(&self) -> &[i8] {
        self.signed
            .get_or_init(|| self.each_value(|v| (v ^ 0x80).cast_signed()))
    }

    /// The int16 copy.
    fn wide(&self) -> &[i16] {
        self.wide
            .get_or_init(|| self.each_value(|v| i16::from(v) - OFFSET as i16))
    }

    /// `convert` of every stored byte, in chunks on the thread pool (on the calling thread it
    /// was a serial pass before every AVX2 product, with the pool idle).
    #[allow(unsafe_code)]
    fn each_value<T: Send>(&self, convert: impl Fn(u8) -> T + Sync) -> Vec<T> {
        const CHUNK: usize = 1 << 14;
        let values = &self.rows.values;
        // SAFETY: each chunk is written whole: `zip` pairs it with as many values, because the
        // chunks cover exactly `values.len()` of them.
        unsafe {
            super::written_in_parallel(values.len(), CHUNK, |first, out| {
                for (out, &v) in out.iter_mut().zip(&values[first..]) {
                    out.write(convert(v));
                }
            })
        }
    }
}

/// `quantize(x) · W + bias`, `x` row-major `[rows, d_in]`, into a new `[rows, d_out]` vector,
/// with `kernel` (which must be supported: see [`Int8Kernel::is_supported`]): one product on
/// its own input, as the tests run it.
#[cfg(test)]
pub fn int8_linear(
    x: &[f32],
    rows: usize,
    weight: &PackedInt8,
    bias: Option<&[f32]>,
    kernel: Int8Kernel,
) -> Vec<f32> {
    let input = QuantizedInput::new(x, rows, weight.d_in, weight.activations);
    int8_linear_quantized(&input, weight, bias, kernel, Epilogue::Identity)
}

/// `input · W + bias`, then `epilogue`, into a new `[rows, d_out]` vector, with `kernel`
/// (which must be supported: see [`Int8Kernel::is_supported`]); `input` must be quantized with
/// the weight's [`PackedInt8::activations`]. The output is written once,
/// by the kernels, without first being zeroed (that fill was 5–7% of a BERT-base int8
/// forward).
pub fn int8_linear_quantized(
    input: &QuantizedInput,
    weight: &PackedInt8,
    bias: Option<&[f32]>,
    kernel: Int8Kernel,
    epilogue: Epilogue,
) -> Vec<f32> {
    let (d_in, d_out, rows) = (weight.d_in, weight.d_out, input.rows.scales.len());
    assert_eq!(input.d_in, d_in, "int8_linear: input width is not d_in");
    assert_eq!(
        input.bits, weight.activations,
        "int8_linear: the input is not quantized as the weight's products take it"
    );
    assert!(
        kernel.is_supported(),
        "int8_linear: {kernel:?} is not supported here"
    );
    if rows == 0 || d_out == 0 {
        return Vec::new();
    }
    let len = rows * d_out;
    let mut out = Vec::<f32>::with_capacity(len);
    let quantized = &input.rows;
    let blocks = d_out.div_ceil(BLOCK);
    let mut padded_bias = vec![0.0f32; blocks * BLOCK];
    if let Some(bias) = bias {
        padded_bias[..d_out].copy_from_slice(&bias[..d_out]);
    }
    let avx2 = kernel == Int8Kernel::Avx2;
    let (wide_rows, wide_weight) = if avx2 && input.bits == ActivationBits::Eight {
        (input.wide(), weight.wide())
    } else {
        (&[][..], &[][..])
    };
    let (signed_rows, row_sums, unsigned_weight) = if avx2 && input.bits == ActivationBits::Seven {
        (input.signed(), &quantized.sums[..], weight.unsigned())
    } else {
        (&[][..], &[][..], &[][..])
    };
    let product = Product {
        rows: quantized,
        weight,
        wide_rows,
        wide_weight,
        signed_rows,
        row_sums,
        unsigned_weight,
        bias: &padded_bias,
        out: OutPtr(out.as_mut_ptr()),
    };
    // Tasks: 32 rows by 6 blocks (96 columns, two VNNI tiles wide), small enough for two
    // threads to share a batch of one sequence and large enough to keep a weight panel in cache.
    const TASK_ROWS: usize = 32;
    const TASK_BLOCKS: usize = 6;
    let row_tasks = rows.div_ceil(TASK_ROWS);
    let block_tasks = blocks.div_ceil(TASK_BLOCKS);
    let run = |task: usize| {
        let (r, b) = (task / block_tasks, task % block_tasks);
        let row_range = r * TASK_ROWS..((r + 1) * TASK_ROWS).min(rows);
        let block_range = b * TASK_BLOCKS..((b + 1) * TASK_BLOCKS).min(blocks);
        run_task(&product, row_range.clone(), block_range.clone(), kernel);
        if epilogue == Epilogue::Gelu {
            let columns = block_range.start * BLOCK..(block_range.end * BLOCK).min(d_out);
            for row in row_range {
                // SAFETY: this task just wrote these columns of this row (inside the output),
                // and no other task touches them.
                let values = unsafe {
                    std::slice::from_raw_parts_mut(
                        product.out.0.add(row * d_out + columns.start),
                        columns.len(),
                    )
                };
                super::activation::gelu_in_place(values);
            }
        }
    };
    if rows * d_in * d_out >= 1 << 20 {
        (0..row_tasks * block_tasks).into_par_iter().for_each(run);
    } else {
        (0..row_tasks * block_tasks).for_each(run);
    }
    // SAFETY: the tasks cover every row and every column below `d_out`, and each kernel writes
    // all of its tile's (reading none), so the `len` floats of spare capacity are initialized.
    unsafe { out.set_len(len) };
    out
}

fn run_task(
    product: &Product<'_>,
    rows: std::ops::Range<usize>,
    blocks: std::ops::Range<usize>,
    kernel: Int8Kernel,
) {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Int8Kernel::Avx512Vnni => {
            let mut block = blocks.start;
            while block < blocks.end {
                let n = (blocks.end - block).min(VNNI_TILE_BLOCKS);
                let mut row = rows.start;
                while row < rows.end {
                    let m = (rows.end - row).min(VNNI_TILE_ROWS);
                    // SAFETY: the CPU has AVX-512 BW and VNNI (checked by the caller); the
                    // tile lies inside the output and the packed weight.
                    unsafe { x86::vnni_tile(product, row, m, block, n) };
                    row += m;
                }
                block += n;
            }
        }
        #[cfg(target_arch = "x86_64")]
        Int8Kernel::Avx2 | Int8Kernel::AvxVnni => {
            let eight_bit = !product.unsigned_weight.is_empty();
            let (tile_rows, vex) = match kernel {
                Int8Kernel::Avx2 if eight_bit => (U8S8_TILE_ROWS, false),
                Int8Kernel::Avx2 => (TILE_ROWS, false),
                _ => (VNNI256_TILE_ROWS, has_avx_vnni()),
            };
            for block in blocks {
                // The rows split into tiles of nearly equal height (32 is 6+6+5+5+5+5, not
                // 6+6+6+6+6+2, whose last tile would load each weight for only 2 rows).
                let mut tiles = rows.len().div_ceil(tile_rows);
                let mut row = rows.start;
                while row < rows.end {
                    let m = (rows.end - row).div_ceil(tiles);
                    tiles -= 1;
                    // SAFETY: the CPU has the kernel's instructions (checked by the caller:
                    // AVX2 and FMA, or AVX-VNNI's VEX form when `vex`, else AVX-512 VL and
                    // VNNI); the tile lies inside the output and the packed weight (and the
                    // 8-bit kernel's copies, which `eight_bit` says were made).
                    unsafe {
                        match kernel {
                            Int8Kernel::Avx2 if eight_bit => {
                                x86::avx2_u8s8_tile(product, row, m, block)
                            }
                            Int8Kernel::Avx2 => x86::avx2_tile(product, row, m, block),
                            _ if vex => x86::avx_vnni_tile(product, row, m, block),
                            _ => x86::avx512vl_vnni_tile(product, row, m, block),
                        }
                    }
                    row += m;
                }
            }
        }
        _ => {
            for row in rows {
                for block in blocks.clone() {
                    portable_tile(product, row, block);
                }
            }
        }
    }
}

/// One row by one block, in plain Rust: the reference the SIMD kernels match exactly.
fn portable_tile(product: &Product<'_>, row: usize, block: usize) {
    let Product {
        rows,
        weight,
        bias,
        out,
        ..
    } = product;
    let x = &rows.values[row * rows.stride..(row + 1) * rows.stride];
    let panel = &weight.data[block * weight.groups * BLOCK * 4..][..weight.groups * BLOCK * 4];
    let mut acc = [0i32; BLOCK];
    for (g, xs) in x.chunks_exact(4).enumerate() {
        let ws = &panel[g * BLOCK * 4..(g + 1) * BLOCK * 4];
        for (column, acc) in acc.iter_mut().enumerate() {
            for t in 0..4 {
                *acc += i32::from(xs[t]) * i32::from(ws[column * 4 + t]);
            }
        }
    }
    let end = ((block + 1) * BLOCK).min(weight.d_out);
    for n in block * BLOCK..end {
        let exact = acc[n - block * BLOCK] - OFFSET * weight.column_sums[n];
        let scale = rows.scales[row] * weight.scales[n];
        let value = (exact as f32).mul_add(scale, bias[n]);
        // SAFETY: `row < rows` and `n < d_out`: inside the output.
        unsafe { *out.0.add(row * weight.d_out + n) = value };
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_op_in_unsafe_fn)]
mod x86 {
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    use super::{
        BLOCK, Product, TILE_ROWS, U8S8_TILE_ROWS, VNNI_TILE_BLOCKS, VNNI_TILE_ROWS,
        VNNI256_TILE_ROWS,
    };

    /// Rows `row..row + m` by blocks `block..block + n`, with `vpdpbusd`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn vnni_tile(p: &Product<'_>, row: usize, m: usize, block: usize, n: usize) {
        macro_rules! tiles {
            ($($m:literal),*) => {
                match (m, n) {
                    $(
                        ($m, 1) => vnni::<$m, 1>(p, row, block),
                        ($m, 2) => vnni::<$m, 2>(p, row, block),
                        ($m, 3) => vnni::<$m, 3>(p, row, block),
                    )*
                    _ => unreachable!("tiles are at most {VNNI_TILE_ROWS} x {VNNI_TILE_BLOCKS}"),
                }
            };
        }
        tiles!(1, 2, 3, 4, 5, 6, 7, 8)
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn vnni<const M: usize, const N: usize>(p: &Product<'_>, row: usize, block: usize) {
        let w = p.weight;
        let panel = w.groups * BLOCK * 4;
        let base = w.data.as_ptr().add(block * panel);
        let x = p.rows.values.as_ptr().add(row * p.rows.stride);
        let mut acc = [[_mm512_setzero_si512(); N]; M];
        for g in 0..w.groups {
            let mut ws = [_mm512_setzero_si512(); N];
            for (j, ws) in ws.iter_mut().enumerate() {
                *ws = _mm512_loadu_si512(base.add(j * panel + g * BLOCK * 4).cast());
            }
            for (i, acc) in acc.iter_mut().enumerate() {
                let four = x
                    .add(i * p.rows.stride + g * 4)
                    .cast::<i32>()
                    .read_unaligned();
                let xs = _mm512_set1_epi32(four);
                for (acc, ws) in acc.iter_mut().zip(&ws) {
                    *acc = _mm512_dpbusd_epi32(*acc, xs, *ws);
                }
            }
        }
        // The per-block constants first, then one small body per (row, block) that the
        // compiler unrolls, so the accumulators stay in registers (indexing them in a loop
        // kept a zeroed copy on the stack, a `memset` per tile, 4% of a BERT-base forward).
        let mut offsets = [_mm512_setzero_si512(); N];
        let mut scales = [_mm512_setzero_ps(); N];
        let mut biases = [_mm512_setzero_ps(); N];
        let mut masks = [0 as __mmask16; N];
        for j in 0..N {
            let n0 = (block + j) * BLOCK;
            offsets[j] = _mm512_mullo_epi32(
                _mm512_loadu_si512(w.column_sums.as_ptr().add(n0).cast()),
                _mm512_set1_epi32(super::OFFSET),
            );
            scales[j] = _mm512_loadu_ps(w.scales.as_ptr().add(n0));
            biases[j] = _mm512_loadu_ps(p.bias.as_ptr().add(n0));
            let valid = w.d_out.saturating_sub(n0).min(BLOCK);
            masks[j] = if valid == BLOCK {
                !0
            } else {
                (1u16 << valid) - 1
            };
        }
        for (i, acc) in acc.iter().enumerate() {
            // SAFETY: the tile's rows lie inside the product's rows.
            let row_scale = _mm512_set1_ps(*p.rows.scales.get_unchecked(row + i));
            let dst = p.out.0.add((row + i) * w.d_out + block * BLOCK);
            for j in 0..N {
                let exact = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[j], offsets[j]));
                let value = _mm512_fmadd_ps(exact, _mm512_mul_ps(row_scale, scales[j]), biases[j]);
                _mm512_mask_storeu_ps(dst.add(j * BLOCK), masks[j], value);
            }
        }
    }

    /// `round(v / scale)` clamped to `[-128, 127]`, plus 128, for each value: the portable
    /// rule exactly (`vdivps`, then round to nearest even; a NaN becomes 0 as `as i32` makes it).
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn quantize_avx512(row: &[f32], out: &mut [MaybeUninit<u8>], scale: f32) {
        let s = _mm512_set1_ps(scale);
        let (lo, hi) = (_mm512_set1_ps(-128.0), _mm512_set1_ps(127.0));
        let offset = _mm512_set1_epi32(super::OFFSET);
        let mut chunks = row.chunks_exact(16);
        let mut dst = out.as_mut_ptr();
        for chunk in &mut chunks {
            let q = _mm512_div_ps(_mm512_loadu_ps(chunk.as_ptr()), s);
            let ordered = _mm512_cmp_ps_mask::<_CMP_ORD_Q>(q, q);
            let q = _mm512_maskz_mov_ps(ordered, _mm512_max_ps(_mm512_min_ps(q, hi), lo));
            let i =
                _mm512_cvt_roundps_epi32::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(q);
            let bytes = _mm512_cvtepi32_epi8(_mm512_add_epi32(i, offset));
            _mm_storeu_si128(dst.cast(), bytes);
            dst = dst.add(16);
        }
        let done = row.len() - chunks.remainder().len();
        super::quantize_values_portable(chunks.remainder(), &mut out[done..], scale);
    }

    /// As [`quantize_avx512`], with AVX2.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn quantize_avx2(row: &[f32], out: &mut [MaybeUninit<u8>], scale: f32) {
        let s = _mm256_set1_ps(scale);
        let (lo, hi) = (_mm256_set1_ps(-128.0), _mm256_set1_ps(127.0));
        let offset = _mm256_set1_epi32(super::OFFSET);
        // After the two packs the 4-byte groups are a0 b0 c0 d0 | a1 b1 c1 d1.
        let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        let eight = |p: *const f32| {
            let q = _mm256_div_ps(_mm256_loadu_ps(p), s);
            let ordered = _mm256_cmp_ps::<_CMP_ORD_Q>(q, q);
            let q = _mm256_and_ps(ordered, _mm256_max_ps(_mm256_min_ps(q, hi), lo));
            let q = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(q);
            _mm256_add_epi32(_mm256_cvtps_epi32(q), offset)
        };
        let mut chunks = row.chunks_exact(32);
        let mut dst = out.as_mut_ptr();
        for chunk in &mut chunks {
            let p = chunk.as_ptr();
            let ab = _mm256_packs_epi32(eight(p), eight(p.add(8)));
            let cd = _mm256_packs_epi32(eight(p.add(16)), eight(p.add(24)));
            let bytes = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(ab, cd), order);
            _mm256_storeu_si256(dst.cast(), bytes);
            dst = dst.add(32);
        }
        let done = row.len() - chunks.remainder().len();
        super::quantize_values_portable(chunks.remainder(), &mut out[done..], scale);
    }

    /// `$kernel::<m>(p, row, block)` for a tile of `m` rows, 1 to 6 (both 256-bit kernels'
    /// tiles), `$most` the kernel's largest.
    macro_rules! by_tile_rows {
        ($kernel:ident, $p:expr, $row:expr, $m:expr, $block:expr, $most:expr) => {
            match $m {
                6 => $kernel::<6>($p, $row, $block),
                5 => $kernel::<5>($p, $row, $block),
                4 => $kernel::<4>($p, $row, $block),
                3 => $kernel::<3>($p, $row, $block),
                2 => $kernel::<2>($p, $row, $block),
                1 => $kernel::<1>($p, $row, $block),
                _ => unreachable!("tiles are at most {} rows", $most),
            }
        };
    }

    /// Rows `row..row + m` by one block, with `vpmaddwd` on int16.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn avx2_tile(p: &Product<'_>, row: usize, m: usize, block: usize) {
        by_tile_rows!(avx2, p, row, m, block, TILE_ROWS)
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2<const M: usize>(p: &Product<'_>, row: usize, block: usize) {
        let w = p.weight;
        let pairs = w.groups * 2;
        let base = p.wide_weight.as_ptr().add(block * pairs * BLOCK * 2);
        let stride = p.rows.stride;
        let x = p.wide_rows.as_ptr().add(row * stride);
        let mut acc = [[_mm256_setzero_si256(); 2]; M];
        // Each row's pairs as int32 (one load a broadcast), and the weight walked by pointer.
        let rows: [*const i32; M] = std::array::from_fn(|i| x.add(i * stride).cast::<i32>());
        let mut weights = base;
        for k in 0..pairs {
            let lo = _mm256_loadu_si256(weights.cast());
            let hi = _mm256_loadu_si256(weights.add(16).cast());
            weights = weights.add(BLOCK * 2);
            for (acc, row) in acc.iter_mut().zip(&rows) {
                // Inputs 2k and 2k + 1 of the row in every lane: each lane's product is
                // q0 · w0 + q1 · w1, at most 2 · 128 · 128, exact in int32.
                let xs = _mm256_set1_epi32(row.add(k).read_unaligned());
                acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(xs, lo));
                acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(xs, hi));
            }
        }
        store_rows::<M>(p, row, block, &acc, false);
    }

    /// Rows `row..row + m` by one block, with `vpmaddubsw` on the unsigned weight bytes and
    /// the signed 7-bit activations.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn avx2_u8s8_tile(p: &Product<'_>, row: usize, m: usize, block: usize) {
        match m {
            5 => avx2_u8s8::<5>(p, row, block),
            4 => avx2_u8s8::<4>(p, row, block),
            3 => avx2_u8s8::<3>(p, row, block),
            2 => avx2_u8s8::<2>(p, row, block),
            1 => avx2_u8s8::<1>(p, row, block),
            _ => unreachable!("tiles are at most {U8S8_TILE_ROWS} rows"),
        }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2_u8s8<const M: usize>(p: &Product<'_>, row: usize, block: usize) {
        let w = p.weight;
        let stride = p.rows.stride;
        let x = p.signed_rows.as_ptr().add(row * stride);
        let ones = _mm256_set1_epi16(1);
        let mut acc = [[_mm256_setzero_si256(); 2]; M];
        // As in the int16 kernel: each row's groups of 4 as int32, the weight by pointer.
        let rows: [*const i32; M] = std::array::from_fn(|i| x.add(i * stride).cast::<i32>());
        let mut weights = p.unsigned_weight.as_ptr().add(block * w.groups * BLOCK * 4);
        for g in 0..w.groups {
            // Columns 0-7 and 8-15 of the block, 4 inputs each.
            let lo = _mm256_loadu_si256(weights.cast());
            let hi = _mm256_loadu_si256(weights.add(32).cast());
            weights = weights.add(BLOCK * 4);
            for (acc, row) in acc.iter_mut().zip(&rows) {
                // Inputs 4g..4g + 3 of the row in every lane. `vpmaddubsw` adds pairs
                // (w0 + 128) · q0 + (w1 + 128) · q1, at most 2 · 255 · 64 in magnitude, below
                // int16's saturation; `vpmaddwd` by ones adds the two pairs into int32.
                let xs = _mm256_set1_epi32(row.add(g).read_unaligned());
                let lo4 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, xs), ones);
                let hi4 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, xs), ones);
                acc[0] = _mm256_add_epi32(acc[0], lo4);
                acc[1] = _mm256_add_epi32(acc[1], hi4);
            }
        }
        // Σ (w + 128) · q = Σ w · q + 128 · Σ q: the row's offset comes off every column.
        for (i, acc) in acc.iter_mut().enumerate() {
            let offset = _mm256_set1_epi32(super::OFFSET * p.row_sums[row + i]);
            acc[0] = _mm256_sub_epi32(acc[0], offset);
            acc[1] = _mm256_sub_epi32(acc[1], offset);
        }
        store_rows::<M>(p, row, block, &acc, false);
    }

    /// Writes rows `row..row + M` of block `block` from their int32 sums: `(sum − offset) ·
    /// row scale · column scale + bias`, where the offset is `128 · Σ_k w` per column when the
    /// sums are of the unsigned activations `q + 128` (`unsigned`, the VNNI kernels) and
    /// nothing when they are of `q` (the AVX2 kernels).
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn store_rows<const M: usize>(
        p: &Product<'_>,
        row: usize,
        block: usize,
        acc: &[[__m256i; 2]; M],
        unsigned: bool,
    ) {
        let w = p.weight;
        let n0 = block * BLOCK;
        for half in 0..2 {
            let start = n0 + half * 8;
            let valid = w.d_out.saturating_sub(start).min(8);
            if valid == 0 {
                continue;
            }
            let scales = _mm256_loadu_ps(w.scales.as_ptr().add(start));
            let bias = _mm256_loadu_ps(p.bias.as_ptr().add(start));
            let offset = if unsigned {
                let sums = _mm256_loadu_si256(w.column_sums.as_ptr().add(start).cast());
                _mm256_mullo_epi32(sums, _mm256_set1_epi32(super::OFFSET))
            } else {
                _mm256_setzero_si256()
            };
            for (i, acc) in acc.iter().enumerate() {
                let exact = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc[half], offset));
                let scale = _mm256_mul_ps(_mm256_set1_ps(p.rows.scales[row + i]), scales);
                let value = _mm256_fmadd_ps(exact, scale, bias);
                let dst = p.out.0.add((row + i) * w.d_out + start);
                if valid == 8 {
                    _mm256_storeu_ps(dst, value);
                } else {
                    let mut lanes = [0.0f32; 8];
                    _mm256_storeu_ps(lanes.as_mut_ptr(), value);
                    std::ptr::copy_nonoverlapping(lanes.as_ptr(), dst, valid);
                }
            }
        }
    }

    /// A 256-bit `vpdpbusd` kernel (rows `row..row + m` by one block, on the packed bytes as
    /// the AVX-512 kernel reads them: a group's 16 columns × 4 inputs are two registers),
    /// compiled for the target features `$features` with the intrinsic `$dpbusd`: one body
    /// for AVX-VNNI's VEX form and AVX-512 VL's EVEX form, which compute the same thing.
    macro_rules! vnni256_kernel {
        ($(#[$doc:meta])* $tile:ident, $kernel:ident, $features:literal, $dpbusd:ident) => {
            $(#[$doc])*
            #[target_feature(enable = $features)]
            pub(super) unsafe fn $tile(p: &Product<'_>, row: usize, m: usize, block: usize) {
                by_tile_rows!($kernel, p, row, m, block, VNNI256_TILE_ROWS)
            }

            #[target_feature(enable = $features)]
            unsafe fn $kernel<const M: usize>(p: &Product<'_>, row: usize, block: usize) {
                let w = p.weight;
                let base = w.data.as_ptr().add(block * w.groups * BLOCK * 4);
                let stride = p.rows.stride;
                let x = p.rows.values.as_ptr().add(row * stride);
                let mut acc = [[_mm256_setzero_si256(); 2]; M];
                // As in the int16 kernel: each row's groups as int32, the weight by pointer.
                let rows: [*const i32; M] =
                    std::array::from_fn(|i| x.add(i * stride).cast::<i32>());
                let mut weights = base;
                for g in 0..w.groups {
                    let lo = _mm256_loadu_si256(weights.cast());
                    let hi = _mm256_loadu_si256(weights.add(32).cast());
                    weights = weights.add(BLOCK * 4);
                    for (acc, row) in acc.iter_mut().zip(&rows) {
                        // Inputs 4g..4g + 3 of the row (as `q + 128`) in every lane; each lane
                        // adds their four products with its column's weights, exactly.
                        let xs = _mm256_set1_epi32(row.add(g).read_unaligned());
                        acc[0] = $dpbusd(acc[0], xs, lo);
                        acc[1] = $dpbusd(acc[1], xs, hi);
                    }
                }
                store_rows::<M>(p, row, block, &acc, true);
            }
        };
    }

    vnni256_kernel!(
        /// Rows `row..row + m` by one block, with AVX-VNNI's `vpdpbusd`.
        avx_vnni_tile,
        avx_vnni,
        "avx2,fma,avxvnni",
        _mm256_dpbusd_avx_epi32
    );

    vnni256_kernel!(
        /// As [`avx_vnni_tile`], with the EVEX form of the same instruction (AVX-512 VL and
        /// VNNI), so that its arithmetic is tested on an AVX-512 machine.
        avx512vl_vnni_tile,
        avx512vl_vnni,
        "avx2,fma,avx512vl,avx512vnni",
        _mm256_dpbusd_epi32
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `len` bytes after `fill` wrote into them. They start as 0xAA, so nothing uninitialized
    /// is read: a byte `fill` missed stays 0xAA, for the comparison to catch.
    #[allow(unsafe_code)]
    fn written(len: usize, fill: impl FnOnce(&mut [MaybeUninit<u8>])) -> Vec<u8> {
        let mut bytes = vec![MaybeUninit::new(0xAAu8); len];
        fill(&mut bytes);
        // SAFETY: every byte was initialized (to 0xAA) before `fill` ran.
        bytes
            .into_iter()
            .map(|b| unsafe { b.assume_init() })
            .collect()
    }

    use crate::cpu::test_values as values;

    fn run(
        kernel: Int8Kernel,
        rows: usize,
        d_in: usize,
        d_out: usize,
        bits: ActivationBits,
    ) -> Vec<f32> {
        let x = values(rows * d_in, 1);
        let packed =
            PackedInt8::quantize(&values(d_in * d_out, 2), d_in, d_out).with_activations(bits);
        let bias = values(d_out, 3);
        int8_linear(&x, rows, &packed, Some(&bias), kernel)
    }

    const SHAPES: [(usize, usize, usize); 6] = [
        (1, 4, 1),
        (3, 7, 9),
        (5, 33, 17),
        (9, 64, 70),
        (37, 384, 130),
        (70, 130, 300),
    ];

    /// Both ways of quantizing the activations.
    const BITS: [ActivationBits; 2] = [ActivationBits::Eight, ActivationBits::Seven];

    /// Every kernel but the portable reference.
    const SIMD_KERNELS: [Int8Kernel; 3] = [
        Int8Kernel::Avx2,
        Int8Kernel::AvxVnni,
        Int8Kernel::Avx512Vnni,
    ];

    #[test]
    fn a_shared_input_and_the_gelu_epilogue_give_the_separate_passes_bit_for_bit() {
        let kernels = std::iter::once(Int8Kernel::Portable).chain(SIMD_KERNELS);
        for kernel in kernels.filter(|k| k.is_supported()) {
            for ((rows, d_in, d_out), bits) in SHAPES.into_iter().flat_map(|s| BITS.map(|b| (s, b)))
            {
                let x = values(rows * d_in, 11);
                let input = QuantizedInput::new(&x, rows, d_in, bits);
                // Three products on one quantized input, as the attention projections run.
                for seed in 0..3 {
                    let packed =
                        PackedInt8::quantize(&values(d_in * d_out, 20 + seed), d_in, d_out)
                            .with_activations(bits);
                    let bias = values(d_out, 30 + seed);
                    let alone = int8_linear(&x, rows, &packed, Some(&bias), kernel);
                    let shared = int8_linear_quantized(
                        &input,
                        &packed,
                        Some(&bias),
                        kernel,
                        Epilogue::Identity,
                    );
                    assert_eq!(alone, shared, "{kernel:?} {bits:?} {rows}x{d_in}x{d_out}");
                    let mut then_gelu = alone;
                    super::super::activation::gelu_in_place(&mut then_gelu);
                    let fused =
                        int8_linear_quantized(&input, &packed, Some(&bias), kernel, Epilogue::Gelu);
                    assert_eq!(
                        then_gelu, fused,
                        "{kernel:?} {bits:?} {rows}x{d_in}x{d_out} gelu"
                    );
                }
            }
        }
        // Large enough for the parallel path, whose tasks each apply the epilogue to their tile.
        let (rows, d_in, d_out) = (96, 256, 200);
        let x = values(rows * d_in, 5);
        let packed = PackedInt8::quantize(&values(d_in * d_out, 6), d_in, d_out);
        let kernel = Int8Kernel::detect();
        let mut then_gelu = int8_linear(&x, rows, &packed, None, kernel);
        super::super::activation::gelu_in_place(&mut then_gelu);
        let input = QuantizedInput::new(&x, rows, d_in, packed.activations());
        let fused = int8_linear_quantized(&input, &packed, None, kernel, Epilogue::Gelu);
        assert_eq!(then_gelu, fused);
    }

    #[test]
    fn every_kernel_this_cpu_has_matches_the_portable_one_bit_for_bit() {
        for kernel in SIMD_KERNELS {
            if !kernel.is_supported() {
                eprintln!("{kernel:?}: not on this CPU");
                continue;
            }
            for ((rows, d_in, d_out), bits) in SHAPES.into_iter().flat_map(|s| BITS.map(|b| (s, b)))
            {
                let expected = run(Int8Kernel::Portable, rows, d_in, d_out, bits);
                let got = run(kernel, rows, d_in, d_out, bits);
                assert_eq!(got, expected, "{kernel:?} {bits:?} {rows}x{d_in}x{d_out}");
            }
        }
    }

    #[test]
    fn seven_bit_activations_stay_within_64_steps_for_any_row() {
        // A subnormal row (89 of the least subnormal over 63.5 is 1.4 of it, which rounds
        // to 1: without the floor on the scale its values would reach 89), ordinary rows,
        // zeros, and infinities and NaN.
        let rows: [Vec<f32>; 5] = [
            (0..40).map(|k| f32::from_bits(89 - k)).collect(),
            values(40, 9),
            vec![0.0; 40],
            [f32::INFINITY, -1.0, 2.0, f32::NAN].repeat(10),
            (0..40)
                .map(|k| if k == 7 { -3.0e38 } else { 1.0 })
                .collect(),
        ];
        for row in &rows {
            let input = QuantizedInput::new(row, 1, row.len(), ActivationBits::Seven);
            let q = input.rows.values.iter().map(|&b| i32::from(b) - OFFSET);
            assert!(
                q.clone().all(|q| (-64..=64).contains(&q)),
                "{:?}",
                q.collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn seven_bit_activations_at_their_extremes_do_not_saturate_any_kernel() {
        // Rows of ±1 quantize to ±64 (63.5 steps, rounded to even) and a column of 1s to 127,
        // stored as 255 by the 8-bit AVX2 kernel: its int16 pair sums reach ±2 · 255 · 64, the
        // most they can. A column of -1s is -127 or -128 (the scale's rounding decides), stored
        // as 1 or 0.
        let (rows, d_in, d_out) = (7, 64, 34);
        let x: Vec<f32> = (0..rows * d_in)
            .map(|i| if (i / d_in) % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let w: Vec<f32> = (0..d_in * d_out)
            .map(|i| if (i % d_out) % 3 == 2 { -1.0 } else { 1.0 })
            .collect();
        let packed = PackedInt8::quantize(&w, d_in, d_out).with_activations(ActivationBits::Seven);
        let input = QuantizedInput::new(&x, rows, d_in, ActivationBits::Seven);
        assert!(
            input
                .rows
                .values
                .iter()
                .all(|&b| b == 128 + 64 || b == 128 - 64)
        );
        assert_eq!(packed.value(0, 0), 127);
        let expected = int8_linear(&x, rows, &packed, None, Int8Kernel::Portable);
        for (r, row) in expected.chunks_exact(d_out).enumerate() {
            let q_x = if r % 2 == 0 { 64.0 } else { -64.0 };
            for (n, &v) in row.iter().enumerate() {
                let q_w = f32::from(packed.value(0, n));
                let exact = q_x * q_w * d_in as f32 * input.rows.scales[r] * packed.scales()[n];
                assert!(
                    (v - exact).abs() < 1e-4 * exact.abs(),
                    "[{r}, {n}]: {v} vs {exact}"
                );
            }
        }
        for kernel in SIMD_KERNELS.into_iter().filter(|k| k.is_supported()) {
            let got = int8_linear(&x, rows, &packed, None, kernel);
            assert_eq!(got, expected, "{kernel:?}");
        }
    }

    #[test]
    fn each_cpu_gets_its_best_kernel_at_the_level_in_use() {
        use Int8Kernel::*;
        let cases = [
            // (level, AVX-512 VNNI, AVX-VNNI) → kernel
            ((Isa::Avx512, true, true), Avx512Vnni),
            ((Isa::Avx512, true, false), Avx512Vnni),
            ((Isa::Avx512, false, false), Avx2),
            ((Isa::Avx2, true, false), Avx2),
            ((Isa::Avx2, true, true), AvxVnni),
            ((Isa::Avx2, false, true), AvxVnni),
            ((Isa::Avx2, false, false), Avx2),
            ((Isa::Baseline, true, true), Portable),
        ];
        for ((level, avx512_vnni, avx_vnni), expected) in cases {
            assert_eq!(
                Int8Kernel::choose(level, avx512_vnni, avx_vnni),
                expected,
                "{level:?}, AVX-512 VNNI {avx512_vnni}, AVX-VNNI {avx_vnni}"
            );
        }
        assert!(Int8Kernel::detect().is_supported());
    }

    #[test]
    fn every_quantizer_this_cpu_has_matches_the_portable_one_byte_for_byte() {
        // Ties (x.5 steps), the clamp at both ends, zeros, NaN and infinities, at lengths
        // around both vector widths.
        let scale = 0.25f32;
        let mut special: Vec<f32> = (-140..140).map(|k| k as f32 * 0.125).collect();
        special.extend([
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -0.0,
            1e30,
            -1e30,
        ]);
        special.extend(values(300, 4).iter().map(|v| v * 40.0));
        for isa_level in [Isa::Avx2, Isa::Avx512] {
            if isa_level > super::super::isa::isa() {
                eprintln!("{isa_level:?}: not on this CPU");
                continue;
            }
            for len in [0, 1, 15, 16, 17, 31, 32, 33, 100, special.len()] {
                let row = &special[..len];
                let expected = written(len, |out| quantize_values_portable(row, out, scale));
                let got = written(len, |out| quantize_values(row, out, scale, isa_level));
                assert_eq!(got, expected, "{isa_level:?}, {len} values");
            }
        }
        // The portable rule itself: ties to even, clamped, NaN to 0.
        let bytes = written(6, |out| {
            quantize_values_portable(&[0.125, 0.375, -0.375, 100.0, -100.0, f32::NAN], out, scale)
        });
        let q: Vec<i32> = bytes.iter().map(|&b| i32::from(b) - OFFSET).collect();
        assert_eq!(q, [0, 2, -2, 127, -128, 0]);
    }

    #[test]
    fn the_product_is_the_float_product_within_the_quantization_error() {
        let (rows, d_in, d_out) = (6, 256, 40);
        let x = values(rows * d_in, 1);
        let w = values(d_in * d_out, 2);
        let bias = values(d_out, 3);
        for (bits, tolerance) in [(ActivationBits::Eight, 0.15), (ActivationBits::Seven, 0.3)] {
            let got = run(Int8Kernel::Portable, rows, d_in, d_out, bits);
            for r in 0..rows {
                for n in 0..d_out {
                    let exact: f32 = (0..d_in)
                        .map(|k| x[r * d_in + k] * w[k * d_out + n])
                        .sum::<f32>()
                        + bias[n];
                    // Each factor is off by at most half a step (1/255 of its row's or column's
                    // largest value, here about 1; 1/127 for 7-bit activations): the sum of
                    // 256 such errors stays well below the tolerance.
                    let error = (got[r * d_out + n] - exact).abs();
                    assert!(
                        error < tolerance,
                        "{bits:?} [{r}, {n}]: {} vs {exact}",
                        got[r * d_out + n]
                    );
                }
            }
        }
    }

    #[test]
    fn packing_keeps_every_value_and_dequantizes_within_half_a_step() {
        let (d_in, d_out) = (13, 21);
        let w = values(d_in * d_out, 5);
        let packed = PackedInt8::quantize(&w, d_in, d_out);
        let back = packed.dequantize();
        for k in 0..d_in {
            for n in 0..d_out {
                let step = packed.scales()[n];
                assert!((back[k * d_out + n] - w[k * d_out + n]).abs() <= step * 0.5 + 1e-7);
            }
        }
        let column_max = (0..d_out)
            .map(|n| (0..d_in).map(|k| packed.value(k, n).unsigned_abs()).max())
            .collect::<Vec<_>>();
        // The largest magnitude is 127.5 steps: 127 when it is positive, -128 when negative.
        assert!(
            column_max.iter().all(|m| matches!(m, Some(127 | 128))),
            "{column_max:?}"
        );
    }

    #[test]
    fn a_zero_row_or_column_gives_the_bias() {
        let (d_in, d_out) = (8, 3);
        let mut w = values(d_in * d_out, 7);
        for k in 0..d_in {
            w[k * d_out + 1] = 0.0;
        }
        let packed = PackedInt8::quantize(&w, d_in, d_out);
        let x = [vec![0.0f32; d_in], values(d_in, 8)].concat();
        let bias = [0.5f32, -1.0, 2.0];
        let out = int8_linear(&x, 2, &packed, Some(&bias), Int8Kernel::detect());
        assert_eq!(&out[..3], &bias);
        assert_eq!(out[4], -1.0);
    }
}
