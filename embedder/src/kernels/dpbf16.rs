//! bf16 dot products on AVX-512 (`vdpbf16ps`), for CPUs with AVX512-BF16 and no AMX
//! (AMD Zen 4 and later, the node most homelabs buy): the same packed weights and bf16
//! activations as the AMX path ([`super::amx::PackedWeights`], [`super::amx::round_rows`]),
//! one 32 × 32 block of C per call, driven by the same [`super::amx::matmul_with`].
//!
//! `vdpbf16ps acc, a, b` adds `a[2i]·b[2i] + a[2i+1]·b[2i+1]` to f32 lane `i`: two
//! multiply-adds per lane where an f32 FMA does one. A packed weight tile row holds, for 16
//! output columns, the weights of two consecutive inputs interleaved; with `a` the same two
//! activations of one row in every lane, one instruction advances 16 columns of that row by
//! two inputs. The block is done 8 rows at a time — 16 accumulators (8 rows × 2 halves of
//! 16 columns) — each pair of inputs costing two weight loads, eight broadcasts and sixteen
//! dot products. Accumulation is f32, as on AMX tiles, so the results agree with the AMX
//! path's to rounding.
//!
//! Whether it beats f32 depends on the core: Zen 4 is said to issue it at the f32 FMA's
//! rate (twice the work), an Intel core measured earlier at half (no gain). Issue 26 asks
//! for it only where a probe measures it faster; until that is built, nothing selects it.

/// True when this CPU has AVX-512 (F, BW, DQ, VL) and AVX512-BF16. Asked once.
pub fn usable() -> bool {
    use std::sync::OnceLock;
    static USABLE: OnceLock<bool> = OnceLock::new();
    *USABLE.get_or_init(imp::detect)
}

/// One 32 × 32 block of C, as the AMX kernel's (`super::amx`): `c[0..32, 0..32] +=
/// a[0..32, :] · [w0 | w1]` over `kbs` packed tiles of 32 inputs; with `init`, the
/// accumulators start from the 32 values at `init` in every row instead of from `c`.
///
/// # Safety
/// [`usable`] is true; `a` valid for 32 rows of `kbs·32` bf16 at row stride `lda`,
/// `w0`/`w1` for `kbs` packed tiles each, `c` for 32 rows of 32 f32 at row stride `ldc`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn block(kbs: usize, a: *const u16, lda: usize, w0: *const u16, w1: *const u16, c: *mut f32, ldc: usize, init: Option<*const f32>) {
    imp::block(kbs, a, lda, w0, w1, c, ldc, init)
}

#[cfg(target_arch = "x86_64")]
mod imp {
    use std::arch::asm;
    use std::arch::x86_64::*;

    /// Rows of C done together: 8 rows × 2 column halves = 16 of the 32 zmm registers.
    const ROWS: usize = 8;

    pub fn detect() -> bool {
        // CPUID leaf 7, sub-leaf 1, EAX bit 5: AVX512_BF16. The AVX-512 check also asks the
        // OS (XCR0) whether it saves the zmm state.
        let bf16 = std::arch::x86_64::__cpuid_count(7, 1).eax & (1 << 5) != 0;
        crate::kernels::has_avx512() && bf16
    }

    /// `acc += dot(a, b)` over bf16 pairs. Written as the instruction (the intrinsic is not
    /// stable yet), as a macro so it sits inside the `avx512f` function that owns the zmm
    /// registers; the register allocator still keeps the accumulators in them.
    macro_rules! dp {
        ($acc:expr, $a:expr, $b:expr) => {
            asm!("vdpbf16ps {acc}, {a}, {b}", acc = inout(zmm_reg) $acc, a = in(zmm_reg) $a, b = in(zmm_reg) $b, options(pure, nomem, nostack))
        };
    }

    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    pub unsafe fn block(kbs: usize, a: *const u16, lda: usize, w0: *const u16, w1: *const u16, c: *mut f32, ldc: usize, init: Option<*const f32>) {
        // The tiles of one column block are contiguous, 16 pair-rows of 32 bf16 each: pair
        // `p` of the inputs is 32 bf16 at `p · 32`, whichever tile it falls in.
        let pairs = kbs * super::super::amx::TILE_K / 2;
        for g in 0..32 / ROWS {
            let rows = g * ROWS;
            let mut acc = [[_mm512_setzero_ps(); 2]; ROWS];
            for (r, acc) in acc.iter_mut().enumerate() {
                let from = match init {
                    Some(bias) => bias,
                    None => c.add((rows + r) * ldc) as *const f32,
                };
                acc[0] = _mm512_loadu_ps(from);
                acc[1] = _mm512_loadu_ps(from.add(16));
            }
            let a_rows = a.add(rows * lda);
            for p in 0..pairs {
                let b0 = _mm512_loadu_si512(w0.add(p * 32) as *const __m512i);
                let b1 = _mm512_loadu_si512(w1.add(p * 32) as *const __m512i);
                for (r, acc) in acc.iter_mut().enumerate() {
                    let pair = (a_rows.add(r * lda + 2 * p) as *const i32).read_unaligned();
                    let av = _mm512_set1_epi32(pair);
                    dp!(acc[0], av, b0);
                    dp!(acc[1], av, b1);
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                let dst = c.add((rows + r) * ldc);
                _mm512_storeu_ps(dst, acc[0]);
                _mm512_storeu_ps(dst.add(16), acc[1]);
            }
        }
    }
}

/// Elsewhere there is no such instruction: [`usable`] is false and nothing below is reached.
#[cfg(not(target_arch = "x86_64"))]
mod imp {
    pub fn detect() -> bool {
        false
    }
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn block(_: usize, _: *const u16, _: usize, _: *const u16, _: *const u16, _: *mut f32, _: usize, _: Option<*const f32>) {
        unreachable!("vdpbf16ps is x86-64 only")
    }
}
