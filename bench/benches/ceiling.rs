//! The CPU's own ceilings for the inner loops of kindling's matrix kernels: each benchmark
//! runs one instruction pattern, in registers or from L1, with nothing else in the loop, so
//! its rate is what the core can issue, not what a kernel reaches.
//!
//! - `clock`: four dependent integer adds an iteration, one a cycle, so its element rate is
//!   the clock (cycles per second).
//! - `f32 fma x2x6`: the AVX2 float32 micro-kernel's step (`gemm`'s `fma::f32::x2x6`): 2 loads,
//!   6 broadcasts, 12 `vfmadd231ps` into 12 accumulators. Elements are FMAs (8 products each).
//! - `int16 madd x6`: the AVX2 int8 kernel's step: 2 loads, then per row a broadcast, 2
//!   `vpmaddwd` and 2 `vpaddd` into 12 accumulators. Elements are `vpmaddwd` (16 products).
//! - `int16 madd alone`: 12 independent `vpmaddwd`, no adds. Elements are `vpmaddwd`.
//! - `int32 add alone`: 12 independent `vpaddd`. Elements are `vpaddd`: with `madd alone`,
//!   what the int16 step's two halves issue apart.
//! - `int16 madd + f32 fma x6`: three rows of the int16 step and three of the float step in
//!   one loop. Elements are multiplying instructions (`vpmaddwd` and `vfmadd231ps`, 12 an
//!   iteration): if the integer and float multiplies had pipes of their own, this rate would
//!   pass both steps' alone.
//! - `u8s8 maddubs x5`: the saturating 8-bit step that MLAS and fbgemm run on AVX2 without
//!   VNNI, on five rows (a register holds the ones): per row a broadcast, then per register
//!   `vpmaddubsw` (unsigned bytes times signed bytes, pairs summed in saturating int16),
//!   `vpmaddwd` by ones and `vpaddd`. Elements are `vpmaddubsw` (32 products each). It is
//!   exact only when one operand has 7 bits.
//! - `vnni256 x6`: the AVX-VNNI kernel's step: 2 loads, then per row a broadcast and 2
//!   `vpdpbusd` (32 products each, the accumulation included), with the VEX form where the CPU
//!   has AVX-VNNI and the EVEX form where it has AVX-512 VL + VNNI. Elements are `vpdpbusd`.
//!
//! Divide an element rate by `clock`'s for instructions per cycle, and multiply by the
//! products an instruction makes for products per cycle (per core: the loops run on one
//! thread). `cargo bench -p kindling-bench --bench ceiling`; x86-64 only (elsewhere it runs
//! nothing).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::asm;

    /// Loop iterations per call.
    pub const ITERS: u64 = 1 << 14;

    /// 64-byte-aligned scratch the loads and broadcasts read (from L1).
    #[repr(align(64))]
    pub struct Scratch(pub [u8; 512]);

    pub fn clock() {
        let mut x = 0u64;
        for _ in 0..ITERS {
            // SAFETY: integer adds on a register.
            unsafe {
                asm!(
                    "add {0}, 1",
                    "add {0}, 1",
                    "add {0}, 1",
                    "add {0}, 1",
                    inout(reg) x,
                    options(nomem, nostack)
                );
            }
        }
        std::hint::black_box(x);
    }

    macro_rules! fma_row {
        ($offset:literal, $a:literal, $b:literal) => {
            concat!(
                "vbroadcastss ymm12, dword ptr [{p} + ",
                $offset,
                "]\n",
                "vfmadd231ps ",
                $a,
                ", ymm10, ymm12\n",
                "vfmadd231ps ",
                $b,
                ", ymm11, ymm12\n"
            )
        };
    }

    macro_rules! madd_row {
        ($offset:literal, $a:literal, $b:literal) => {
            concat!(
                "vpbroadcastd ymm12, dword ptr [{p} + ",
                $offset,
                "]\n",
                "vpmaddwd ymm13, ymm12, ymm10\n",
                "vpaddd ",
                $a,
                ", ",
                $a,
                ", ymm13\n",
                "vpmaddwd ymm12, ymm12, ymm11\n",
                "vpaddd ",
                $b,
                ", ",
                $b,
                ", ymm12\n"
            )
        };
    }

    macro_rules! dpbusd_row {
        ($offset:literal, $a:literal, $b:literal, $prefix:literal) => {
            concat!(
                "vpbroadcastd ymm12, dword ptr [{p} + ",
                $offset,
                "]\n",
                $prefix,
                "vpdpbusd ",
                $a,
                ", ymm12, ymm10\n",
                $prefix,
                "vpdpbusd ",
                $b,
                ", ymm12, ymm11\n"
            )
        };
    }

    macro_rules! maddubs_row {
        ($offset:literal, $a:literal, $b:literal) => {
            concat!(
                "vpbroadcastd ymm12, dword ptr [{p} + ",
                $offset,
                "]\n",
                "vpmaddubsw ymm13, ymm12, ymm10\n",
                "vpmaddwd ymm13, ymm13, ymm9\n",
                "vpaddd ",
                $a,
                ", ",
                $a,
                ", ymm13\n",
                "vpmaddubsw ymm12, ymm12, ymm11\n",
                "vpmaddwd ymm12, ymm12, ymm9\n",
                "vpaddd ",
                $b,
                ", ",
                $b,
                ", ymm12\n"
            )
        };
    }

    /// The step the x6 patterns share: two 32-byte loads (`$load`) of the weights into
    /// ymm10 and ymm11, then `$row` for each of six rows, whose broadcast reads offsets 64–84
    /// into ymm12 and whose accumulators are ymm0–ymm9, ymm14 and ymm15 (ymm13 is left for a
    /// product register). `$extra` is passed on to each row.
    macro_rules! six_rows {
        ($load:literal, $row:ident $(, $extra:literal)?) => {
            concat!(
                $load,
                " ymm10, ymmword ptr [{p}]\n",
                $load,
                " ymm11, ymmword ptr [{p} + 32]\n",
                $row!("64", "ymm0", "ymm1" $(, $extra)?),
                $row!("68", "ymm2", "ymm3" $(, $extra)?),
                $row!("72", "ymm4", "ymm5" $(, $extra)?),
                $row!("76", "ymm6", "ymm7" $(, $extra)?),
                $row!("80", "ymm8", "ymm9" $(, $extra)?),
                $row!("84", "ymm14", "ymm15" $(, $extra)?),
            )
        };
    }

    /// Runs `ITERS` times an asm body that reads the scratch at `{p}` and may write every
    /// ymm register.
    macro_rules! ymm_loop {
        ($scratch:expr, $body:expr) => {
            for _ in 0..ITERS {
                asm!(
                    $body,
                    p = in(reg) $scratch.0.as_ptr(),
                    out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _,
                    out("ymm4") _, out("ymm5") _, out("ymm6") _, out("ymm7") _,
                    out("ymm8") _, out("ymm9") _, out("ymm10") _, out("ymm11") _,
                    out("ymm12") _, out("ymm13") _, out("ymm14") _, out("ymm15") _,
                    options(nostack, readonly)
                );
            }
        };
    }

    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn fma_x2x6(scratch: &Scratch) {
        // SAFETY: the reads lie inside the scratch; the CPU has AVX2 and FMA.
        unsafe { ymm_loop!(scratch, six_rows!("vmovups", fma_row)) }
    }

    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn madd_x6(scratch: &Scratch) {
        // SAFETY: as above.
        unsafe { ymm_loop!(scratch, six_rows!("vmovdqu", madd_row)) }
    }

    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn madd_alone(scratch: &Scratch) {
        // SAFETY: as above.
        unsafe {
            ymm_loop!(
                scratch,
                concat!(
                    "/* {p} */\n",
                    "vpmaddwd ymm0, ymm12, ymm13\n",
                    "vpmaddwd ymm1, ymm12, ymm13\n",
                    "vpmaddwd ymm2, ymm12, ymm13\n",
                    "vpmaddwd ymm3, ymm12, ymm13\n",
                    "vpmaddwd ymm4, ymm12, ymm13\n",
                    "vpmaddwd ymm5, ymm12, ymm13\n",
                    "vpmaddwd ymm6, ymm12, ymm13\n",
                    "vpmaddwd ymm7, ymm12, ymm13\n",
                    "vpmaddwd ymm8, ymm12, ymm13\n",
                    "vpmaddwd ymm9, ymm12, ymm13\n",
                    "vpmaddwd ymm10, ymm12, ymm13\n",
                    "vpmaddwd ymm11, ymm12, ymm13\n",
                )
            )
        }
    }

    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn add_alone(scratch: &Scratch) {
        // SAFETY: as above.
        unsafe {
            ymm_loop!(
                scratch,
                concat!(
                    "/* {p} */\n",
                    "vpaddd ymm0, ymm0, ymm13\n",
                    "vpaddd ymm1, ymm1, ymm13\n",
                    "vpaddd ymm2, ymm2, ymm13\n",
                    "vpaddd ymm3, ymm3, ymm13\n",
                    "vpaddd ymm4, ymm4, ymm13\n",
                    "vpaddd ymm5, ymm5, ymm13\n",
                    "vpaddd ymm6, ymm6, ymm13\n",
                    "vpaddd ymm7, ymm7, ymm13\n",
                    "vpaddd ymm8, ymm8, ymm13\n",
                    "vpaddd ymm9, ymm9, ymm13\n",
                    "vpaddd ymm10, ymm10, ymm13\n",
                    "vpaddd ymm11, ymm11, ymm13\n",
                )
            )
        }
    }

    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn madd_fma_x6(scratch: &Scratch) {
        // SAFETY: as above.
        unsafe {
            ymm_loop!(
                scratch,
                concat!(
                    "vmovdqu ymm10, ymmword ptr [{p}]\n",
                    "vmovdqu ymm11, ymmword ptr [{p} + 32]\n",
                    madd_row!("64", "ymm0", "ymm1"),
                    fma_row!("68", "ymm2", "ymm3"),
                    madd_row!("72", "ymm4", "ymm5"),
                    fma_row!("76", "ymm6", "ymm7"),
                    madd_row!("80", "ymm8", "ymm9"),
                    fma_row!("84", "ymm14", "ymm15"),
                )
            )
        }
    }

    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn maddubs_x5(scratch: &Scratch) {
        // Five rows: ymm9 holds the int16 factors `vpmaddwd` sums the pairs with (ones in a
        // kernel; any value issues alike), loaded, so no arithmetic instruction makes them.
        // SAFETY: as above.
        unsafe {
            ymm_loop!(
                scratch,
                concat!(
                    "vmovdqu ymm9, ymmword ptr [{p} + 96]\n",
                    "vmovdqu ymm10, ymmword ptr [{p}]\n",
                    "vmovdqu ymm11, ymmword ptr [{p} + 32]\n",
                    maddubs_row!("64", "ymm0", "ymm1"),
                    maddubs_row!("68", "ymm2", "ymm3"),
                    maddubs_row!("72", "ymm4", "ymm5"),
                    maddubs_row!("76", "ymm6", "ymm7"),
                    maddubs_row!("80", "ymm14", "ymm15"),
                )
            )
        }
    }

    /// # Safety
    /// The CPU must have AVX-VNNI.
    #[target_feature(enable = "avx2,avxvnni")]
    pub unsafe fn vnni256_vex(scratch: &Scratch) {
        // SAFETY: as above.
        unsafe { ymm_loop!(scratch, six_rows!("vmovdqu", dpbusd_row, "{{vex}} ")) }
    }

    /// # Safety
    /// The CPU must have AVX-512 VL and VNNI.
    #[target_feature(enable = "avx512vl,avx512vnni")]
    pub unsafe fn vnni256_evex(scratch: &Scratch) {
        // SAFETY: as above.
        unsafe { ymm_loop!(scratch, six_rows!("vmovdqu", dpbusd_row, "")) }
    }
}

#[cfg(target_arch = "x86_64")]
fn ceilings(c: &mut Criterion) {
    use std::arch::is_x86_feature_detected as has;
    use x86::{ITERS, Scratch};

    let scratch = Scratch([1; 512]);
    let mut group = c.benchmark_group("ceiling");
    group.throughput(Throughput::Elements(4 * ITERS));
    group.bench_function("clock", |b| b.iter(x86::clock));
    if !(has!("avx2") && has!("fma")) {
        eprintln!("ceiling: no AVX2 + FMA on this CPU, only the clock measured");
        return;
    }
    group.throughput(Throughput::Elements(12 * ITERS));
    // SAFETY (every call below): the CPU has the instructions checked before it.
    group.bench_function("f32 fma x2x6", |b| {
        b.iter(|| unsafe { x86::fma_x2x6(&scratch) })
    });
    group.bench_function("int16 madd x6", |b| {
        b.iter(|| unsafe { x86::madd_x6(&scratch) })
    });
    group.bench_function("int16 madd alone", |b| {
        b.iter(|| unsafe { x86::madd_alone(&scratch) })
    });
    group.bench_function("int32 add alone", |b| {
        b.iter(|| unsafe { x86::add_alone(&scratch) })
    });
    group.bench_function("int16 madd + f32 fma x6", |b| {
        b.iter(|| unsafe { x86::madd_fma_x6(&scratch) })
    });
    group.throughput(Throughput::Elements(10 * ITERS));
    group.bench_function("u8s8 maddubs x5", |b| {
        b.iter(|| unsafe { x86::maddubs_x5(&scratch) })
    });
    group.throughput(Throughput::Elements(12 * ITERS));
    if has!("avxvnni") {
        group.bench_function("vnni256 x6 (VEX)", |b| {
            b.iter(|| unsafe { x86::vnni256_vex(&scratch) })
        });
    }
    if has!("avx512vl") && has!("avx512vnni") {
        group.bench_function("vnni256 x6 (EVEX)", |b| {
            b.iter(|| unsafe { x86::vnni256_evex(&scratch) })
        });
    }
    group.finish();
}

#[cfg(not(target_arch = "x86_64"))]
fn ceilings(_: &mut Criterion) {
    eprintln!("ceiling: x86-64 only");
}

criterion_group!(benches, ceilings);
criterion_main!(benches);
