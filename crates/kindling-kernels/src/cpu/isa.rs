//! The instruction set the kernels use: the best this CPU has, or a lower one named by
//! `KINDLING_ISA` (`avx2`, `baseline`), so that both kernel paths run, and can be timed, on an
//! AVX-512 machine too.

use std::sync::OnceLock;

/// The variable that lowers the instruction set.
pub const ISA_VARIABLE: &str = "KINDLING_ISA";

/// An instruction-set level, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// SSE2 (every x86-64 CPU) or the target's own baseline.
    Baseline,
    /// AVX2 with FMA.
    Avx2,
    /// AVX-512 (F, BW, VL).
    Avx512,
}

impl Isa {
    /// The name `KINDLING_ISA` takes and reports use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Baseline => "baseline",
            Self::Avx2 => "avx2",
            Self::Avx512 => "avx512",
        }
    }
}

fn detected() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") && has!("avx512bw") && has!("avx512vl") && has!("fma") {
            return Isa::Avx512;
        }
        if has!("avx2") && has!("fma") {
            return Isa::Avx2;
        }
    }
    Isa::Baseline
}

/// The level in use: what the CPU has, capped by `KINDLING_ISA` (read once; an unknown value
/// is reported on stderr and ignored, and a level above the CPU's cannot be forced).
pub fn isa() -> Isa {
    static CHOSEN: OnceLock<Isa> = OnceLock::new();
    *CHOSEN.get_or_init(|| {
        let cpu = detected();
        let Ok(asked) = std::env::var(ISA_VARIABLE) else {
            return cpu;
        };
        let cap = match asked.trim().to_ascii_lowercase().as_str() {
            "" | "native" => return cpu,
            "avx512" | "avx-512" => Isa::Avx512,
            "avx2" => Isa::Avx2,
            "baseline" | "sse2" | "none" => Isa::Baseline,
            other => {
                eprintln!(
                    "warning: {ISA_VARIABLE}={other} is not avx512, avx2 or baseline; ignored"
                );
                return cpu;
            }
        };
        cpu.min(cap)
    })
}
