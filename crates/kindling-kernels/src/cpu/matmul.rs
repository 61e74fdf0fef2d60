//! Float32 matrix products through the `gemm` crate, at the instruction set [`isa`] chose.
//!
//! `gemm` picks its kernels from the CPU alone (AVX-512 with Burn's `x86-v4` feature). When
//! `KINDLING_ISA` lowers the instruction set, the products here run `gemm`'s own AVX2+FMA
//! (or scalar) micro-kernels instead, through its public generic driver, so that a forced-AVX2
//! forward on an AVX-512 machine times what an AVX2-only CPU runs, float products included.

use gemm::Parallelism;

use super::isa::{Isa, isa};

/// `dst ← alpha · dst + beta · lhs · rhs` for an `m × k` by `k × n` product, with `gemm`'s
/// arguments: each matrix is a pointer with a column stride (`*_cs`) and a row stride
/// (`*_rs`), in elements; `dst` is read only when `read_dst` is true.
///
/// # Safety
/// Every element the shapes and strides reach must be inside its allocation, and `dst` must
/// not overlap `lhs` or `rhs` (the contract of `gemm::gemm`).
#[allow(unsafe_code, clippy::too_many_arguments)]
pub unsafe fn gemm_f32(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_cs: isize,
    dst_rs: isize,
    read_dst: bool,
    lhs: *const f32,
    lhs_cs: isize,
    lhs_rs: isize,
    rhs: *const f32,
    rhs_cs: isize,
    rhs_rs: isize,
    alpha: f32,
    beta: f32,
    parallelism: Parallelism,
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        gemm_f32_at(
            isa(),
            m,
            n,
            k,
            dst,
            dst_cs,
            dst_rs,
            read_dst,
            lhs,
            lhs_cs,
            lhs_rs,
            rhs,
            rhs_cs,
            rhs_rs,
            alpha,
            beta,
            parallelism,
        )
    }
}

/// [`gemm_f32`] at the instruction set `level`: `gemm`'s AVX2+FMA kernels for
/// [`Isa::Avx2`] (where the CPU has them), its scalar ones for [`Isa::Baseline`], and its own
/// choice for [`Isa::Avx512`].
///
/// # Safety
/// As [`gemm_f32`].
#[allow(unsafe_code, clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_f32_at(
    level: Isa,
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_cs: isize,
    dst_rs: isize,
    read_dst: bool,
    lhs: *const f32,
    lhs_cs: isize,
    lhs_rs: isize,
    rhs: *const f32,
    rhs_cs: isize,
    rhs_rs: isize,
    alpha: f32,
    beta: f32,
    parallelism: Parallelism,
) {
    // `gemm::gemm` hands its driver a column-oriented destination (the micro-kernels store
    // columns): a row-major `dst` is computed as `dstᵀ = rhsᵀ · lhsᵀ`. The driver called
    // directly below does not, and a row-major `dst` (every linear layer's) then ran the
    // AVX2 product at 85 GFLOP/s instead of 167 for 1024 × 768 × 3072 on a Zen 4.
    let (m, n, dst_cs, dst_rs, lhs, lhs_cs, lhs_rs, rhs, rhs_cs, rhs_rs) =
        if dst_cs.unsigned_abs() < dst_rs.unsigned_abs() {
            (
                n, m, dst_rs, dst_cs, rhs, rhs_rs, rhs_cs, lhs, lhs_rs, lhs_cs,
            )
        } else {
            (
                m, n, dst_cs, dst_rs, lhs, lhs_cs, lhs_rs, rhs, rhs_cs, rhs_rs,
            )
        };
    macro_rules! with_kernels {
        ($simd:expr, $kernels:path, $lanes:literal) => {{
            use $kernels as kernels;
            // SAFETY: forwarded from the caller; the micro-kernels are the ones `gemm`
            // pairs with this SIMD level and lane count.
            unsafe {
                gemm_common::gemm::gemm_basic_generic::<
                    _,
                    f32,
                    $lanes,
                    { kernels::MR_DIV_N * $lanes },
                    { kernels::NR },
                    { kernels::MR_DIV_N },
                    { kernels::H_M },
                    { kernels::H_N },
                >(
                    $simd,
                    m,
                    n,
                    k,
                    dst,
                    dst_cs,
                    dst_rs,
                    read_dst,
                    lhs,
                    lhs_cs,
                    lhs_rs,
                    rhs,
                    rhs_cs,
                    rhs_rs,
                    alpha,
                    beta,
                    false,
                    false,
                    false,
                    |a, b, c| a * b + c,
                    &kernels::UKR,
                    &kernels::H_UKR,
                    false,
                    parallelism,
                )
            }
        }};
    }
    match level {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            if let Some(simd) = gemm_common::simd::V3::try_new() {
                return with_kernels!(simd, gemm_f32::microkernel::fma::f32, 8);
            }
        }
        Isa::Baseline => {
            return with_kernels!(
                gemm_common::simd::Scalar,
                gemm_f32::microkernel::scalar::f32,
                1
            );
        }
        _ => {}
    }
    // SAFETY: forwarded from the caller.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            dst_cs,
            dst_rs,
            read_dst,
            lhs,
            lhs_cs,
            lhs_rs,
            rhs,
            rhs_cs,
            rhs_rs,
            alpha,
            beta,
            false,
            false,
            false,
            parallelism,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every level this CPU has gives the naive product, large enough for `gemm`'s packed
    /// path and small enough for its direct one, into a row-major destination (which the
    /// driver computes transposed) and a column-major one.
    #[test]
    #[allow(unsafe_code)]
    fn every_level_this_cpu_has_gives_the_naive_product() {
        for level in [Isa::Baseline, Isa::Avx2, Isa::Avx512] {
            if level > isa() {
                eprintln!("{level:?}: not on this CPU");
                continue;
            }
            for (m, n, k) in [(3, 5, 4), (37, 29, 70), (130, 97, 260)] {
                check(level, m, n, k, true);
                check(level, m, n, k, false);
            }
        }
    }

    fn check(level: Isa, m: usize, n: usize, k: usize, row_major: bool) {
        let lhs: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
        let rhs: Vec<f32> = (0..k * n).map(|i| ((i * 5) % 11) as f32 - 5.0).collect();
        let mut dst = vec![1.0f32; m * n];
        let (dst_cs, dst_rs) = if row_major { (1, n) } else { (m, 1) };
        let at = |i: usize, j: usize| i * dst_rs + j * dst_cs;
        // SAFETY: row-major m × k and k × n buffers and an m × n one, with matching strides.
        unsafe {
            gemm_f32_at(
                level,
                m,
                n,
                k,
                dst.as_mut_ptr(),
                dst_cs as isize,
                dst_rs as isize,
                true,
                lhs.as_ptr(),
                1,
                k as isize,
                rhs.as_ptr(),
                1,
                n as isize,
                1.0,
                2.0,
                Parallelism::None,
            )
        };
        for i in 0..m {
            for j in 0..n {
                let exact: f32 = (0..k).map(|t| lhs[i * k + t] * rhs[t * n + j]).sum();
                // Small integers: every order of the sums is exact.
                assert_eq!(
                    dst[at(i, j)],
                    1.0 + 2.0 * exact,
                    "{level:?} {m}x{n}x{k} row-major {row_major} [{i}, {j}]"
                );
            }
        }
    }
}
