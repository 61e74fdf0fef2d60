//! The instruction set the kernels use: the best this CPU has, or a lower one named by
//! `KINDLING_ISA` (`avx2`, `avx2-novnni`, `baseline`), so that both kernel paths run, and can
//! be timed, on an AVX-512 machine too.

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

/// What `KINDLING_ISA` left the kernels: the level, and whether they may use AVX-VNNI.
#[derive(Debug, Clone, Copy)]
struct Chosen {
    level: Isa,
    avx_vnni: bool,
}

fn chosen() -> Chosen {
    static CHOSEN: OnceLock<Chosen> = OnceLock::new();
    *CHOSEN.get_or_init(|| {
        let cpu = Chosen {
            level: detected(),
            avx_vnni: true,
        };
        let Ok(asked) = std::env::var(ISA_VARIABLE) else {
            return cpu;
        };
        let Some((cap, avx_vnni)) = parse_cap(&asked) else {
            eprintln!(
                "warning: {ISA_VARIABLE}={asked} is not avx512, avx2, avx2-novnni or baseline; \
                 ignored"
            );
            return cpu;
        };
        Chosen {
            level: cpu.level.min(cap),
            avx_vnni,
        }
    })
}

/// The cap a `KINDLING_ISA` value names, and whether it leaves AVX-VNNI (`None`: not a value
/// it takes). `native` (or empty) is no cap.
fn parse_cap(asked: &str) -> Option<(Isa, bool)> {
    Some(match asked.trim().to_ascii_lowercase().as_str() {
        "" | "native" | "avx512" | "avx-512" => (Isa::Avx512, true),
        "avx2" => (Isa::Avx2, true),
        // An AVX2 CPU without AVX-VNNI (Zen 3, Skylake): AVX-VNNI is a VEX extension of AVX2
        // that some AVX2-only CPUs have and others lack, and `avx2` keeps it.
        "avx2-novnni" | "avx2-no-vnni" => (Isa::Avx2, false),
        "baseline" | "sse2" | "none" => (Isa::Baseline, false),
        _ => return None,
    })
}

/// The level in use: what the CPU has, capped by `KINDLING_ISA` (read once; an unknown value
/// is reported on stderr and ignored, and a level above the CPU's cannot be forced).
pub fn isa() -> Isa {
    chosen().level
}

/// Whether the int8 kernels may use AVX-VNNI where the CPU has it: not when `KINDLING_ISA`
/// is `avx2-novnni` (or `baseline`).
pub fn avx_vnni_allowed() -> bool {
    chosen().avx_vnni
}

/// What `KINDLING_ISA` leaves the kernels, as reports name it: the level's
/// [`name`](Isa::name), with `-novnni` where AVX-VNNI was ruled out at the AVX2 level.
pub fn isa_name() -> String {
    let Chosen { level, avx_vnni } = chosen();
    if level == Isa::Avx2 && !avx_vnni {
        format!("{}-novnni", level.name())
    } else {
        level.name().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_of_the_variable_names_its_cap() {
        assert_eq!(parse_cap("native"), Some((Isa::Avx512, true)));
        assert_eq!(parse_cap(""), Some((Isa::Avx512, true)));
        assert_eq!(parse_cap(" AVX2 "), Some((Isa::Avx2, true)));
        assert_eq!(parse_cap("avx2-novnni"), Some((Isa::Avx2, false)));
        assert_eq!(parse_cap("baseline"), Some((Isa::Baseline, false)));
        assert_eq!(parse_cap("avx3"), None);
    }
}
