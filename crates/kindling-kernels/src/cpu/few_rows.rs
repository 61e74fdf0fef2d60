//! `x · W + b` for a few rows of `x` (one short request, a handful of tokens), reading the
//! row-major weight where it lies.
//!
//! Why: with few rows a product is bound by reading its weight from memory, once, and a
//! wide weight's rows are each on their own pages, where the hardware prefetchers stop.
//! `gemm` waited on that memory: BERT-base's 768 × 3072 layer at 16 rows ran at 104 GFLOP/s
//! on two Xeon (family 6 model 207) cores, where PyTorch's MKL ran at 176, and a
//! one-sentence BERT-base forward ran at 0.70× PyTorch eager.
//!
//! Each task takes a panel of 64 columns through every row: tiles of up to 6 rows walk the
//! panel's weight rows in order (AVX-512 all 64 columns at once, AVX2 16 at a time), one vector
//! load per 16 (or 8) columns, and multiply-add a broadcast input into each row's
//! accumulators. The first walk prefetches the panel's lines a few
//! weight rows ahead; without it the walk still waited on memory (BERT-base at 16 rows: 330
//! tokens/s, 435 with it).
//!
//! The sums are `gemm`'s, bit for bit, so that a row's answer does not depend on how many rows
//! share its product (a request's, alone or batched with others, which the server's tests hold
//! exactly): the inputs in `gemm`'s blocks of depth ([`depth_block`]), each block's products
//! chained by fused multiply-adds from zero in the order of `k`, and each block's sum added to
//! the output, which starts as the bias (or as the first block's sum without one).

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::isa::{Isa, isa};

/// The most rows for which [`few_rows_linear`] is the faster product at each level (with
/// more, `gemm`'s packed panels pay off), measured on two Xeon (family 6 model 207) cores with
/// BERT-base and MiniLM: with AVX-512 it gained up to 48 rows and lost at 64 on BERT-base;
/// with AVX2 it gained at 8 rows, tied at 16 and lost from 24.
const MOST_ROWS_AVX512: usize = 48;
/// See [`MOST_ROWS_AVX512`].
const MOST_ROWS_AVX2: usize = 16;

/// Weight rows ahead of the one being multiplied that the kernels prefetch: of 0, 4, 8, 16 and
/// 32, 8 was the fastest for BERT-base at 16 and 32 rows (16 rows: 330, 397, 435, 403, 413
/// tokens/s).
const PREFETCH_ROWS: usize = 8;

/// Rows one kernel call computes: 6 rows by 4 AVX-512 vectors is 24 accumulators, 4 weight
/// registers and a broadcast, inside the 32 registers (AVX2: 6 by 2 in its 16).
const TILE_ROWS: usize = 6;

/// Columns one task takes (a cache line of each weight row's four): with AVX-512 one kernel
/// call's 4 vectors, with AVX2 four calls of 2.
const PANEL: usize = 64;

/// Below this many multiply-adds the product runs on the calling thread.
const PARALLEL_MIN: usize = 1 << 18;

/// Whether [`few_rows_linear`] is the faster product for `rows` rows of `d_in` inputs at the
/// instruction set in use (never at the baseline level, where the portable loop is only the
/// reference). With 2 inputs or fewer `gemm` sums in another order, which
/// [`few_rows_linear`] does not follow, so those stay with it.
pub fn few_rows_fit(rows: usize, d_in: usize) -> bool {
    d_in > 2
        && match isa() {
            Isa::Avx512 => rows <= MOST_ROWS_AVX512,
            Isa::Avx2 => rows <= MOST_ROWS_AVX2,
            Isa::Baseline => false,
        }
}

/// The depth (inputs) of the blocks `gemm` sums a product of `rows` rows by `d_out` columns
/// over `d_in` inputs in at `level`: its driver's choice for the micro-kernel of that level
/// (`gemm` computes the row-major `x · W` as `Wᵀ · xᵀ`, so its `m` is `d_out`, its `n` the
/// rows).
fn depth_block(level: Isa, rows: usize, [d_in, d_out]: [usize; 2]) -> usize {
    if d_out <= 64 && rows <= 64 {
        // `gemm`'s shortcut for small products.
        return d_in.min(512);
    }
    let (mr, nr) = match level {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            use gemm_f32::microkernel::avx512f::f32 as kernels;
            (kernels::MR_DIV_N * 16, kernels::NR)
        }
        #[cfg(target_arch = "x86_64")]
        _ => {
            use gemm_f32::microkernel::fma::f32 as kernels;
            (kernels::MR_DIV_N * 8, kernels::NR)
        }
        #[cfg(not(target_arch = "x86_64"))]
        _ => (1, 1),
    };
    gemm_common::cache::kernel_params(d_out, rows, d_in, mr, nr, std::mem::size_of::<f32>())
        .kc
        .max(1)
}

/// `x · weight + bias` for `rows` rows of `x` (`[rows, d_in]`, `weight` `[d_in, d_out]`,
/// both row-major) into `out` (`[rows, d_out]`, every value written), at the instruction set
/// [`isa`] chose (which must be AVX2 or above: [`few_rows_fit`] is false below).
///
/// # Panics
/// When a slice is shorter than its shape, or the level is below AVX2.
pub fn few_rows_linear(
    x: &[f32],
    rows: usize,
    weight: &[f32],
    [d_in, d_out]: [usize; 2],
    bias: Option<&[f32]>,
    out: &mut [MaybeUninit<f32>],
) {
    few_rows_linear_at(isa(), x, rows, weight, [d_in, d_out], bias, out)
}

/// [`few_rows_linear`] at the instruction set `level` (AVX2 or above, which the CPU must
/// have).
fn few_rows_linear_at(
    level: Isa,
    x: &[f32],
    rows: usize,
    weight: &[f32],
    [d_in, d_out]: [usize; 2],
    bias: Option<&[f32]>,
    out: &mut [MaybeUninit<f32>],
) {
    check(x, rows, weight, [d_in, d_out], bias, out);
    assert!(
        level >= Isa::Avx2 && level <= isa(),
        "few_rows_linear: {level:?} is not a SIMD level this CPU has"
    );
    let depth = depth_block(level, rows, [d_in, d_out]);
    let out_ptr = OutPtr(out.as_mut_ptr().cast());
    let run = |panel: usize| {
        let columns = panel * PANEL..((panel + 1) * PANEL).min(d_out);
        let out = out_ptr;
        // SAFETY: the CPU has the level's features; the panel's columns and every row lie
        // inside `x`, `weight`, `bias` and `out` (checked above), and no other task writes
        // these columns.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            x86::panel(
                level,
                x,
                rows,
                weight,
                [d_in, d_out, depth],
                bias,
                columns,
                out.0,
            )
        };
        // The level check above fails first: only x86-64 has the SIMD levels.
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (level, x, weight, bias, depth, columns, out);
            unreachable!("few_rows_linear: no SIMD level here");
        }
    };
    let panels = 0..d_out.div_ceil(PANEL);
    if rows * d_in * d_out >= PARALLEL_MIN {
        panels.into_par_iter().for_each(run);
    } else {
        panels.for_each(run);
    }
}

/// [`few_rows_linear`] at `level` (whose blocks of depth it takes) in plain Rust, `mul_add`
/// in the same order: the reference the SIMD kernels match bit for bit.
#[cfg(test)]
pub fn few_rows_linear_portable(
    level: Isa,
    x: &[f32],
    rows: usize,
    weight: &[f32],
    [d_in, d_out]: [usize; 2],
    bias: Option<&[f32]>,
    out: &mut [MaybeUninit<f32>],
) {
    check(x, rows, weight, [d_in, d_out], bias, out);
    let depth = depth_block(level, rows, [d_in, d_out]);
    for r in 0..rows {
        for n in 0..d_out {
            let mut value = bias.map(|b| b[n]);
            let mut start = 0;
            loop {
                let end = (start + depth).min(d_in);
                let mut sum = 0.0f32;
                for k in start..end {
                    sum = x[r * d_in + k].mul_add(weight[k * d_out + n], sum);
                }
                value = Some(value.map_or(sum, |v| v + sum));
                start = end;
                if start >= d_in {
                    break;
                }
            }
            out[r * d_out + n].write(value.unwrap_or(0.0));
        }
    }
}

fn check(
    x: &[f32],
    rows: usize,
    weight: &[f32],
    [d_in, d_out]: [usize; 2],
    bias: Option<&[f32]>,
    out: &[MaybeUninit<f32>],
) {
    assert!(
        x.len() >= rows * d_in,
        "few_rows_linear: x is not rows x d_in"
    );
    assert!(
        weight.len() >= d_in * d_out,
        "few_rows_linear: weight is not d_in x d_out"
    );
    assert!(
        bias.is_none_or(|b| b.len() >= d_out),
        "few_rows_linear: bias shorter than d_out"
    );
    assert!(
        out.len() >= rows * d_out,
        "few_rows_linear: output shorter than rows x d_out"
    );
}

/// The output pointer, shared by tasks that write disjoint columns.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: every task writes its own columns of the output.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_op_in_unsafe_fn)]
mod x86 {
    use std::arch::x86_64::*;
    use std::ops::Range;

    use super::{Isa, PANEL, PREFETCH_ROWS, TILE_ROWS};

    /// One tile's operands: rows from `x` (`x_stride` apart), the weight from its first
    /// column (`w_stride` apart), `k` inputs summed in blocks of `depth`, the bias from its
    /// first column (null for none) and the output from its first row and column
    /// (`out_stride` apart).
    struct Tile {
        x: *const f32,
        x_stride: usize,
        w: *const f32,
        w_stride: usize,
        k: usize,
        depth: usize,
        bias: *const f32,
        out: *mut f32,
        out_stride: usize,
        /// Cache lines of each weight row (from `w`) to prefetch a few rows ahead.
        prefetch_lines: usize,
    }

    /// Every row through the columns `columns`, in row tiles, at `level`.
    ///
    /// # Safety
    /// The CPU has `level`'s features (AVX2 and FMA at least); the columns and rows lie
    /// inside the slices and `out`.
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn panel(
        level: Isa,
        x: &[f32],
        rows: usize,
        weight: &[f32],
        [d_in, d_out, depth]: [usize; 3],
        bias: Option<&[f32]>,
        columns: Range<usize>,
        out: *mut f32,
    ) {
        // The rows split into tiles of nearly equal height (16 is 6 + 5 + 5, not 6 + 6 + 4).
        let mut tiles = rows.div_ceil(TILE_ROWS);
        let mut row = 0;
        // AVX2 calls take 16 columns each.
        let step = if level == Isa::Avx512 { PANEL } else { 16 };
        let lines = (columns.len() * 4).div_ceil(64);
        let mut first = true;
        while row < rows {
            let m = (rows - row).div_ceil(tiles);
            tiles -= 1;
            for start in columns.clone().step_by(step) {
                let end = (start + step).min(columns.end);
                let tile = Tile {
                    x: x.as_ptr().add(row * d_in),
                    x_stride: d_in,
                    w: weight.as_ptr().add(start),
                    w_stride: d_out,
                    k: d_in,
                    depth,
                    bias: bias.map_or(std::ptr::null(), |b| b.as_ptr().add(start)),
                    out: out.add(row * d_out + start),
                    out_stride: d_out,
                    // The first walk down the panel brings it in from memory, all of its
                    // columns' lines; the later ones find it in cache.
                    prefetch_lines: if first { lines } else { 0 },
                };
                first = false;
                if level == Isa::Avx512 {
                    avx512_columns(&tile, m, end - start);
                } else {
                    avx2_columns(&tile, m, end - start);
                }
            }
            row += m;
        }
    }

    /// The tile's lines of the weight row `ahead` rows on from `w`, on their way from memory
    /// while this row is multiplied: each row of a wide weight is a new page, where the
    /// hardware prefetchers stop.
    #[inline(always)]
    unsafe fn prefetch(t: &Tile, w: *const f32, ahead: usize) {
        let next = w.wrapping_add(ahead * t.w_stride);
        for line in 0..t.prefetch_lines {
            _mm_prefetch::<_MM_HINT_T0>(next.wrapping_add(line * 16).cast());
        }
    }

    /// `m` rows by `width` (at most 64) columns with AVX-512: whole vectors, then a masked
    /// one for the last `width % 16`.
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn avx512_columns(t: &Tile, m: usize, width: usize) {
        macro_rules! whole {
            ($($r:literal),*) => {
                match (m, width / 16) {
                    (_, 0) => {}
                    $(
                        ($r, 1) => avx512::<$r, 1>(t, !0),
                        ($r, 2) => avx512::<$r, 2>(t, !0),
                        ($r, 3) => avx512::<$r, 3>(t, !0),
                        ($r, 4) => avx512::<$r, 4>(t, !0),
                    )*
                    _ => unreachable!("tiles are at most {TILE_ROWS} rows of 4 vectors"),
                }
            };
        }
        whole!(1, 2, 3, 4, 5, 6);
        let (done, rest) = (width / 16 * 16, width % 16);
        if rest > 0 {
            let tail = Tile {
                w: t.w.add(done),
                bias: if t.bias.is_null() {
                    t.bias
                } else {
                    t.bias.add(done)
                },
                out: t.out.add(done),
                ..*t
            };
            let mask = (1u16 << rest) - 1;
            match m {
                1 => avx512::<1, 1>(&tail, mask),
                2 => avx512::<2, 1>(&tail, mask),
                3 => avx512::<3, 1>(&tail, mask),
                4 => avx512::<4, 1>(&tail, mask),
                5 => avx512::<5, 1>(&tail, mask),
                6 => avx512::<6, 1>(&tail, mask),
                _ => unreachable!("tiles are at most {TILE_ROWS} rows"),
            }
        }
    }

    /// `m` rows by `width` (at most 16) columns with AVX2: whole vectors, then a masked one
    /// for the last `width % 8`.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2_columns(t: &Tile, m: usize, width: usize) {
        let all = _mm256_set1_epi32(-1);
        macro_rules! tiles {
            ($vectors:expr, $mask:expr, $($r:literal),*) => {
                match (m, $vectors) {
                    (_, 0) => {}
                    $(
                        ($r, 1) => avx2::<$r, 1>(t, $mask),
                        ($r, 2) => avx2::<$r, 2>(t, $mask),
                    )*
                    _ => unreachable!("tiles are at most {TILE_ROWS} rows of 2 vectors"),
                }
            };
        }
        let (whole, rest) = (width / 8, width % 8);
        if rest == 0 {
            tiles!(whole, all, 1, 2, 3, 4, 5, 6);
            return;
        }
        // The tail's lanes: the first `rest` of a vector.
        let mask = _mm256_cmpgt_epi32(
            _mm256_set1_epi32(rest as i32),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        );
        // The whole vectors and the tail as one tile, the tail its last vector.
        tiles!(whole + 1, mask, 1, 2, 3, 4, 5, 6);
    }

    /// A kernel of `R` rows by `V` vectors of `$lanes` columns, compiled for `$features`, over
    /// the vector type `$vector`, whose lanes of the last vector `mask` keeps (all of them but
    /// in the tail). The accesses are `$load(mask, pointer)` and `$store(pointer, mask,
    /// value)`: one body for both instruction sets, which differ only in these.
    macro_rules! tile_kernel {
        (
            $(#[$doc:meta])* $name:ident, $features:literal, $lanes:literal, $vector:ty,
            $mask:ty, $all:expr, $zero:path, $splat:path, $fma:path, $add:path,
            $load:expr, $store:expr
        ) => {
            $(#[$doc])*
            #[target_feature(enable = $features)]
            #[inline]
            unsafe fn $name<const R: usize, const V: usize>(t: &Tile, mask: $mask) {
                let all: $mask = $all;
                let lanes = |v: usize| if v + 1 == V { mask } else { all };
                let mut start = 0;
                loop {
                    let end = (start + t.depth).min(t.k);
                    let mut acc = [[$zero(); V]; R];
                    for k in start..end {
                        let w = t.w.add(k * t.w_stride);
                        prefetch(t, w, PREFETCH_ROWS);
                        let ws: [$vector; V] =
                            std::array::from_fn(|v| $load(lanes(v), w.add(v * $lanes)));
                        for (r, row) in acc.iter_mut().enumerate() {
                            let xs = $splat(*t.x.add(r * t.x_stride + k));
                            for (acc, w) in row.iter_mut().zip(&ws) {
                                *acc = $fma(xs, *w, *acc);
                            }
                        }
                    }
                    // The block's sum onto the output so far: the bias first, or nothing.
                    for (r, row) in acc.iter().enumerate() {
                        for (v, sum) in row.iter().enumerate() {
                            let dst = t.out.add(r * t.out_stride + v * $lanes);
                            let base = if start > 0 {
                                Some($load(lanes(v), dst.cast_const()))
                            } else if !t.bias.is_null() {
                                Some($load(lanes(v), t.bias.add(v * $lanes)))
                            } else {
                                None
                            };
                            let value = base.map_or(*sum, |base| $add(base, *sum));
                            $store(dst, lanes(v), value);
                        }
                    }
                    start = end;
                    if start >= t.k {
                        break;
                    }
                }
            }
        };
    }

    tile_kernel!(
        /// `R` rows by `V` vectors of 16 columns with AVX-512.
        avx512,
        "avx512f,avx2,fma",
        16,
        __m512,
        __mmask16,
        !0,
        _mm512_setzero_ps,
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        _mm512_add_ps,
        |mask, from: *const f32| _mm512_maskz_loadu_ps(mask, from),
        |to: *mut f32, mask, value| _mm512_mask_storeu_ps(to, mask, value)
    );

    tile_kernel!(
        /// `R` rows by `V` vectors of 8 columns with AVX2.
        avx2,
        "avx2,fma",
        8,
        __m256,
        __m256i,
        _mm256_set1_epi32(-1),
        _mm256_setzero_ps,
        _mm256_set1_ps,
        _mm256_fmadd_ps,
        _mm256_add_ps,
        |mask, from: *const f32| _mm256_maskload_ps(from, mask),
        |to: *mut f32, mask, value| _mm256_maskstore_ps(to, mask, value)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::cpu::test_values as values;

    /// `[rows, d_in]` inputs, a `[d_in, d_out]` weight and a bias.
    fn operands(rows: usize, [d_in, d_out]: [usize; 2]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let x = values(rows * d_in, 1);
        let weight = values(d_in * d_out, 2);
        (x, weight, values(d_out, 3))
    }

    /// What `linear` writes with `f`, from an output filled with NaN (a value `f` missed
    /// fails every comparison).
    fn written(len: usize, f: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
        let mut out = vec![MaybeUninit::new(f32::NAN); len];
        f(&mut out);
        // SAFETY: every value was initialized (to NaN) before `f` ran.
        out.into_iter()
            .map(|v| unsafe { v.assume_init() })
            .collect()
    }

    /// The levels this CPU has that the kernels run at.
    fn levels() -> Vec<Isa> {
        [Isa::Avx2, Isa::Avx512]
            .into_iter()
            .filter(|&level| level <= isa())
            .collect()
    }

    fn same_bits(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits())
    }

    /// `x · weight (+ bias)` as `flex`'s linear layers call `gemm` at `level`: onto the bias
    /// in the output, or into an unread output without one.
    #[allow(unsafe_code)]
    fn gemm_linear(
        level: Isa,
        x: &[f32],
        rows: usize,
        weight: &[f32],
        [d_in, d_out]: [usize; 2],
        bias: Option<&[f32]>,
    ) -> Vec<f32> {
        let mut out = vec![f32::NAN; rows * d_out];
        if let Some(bias) = bias {
            for row in out.chunks_exact_mut(d_out) {
                row.copy_from_slice(bias);
            }
        }
        // SAFETY: the three matrices hold their row-major shapes.
        unsafe {
            super::super::matmul::gemm_f32_at(
                level,
                rows,
                d_out,
                d_in,
                out.as_mut_ptr(),
                1,
                d_out as isize,
                bias.is_some(),
                x.as_ptr(),
                1,
                d_in as isize,
                weight.as_ptr(),
                1,
                d_out as isize,
                1.0,
                1.0,
                gemm::Parallelism::Rayon(0),
            )
        };
        out
    }

    /// Asserts that the kernel at every level this CPU has gives `expected`'s values bit for
    /// bit, for each `(rows, d_in, d_out)` of `shapes`, with a bias and without.
    fn assert_every_level_gives(
        shapes: &[(usize, usize, usize)],
        expected: impl Fn(Isa, &[f32], usize, &[f32], [usize; 2], Option<&[f32]>) -> Vec<f32>,
    ) {
        for level in levels() {
            for &(rows, d_in, d_out) in shapes {
                let (x, weight, bias) = operands(rows, [d_in, d_out]);
                for bias in [Some(&bias[..]), None] {
                    let dims = [d_in, d_out];
                    let kernel = written(rows * d_out, |out| {
                        few_rows_linear_at(level, &x, rows, &weight, dims, bias, out)
                    });
                    let expected = expected(level, &x, rows, &weight, dims, bias);
                    assert!(
                        same_bits(&kernel, &expected),
                        "{level:?} {rows}x{d_in}x{d_out} (bias: {})",
                        bias.is_some()
                    );
                }
            }
        }
    }

    #[test]
    fn every_simd_level_this_cpu_has_matches_the_portable_order_bit_for_bit() {
        // Widths on and off whole vectors and panels, a tail alone, one row to several tiles,
        // depths of one block and of several, products both sides of the parallel threshold.
        let shapes = [
            (1, 3, 1),
            (1, 5, 7),
            (2, 9, 16),
            (5, 33, 70),
            (6, 64, 129),
            (7, 100, 200),
            (13, 384, 384),
            (16, 768, 1000),
            (4, 1300, 40),
            (63, 130, 77),
        ];
        assert_every_level_gives(&shapes, |level, x, rows, weight, dims, bias| {
            written(rows * dims[1], |out| {
                few_rows_linear_portable(level, x, rows, weight, dims, bias, out)
            })
        });
    }

    #[test]
    fn every_row_gets_what_gemm_gives_it_bit_for_bit() {
        // What keeps a request's answer the same alone and batched: the product of many rows
        // (`gemm`) and of few (this kernel) agree on every row. Depths of one `gemm` block
        // and of several, with its small-product shortcut (64 columns or fewer) and without.
        let widths = [
            (3, 2),
            (40, 64),
            (384, 384),
            (700, 30),
            (768, 770),
            (3072, 96),
        ];
        let shapes: Vec<_> = widths
            .into_iter()
            .flat_map(|(d_in, d_out)| [2, 5, 16, 48].map(|rows| (rows, d_in, d_out)))
            .collect();
        assert_every_level_gives(&shapes, gemm_linear);
    }

    #[test]
    fn the_product_is_the_float64_product_within_rounding() {
        let (rows, d_in, d_out) = (3, 50, 20);
        let (x, weight, bias) = operands(rows, [d_in, d_out]);
        let out = written(rows * d_out, |out| {
            few_rows_linear_portable(isa(), &x, rows, &weight, [d_in, d_out], Some(&bias), out)
        });
        for r in 0..rows {
            for n in 0..d_out {
                let exact = f64::from(bias[n])
                    + (0..d_in)
                        .map(|k| f64::from(x[r * d_in + k]) * f64::from(weight[k * d_out + n]))
                        .sum::<f64>();
                assert!(
                    (f64::from(out[r * d_out + n]) - exact).abs() < 1e-5,
                    "[{r}, {n}]"
                );
            }
        }
    }
}
