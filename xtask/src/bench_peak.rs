//! The float32 multiply-add ceiling of this machine, for the bench report.
//!
//! A ratio to PyTorch says who is faster; it does not say how much faster anyone could be. This
//! probe times the one thing a matrix product cannot beat: independent fused multiply-add
//! chains on every bench thread, with the 512-bit and the 256-bit instructions (the two kernel
//! paths). A whole forward pass's float32 operations per second (two per multiply-add)
//! divided by this figure is the share of the peak it reaches, on the CPU that ran it.

use std::time::{Duration, Instant};

/// Independent accumulators per thread: enough to cover two FMA ports of four cycles' latency
/// (eight) with room, few enough to stay in registers with AVX2's sixteen.
#[cfg(target_arch = "x86_64")]
const CHAINS: usize = 12;
/// Multiply-adds per chain between two looks at the clock.
#[cfg(target_arch = "x86_64")]
const STEPS_PER_CHECK: usize = 1 << 20;

/// One instruction set the probe times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    /// AVX-512F, 16 lanes.
    Avx512,
    /// AVX2 with FMA, 8 lanes.
    Avx2,
}

impl Width {
    /// The name the report prints.
    pub fn name(self) -> &'static str {
        match self {
            Width::Avx512 => "avx512f",
            Width::Avx2 => "avx2+fma",
        }
    }

    /// Float32 lanes of one instruction.
    fn lanes(self) -> usize {
        match self {
            Width::Avx512 => 16,
            Width::Avx2 => 8,
        }
    }

    /// Whether this CPU has it.
    pub fn available(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            match self {
                Width::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
                Width::Avx2 => {
                    std::arch::is_x86_feature_detected!("avx2")
                        && std::arch::is_x86_feature_detected!("fma")
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }
}

/// A function that runs `steps` multiply-adds on each of [`CHAINS`] accumulators of one
/// register width and returns the sum of their lanes, so none is optimized away: one body for
/// both widths, named by their intrinsics.
#[cfg(target_arch = "x86_64")]
macro_rules! fma_chains {
    ($(#[$doc:meta])* $name:ident, $features:literal, $lanes:literal,
     $set1:ident, $fmadd:ident, $add:ident, $storeu:ident) => {
        $(#[$doc])*
        #[target_feature(enable = $features)]
        fn $name(steps: usize) -> f32 {
            use std::arch::x86_64::*;
            let mut acc = [$set1(1.0); CHAINS];
            let scale = $set1(0.999_999);
            let shift = $set1(1e-7);
            for _ in 0..steps {
                for a in acc.iter_mut() {
                    *a = $fmadd(*a, scale, shift);
                }
            }
            let mut sum = $set1(0.0);
            for a in acc {
                sum = $add(sum, a);
            }
            let mut lanes = [0f32; $lanes];
            // SAFETY: `lanes` holds the floats of one register, which the store writes.
            unsafe { $storeu(lanes.as_mut_ptr(), sum) };
            lanes.iter().sum()
        }
    };
}

#[cfg(target_arch = "x86_64")]
fma_chains!(
    /// The chains with AVX-512F.
    chains_avx512, "avx512f", 16, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_storeu_ps
);
#[cfg(target_arch = "x86_64")]
fma_chains!(
    /// The chains with AVX2 and FMA.
    chains_avx2, "avx2,fma", 8, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_storeu_ps
);

/// The float32 operations per second (a multiply-add is two) that `threads` threads reach with
/// `width`, each running for about `time`; `None` where the CPU lacks it.
pub fn fma_peak_gflops(width: Width, threads: usize, time: Duration) -> Option<f64> {
    if !width.available() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let threads = threads.max(1);
        let start = Instant::now();
        let steps: Vec<usize> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(move || {
                        let begun = Instant::now();
                        let mut done = 0usize;
                        let mut sink = 0f32;
                        while done == 0 || begun.elapsed() < time {
                            // SAFETY: `available` checked the instruction set above.
                            sink += unsafe {
                                match width {
                                    Width::Avx512 => chains_avx512(STEPS_PER_CHECK),
                                    Width::Avx2 => chains_avx2(STEPS_PER_CHECK),
                                }
                            };
                            done += STEPS_PER_CHECK;
                        }
                        std::hint::black_box(sink);
                        done
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
        });
        let seconds = start.elapsed().as_secs_f64();
        let flops: f64 = steps
            .iter()
            .map(|&s| (s * CHAINS * width.lanes() * 2) as f64)
            .sum();
        Some(flops / seconds / 1e9)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (threads, time);
        None
    }
}

/// `avx512f 388 GFLOP/s, avx2+fma 193 GFLOP/s (2 threads)` for the widths this CPU has, or
/// `none measured` where it has neither.
pub fn describe(threads: usize) -> String {
    let measured: Vec<String> = [Width::Avx512, Width::Avx2]
        .into_iter()
        .filter_map(|w| {
            let gflops = fma_peak_gflops(w, threads, Duration::from_millis(800))?;
            Some(format!("{} {gflops:.0} GFLOP/s", w.name()))
        })
        .collect();
    if measured.is_empty() {
        "none measured (no AVX2 or AVX-512 on this CPU)".into()
    } else {
        format!("{} ({threads} threads)", measured.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every width this CPU has gives a positive, finite rate, and a width it lacks gives none.
    /// No speed is asserted: that is the benchmark's job.
    #[test]
    fn every_available_width_measures() {
        let time = Duration::from_millis(50);
        let avx2 = fma_peak_gflops(Width::Avx2, 1, time);
        let avx512 = fma_peak_gflops(Width::Avx512, 1, time);
        assert_eq!(avx2.is_some(), Width::Avx2.available());
        assert_eq!(avx512.is_some(), Width::Avx512.available());
        for rate in [avx2, avx512].into_iter().flatten() {
            assert!(rate.is_finite() && rate > 0.0, "{rate}");
        }
    }
}
