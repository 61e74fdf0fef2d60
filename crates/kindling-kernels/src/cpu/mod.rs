//! Float32 kernels on slices, the CPU half of [`super`]: vectorizable math (`exp`, `erf`,
//! GELU, softmax, layer norm, dropout masks, AdamW) and attention with heads read in place.
//!
//! The math is straight-line, branch-free code over slices so the compiler vectorizes it, and
//! each kernel is compiled once per instruction set ([`dispatch!`]): AVX-512 and AVX2+FMA
//! where the CPU has them, plain SSE2 otherwise. The scalar `libm` functions Burn's CPU
//! backend calls for `erf` and `exp` cost about 20 ns per element; these run a vector of 8 or
//! 16 in a few cycles.

/// Runs `$body` (a call of an `#[inline(always)]` function) compiled for the best instruction
/// set this CPU offers, chosen at run time (`KINDLING_ISA` can lower it: see [`isa`]). The body
/// sees a constant `FUSED`, true where the level has FMA, to pass to
/// `activation::mul_add` and the functions built on it.
macro_rules! dispatch {
    ($(#[$meta:meta])* $name:ident($($arg:ident: $ty:ty),*) $body:block) => {
        $(#[$meta])*
        #[allow(unsafe_code)]
        pub fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                fn avx512($($arg: $ty),*) {
                    /// Whether `mul_add` fuses (see `activation::mul_add`): this level has FMA.
                    #[allow(dead_code)]
                    const FUSED: bool = true;
                    $body
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) {
                    /// As above.
                    #[allow(dead_code)]
                    const FUSED: bool = true;
                    $body
                }
                match $crate::cpu::isa::isa() {
                    // SAFETY: the CPU has the features the function was compiled for.
                    $crate::cpu::isa::Isa::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above.
                    $crate::cpu::isa::Isa::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::cpu::isa::Isa::Baseline => {}
                }
            }
            /// Whether `mul_add` fuses: not at the baseline level, which has no FMA.
            #[allow(dead_code)]
            const FUSED: bool = false;
            $body
        }
    };
}

/// Lanes the reductions keep apart so they vectorize (one AVX-512 register).
const LANES: usize = 16;

/// The largest of `lanes` (as `f32::max`: a NaN only where every lane is one), folded as a
/// tree, each half onto the other: four dependent steps instead of sixteen. A serial fold
/// ended every row's reduction with a chain of about 80 cycles, as long as the vectorized
/// pass over a 128-wide softmax row itself.
#[inline(always)]
fn lanes_max(mut lanes: [f32; LANES]) -> f32 {
    let mut half = LANES / 2;
    while half > 0 {
        for i in 0..half {
            lanes[i] = lanes[i].max(lanes[i + half]);
        }
        half /= 2;
    }
    lanes[0]
}

/// The sum of `lanes`, folded as a tree as [`lanes_max`] is (why: the same latency chain).
#[inline(always)]
fn lanes_sum(mut lanes: [f32; LANES]) -> f32 {
    let mut half = LANES / 2;
    while half > 0 {
        for i in 0..half {
            lanes[i] += lanes[i + half];
        }
        half /= 2;
    }
    lanes[0]
}

/// `len` values, each chunk of `chunk` of them (the last may be shorter) written by
/// `fill(first value's index, chunk)` on the thread pool, with no zero fill first (a serial
/// fill before a parallel pass left the pool idle).
///
/// # Safety
/// `fill` must write every value of each chunk it is given.
#[allow(unsafe_code)]
pub(crate) unsafe fn written_in_parallel<T: Send>(
    len: usize,
    chunk: usize,
    fill: impl Fn(usize, &mut [std::mem::MaybeUninit<T>]) + Sync,
) -> Vec<T> {
    use rayon::prelude::*;
    let chunk = chunk.max(1);
    let mut out = Vec::<T>::with_capacity(len);
    out.spare_capacity_mut()[..len]
        .par_chunks_mut(chunk)
        .enumerate()
        .for_each(|(index, values)| fill(index * chunk, values));
    // SAFETY: the chunks cover all `len` values and `fill` writes each whole chunk (the
    // caller's contract).
    unsafe { out.set_len(len) };
    out
}

/// The xorshift stream seeded by `seed` that the kernels' tests draw their inputs from, the
/// same on every run.
#[cfg(test)]
pub(crate) fn test_stream(seed: u32) -> impl Iterator<Item = u32> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    std::iter::repeat_with(move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    })
}

/// `len` values in `[-1, 1]` from [`test_stream`].
#[cfg(test)]
pub(crate) fn test_values(len: usize, seed: u32) -> Vec<f32> {
    test_stream(seed)
        .take(len)
        .map(|state| (state as f32 / u32::MAX as f32) * 2.0 - 1.0)
        .collect()
}

pub mod activation;
pub mod attention;
pub mod dropout;
pub mod few_rows;
pub mod int8;
pub mod isa;
pub mod matmul;
pub mod norm;
pub mod optim;
pub mod rotary;
pub mod softmax;
pub mod transpose;
