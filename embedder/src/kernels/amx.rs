//! bf16 matmuls on Intel AMX tiles, for the dense layers of the packed CPU path.
//!
//! On a 2-vCPU Sapphire Rapids-class node one `tdpbf16ps` multiplies a 16×32 by a 32×16
//! bf16 tile into 16×16 f32 accumulators; a plain blocked loop over the model's shapes
//! runs at ~1.1 TFLOP/s on two threads, where the best f32 AVX-512 matmul (the `gemm`
//! crate) reaches ~0.3. That is the only lever left on such a node: the f32 path already
//! spends ~80 % of its time inside gemm's microkernel at the core's FMA peak.
//!
//! Only the matmul inputs are bf16; accumulation is f32 in the tiles and everything
//! between the matmuls (bias, residual, layer norm, GELU, attention, softmax) stays f32,
//! which is what keeps the result within cosine 0.999 of the f32 model (bf16 everywhere,
//! as candle's bf16 dtype does it, falls to 0.986).
//!
//! Layouts: weights are packed once at load into the tiles `tdpbf16ps` reads (pairs of
//! consecutive input rows interleaved, 16 output columns × 32 inputs per 1 KiB tile);
//! activations are rounded to bf16 row-major into a scratch buffer whose row count is
//! padded to a multiple of 32 with zero rows, so every tile is full and no edge case
//! exists. Output rows past the real token count are written but never read.
//!
//! The kernel uses tile registers, which Linux hands out per process on request
//! (`arch_prctl(ARCH_REQ_XCOMP_PERM)`): [`usable`] asks once and answers false wherever
//! the CPU, the kernel or the platform says no, and the caller then stays on f32.

use rayon::prelude::*;

/// Rows and columns of C one kernel call computes (2 × 2 tiles of 16 × 16).
pub const BLOCK: usize = 32;

/// Inputs per tile: 32 bf16 in a 64-byte tile row.
pub(super) const TILE_K: usize = 32;

/// bf16 elements in one packed weight tile (16 pair-rows × 16 columns × 2).
const TILE_ELEMS: usize = 512;

/// True when this process may use AMX-BF16 tiles: the CPU has AMX-TILE and AMX-BF16 and
/// the kernel granted the tile data state. Asked once; the answer cannot change.
pub fn usable() -> bool {
    use std::sync::OnceLock;
    static USABLE: OnceLock<bool> = OnceLock::new();
    *USABLE.get_or_init(imp::request)
}

/// Rounds f32 to bf16, nearest-even (the inputs here are finite activations and weights).
#[inline(always)]
pub fn to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    // Wrapping: a NaN's bits (from a broken model, never from these weights) must not
    // trip the overflow check of a debug build.
    (b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16) as u16
}

/// `rows` rounded up to whole kernel blocks: the row count activation and output buffers
/// must have for [`matmul`].
pub fn padded_rows(rows: usize) -> usize {
    rows.div_ceil(BLOCK) * BLOCK
}

/// A dense layer's `[in, out]` weights, packed once into AMX tiles.
pub struct PackedWeights {
    tiles: Vec<u16>,
    inp: usize,
    out: usize,
}

impl PackedWeights {
    /// Packs row-major `[inp, out]` f32 weights. `None` when a dimension is not a multiple
    /// of 32 (no BERT-family model has such a layer; the caller keeps f32 for it).
    pub fn pack(w: &[f32], inp: usize, out: usize) -> Option<Self> {
        if inp % TILE_K != 0 || out % BLOCK != 0 || w.len() != inp * out {
            return None;
        }
        let kbs = inp / TILE_K;
        let mut tiles = vec![0u16; inp * out];
        for nb in 0..out / 16 {
            for kb in 0..kbs {
                let tile = &mut tiles[(nb * kbs + kb) * TILE_ELEMS..][..TILE_ELEMS];
                for p in 0..16 {
                    for j in 0..16 {
                        for e in 0..2 {
                            tile[p * 32 + j * 2 + e] = to_bf16(w[(kb * TILE_K + 2 * p + e) * out + nb * 16 + j]);
                        }
                    }
                }
            }
        }
        Some(PackedWeights { tiles, inp, out })
    }

    pub fn inp(&self) -> usize {
        self.inp
    }

    pub fn out(&self) -> usize {
        self.out
    }

    /// The `kbs` tiles of 16 output columns starting at column block `nb`.
    fn column_block(&self, nb: usize) -> *const u16 {
        self.tiles[nb * (self.inp / TILE_K) * TILE_ELEMS..].as_ptr()
    }
}

/// Rounds the first `rows` rows of `src` (`rows × k` f32) into `dst` as bf16 and zeroes the
/// rest of `dst`'s rows (up to `dst.len() / k`), so the kernel's padding rows add nothing.
pub fn round_rows(src: &[f32], dst: &mut [u16], rows: usize, k: usize) {
    let chunk = 16 * k;
    dst.par_chunks_mut(chunk).enumerate().for_each(|(i, d)| {
        let start = i * chunk;
        let real = (rows * k).saturating_sub(start).min(d.len());
        if real > 0 {
            round_slice(&src[start..start + real], &mut d[..real]);
        }
        d[real..].fill(0);
    });
}

super::multiversion! {
    /// `dst[i] = bf16(src[i])`; a plain loop the compiler vectorises.
    pub fn round_slice(src: &[f32], dst: &mut [u16]) {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = to_bf16(s);
        }
    }
}

/// What a matmul's accumulators start from.
#[derive(Clone, Copy)]
pub enum Start<'a> {
    /// The bias, broadcast to every row straight from the bias vector (a tile load with
    /// row stride 0): no pass over the output to prefill it.
    Bias(&'a [f32]),
    /// Whatever the output holds (bias + residual, written by the caller).
    Output,
}

/// Work on a finished stretch of output while it is still in cache: called with the row,
/// the first column and the row's `32·k` finished values, once per row below `rows`.
pub type Epilogue<'a> = &'a (dyn Fn(usize, usize, &mut [f32]) + Sync);

/// Which instructions multiply the bf16 blocks: AMX tiles, or AVX-512's `vdpbf16ps`
/// ([`super::dpbf16`]) on the same packed weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    Amx,
    AvxDot,
}

impl Kernel {
    /// Whether this CPU (and, for AMX, its kernel) can run it.
    pub fn usable(self) -> bool {
        match self {
            Kernel::Amx => usable(),
            Kernel::AvxDot => super::dpbf16::usable(),
        }
    }
}

/// [`matmul_with`] on AMX tiles.
pub fn matmul(c: &mut [f32], a: &[u16], m: usize, w: &PackedWeights, start: Start, then: Option<(usize, Epilogue)>) {
    matmul_with(Kernel::Amx, c, a, m, w, start, then)
}

/// `c = start + a · w`, where `a` is `m × w.inp()` bf16 from [`round_rows`] and `c` is
/// row-major `m × w.out()` f32, `m` a multiple of [`BLOCK`]. Output columns are split
/// over the current rayon pool (the CPU budget); each task walks all row blocks, so its
/// slice of the weights stays in cache, and runs `then` on each of its rows of a row
/// block as soon as that block is done.
///
/// # Panics
/// If `kernel` is not usable here, or the shapes do not agree.
pub fn matmul_with(kernel: Kernel, c: &mut [f32], a: &[u16], m: usize, w: &PackedWeights, start: Start, then: Option<(usize, Epilogue)>) {
    assert!(kernel.usable(), "{kernel:?} bf16 matmul called on a CPU (or kernel) without it");
    assert!(m % BLOCK == 0 && a.len() >= m * w.inp && c.len() >= m * w.out);
    let bias = match start {
        Start::Bias(b) => {
            assert_eq!(b.len(), w.out);
            Some(b.as_ptr())
        }
        Start::Output => None,
    };
    let bias = bias.map(|b| super::SendPtr(b as *mut f32));
    let panels = w.out / BLOCK;
    let tasks = rayon::current_num_threads().clamp(1, panels);
    let per = panels.div_ceil(tasks);
    let out = super::SendPtr(c.as_mut_ptr());
    (0..tasks).into_par_iter().for_each(|t| {
        let (lo, hi) = (t * per, ((t + 1) * per).min(panels));
        // SAFETY: the kernel is usable (for AMX: the tile state was granted); each task
        // writes only its own columns `lo·32..hi·32` of `c`, and the bounds were asserted
        // above.
        unsafe {
            if kernel == Kernel::Amx {
                imp::configure();
            }
            for mb in 0..m / BLOCK {
                let a_rows = a.as_ptr().add(mb * BLOCK * w.inp);
                for p in lo..hi {
                    let dst = out.get().add(mb * BLOCK * w.out + p * BLOCK);
                    let init = bias.map(|b| b.get().add(p * BLOCK) as *const f32);
                    let (w0, w1) = (w.column_block(2 * p), w.column_block(2 * p + 1));
                    match kernel {
                        Kernel::Amx => imp::block(w.inp / TILE_K, a_rows, w.inp, w0, w1, dst, w.out, init),
                        Kernel::AvxDot => super::dpbf16::block(w.inp / TILE_K, a_rows, w.inp, w0, w1, dst, w.out, init),
                    }
                }
                if let Some((rows, f)) = then {
                    for r in mb * BLOCK..((mb + 1) * BLOCK).min(rows) {
                        let seg = std::slice::from_raw_parts_mut(out.get().add(r * w.out + lo * BLOCK), (hi - lo) * BLOCK);
                        f(r, lo * BLOCK, seg);
                    }
                }
            }
            if kernel == Kernel::Amx {
                imp::release();
            }
        }
    });
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod imp {
    use std::arch::asm;

    /// Asks Linux for the AMX tile data state (`ARCH_REQ_XCOMP_PERM`, `XFEATURE_XTILEDATA`),
    /// after checking CPUID for AMX-TILE and AMX-BF16.
    /// Logs the answer: a CPU with AMX whose kernel (or seccomp profile) refuses the tile
    /// state runs f32 at half the speed, and that must be visible.
    pub fn request() -> bool {
        const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
        const XFEATURE_XTILEDATA: libc::c_long = 18;
        let leaf7 = std::arch::x86_64::__cpuid_count(7, 0);
        let (amx_bf16, amx_tile) = (leaf7.edx & (1 << 22) != 0, leaf7.edx & (1 << 24) != 0);
        if !(amx_bf16 && amx_tile) {
            tracing::debug!("no AMX-BF16 on this CPU: the CPU path runs f32");
            return false;
        }
        // SAFETY: a plain syscall with integer arguments; it only changes this process's
        // permitted XSAVE features.
        let rc = unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) };
        if rc == 0 {
            tracing::info!("AMX tile state granted: bf16 matmuls available on the CPU path");
            true
        } else {
            let why = std::io::Error::last_os_error();
            tracing::warn!(error = %why, "the CPU has AMX-BF16 but the kernel refused the tile state: the CPU path runs f32");
            false
        }
    }

    /// Palette 1, eight tiles of 16 rows × 64 bytes: C in tmm0–3, A in tmm4–5, W in tmm6–7.
    #[repr(C, align(64))]
    struct TileConfig([u8; 64]);

    const CONFIG: TileConfig = {
        let mut c = [0u8; 64];
        c[0] = 1;
        let mut t = 0;
        while t < 8 {
            c[16 + 2 * t] = 64;
            c[48 + t] = 16;
            t += 1;
        }
        TileConfig(c)
    };

    /// Loads the tile configuration on this thread.
    ///
    /// # Safety
    /// The process must hold the tile data permission ([`request`] returned true).
    pub unsafe fn configure() {
        asm!("ldtilecfg [{}]", in(reg) CONFIG.0.as_ptr(), options(nostack, readonly));
    }

    /// Returns this thread's tiles to their init state, so context switches stop saving
    /// 8 KiB of tile data for it.
    ///
    /// # Safety
    /// As [`configure`].
    pub unsafe fn release() {
        asm!("tilerelease", options(nostack, nomem));
    }

    /// One 32 × 32 block of C: `c[0..32, 0..32] += a[0..32, :] · [w0 | w1]` over `kbs`
    /// tiles of 32 inputs. `lda` and `ldc` are row strides in elements.
    ///
    /// # Safety
    /// Tiles configured on this thread; `a` valid for 32 rows of `kbs·32` bf16, `w0`/`w1`
    /// for `kbs` packed tiles each, `c` for 32 rows of 32 f32 at stride `ldc`.
    /// With `init`, the accumulators start from the 32 values at `init` in every row
    /// instead of from `c`.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn block(
        kbs: usize,
        a: *const u16,
        lda: usize,
        w0: *const u16,
        w1: *const u16,
        c: *mut f32,
        ldc: usize,
        init: Option<*const f32>,
    ) {
        let (ldc_bytes, lda_bytes) = (ldc * 4, lda * 2);
        let c_low = c.add(16 * ldc);
        match init {
            // Row stride 0: all 16 rows of each tile read the same 16 bias values.
            Some(bias) => asm!(
                "tileloadd tmm0, [{b} + {z}*1]",
                "tileloadd tmm1, [{b} + {z}*1 + 64]",
                "tileloadd tmm2, [{b} + {z}*1]",
                "tileloadd tmm3, [{b} + {z}*1 + 64]",
                b = in(reg) bias, z = in(reg) 0usize,
                options(nostack, readonly),
            ),
            None => asm!(
                "tileloadd tmm0, [{c} + {s}*1]",
                "tileloadd tmm1, [{c} + {s}*1 + 64]",
                "tileloadd tmm2, [{cl} + {s}*1]",
                "tileloadd tmm3, [{cl} + {s}*1 + 64]",
                c = in(reg) c, cl = in(reg) c_low, s = in(reg) ldc_bytes,
                options(nostack, readonly),
            ),
        }
        let a_low = a.add(16 * lda);
        for kb in 0..kbs {
            asm!(
                "tileloadd tmm4, [{a} + {sa}*1]",
                "tileloadd tmm6, [{w0} + {sw}*1]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tileloadd tmm7, [{w1} + {sw}*1]",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tileloadd tmm5, [{al} + {sa}*1]",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tdpbf16ps tmm3, tmm5, tmm7",
                a = in(reg) a.add(kb * super::TILE_K),
                al = in(reg) a_low.add(kb * super::TILE_K),
                sa = in(reg) lda_bytes,
                w0 = in(reg) w0.add(kb * super::TILE_ELEMS),
                w1 = in(reg) w1.add(kb * super::TILE_ELEMS),
                sw = in(reg) 64usize,
                options(nostack, readonly),
            );
        }
        asm!(
            "tilestored [{c} + {s}*1], tmm0",
            "tilestored [{c} + {s}*1 + 64], tmm1",
            "tilestored [{cl} + {s}*1], tmm2",
            "tilestored [{cl} + {s}*1 + 64], tmm3",
            c = in(reg) c, cl = in(reg) c_low, s = in(reg) ldc_bytes,
            options(nostack),
        );
    }
}

/// Elsewhere there are no tiles: [`usable`] is false and nothing below is reached.
#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod imp {
    pub fn request() -> bool {
        false
    }
    pub unsafe fn configure() {}
    pub unsafe fn release() {}
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn block(_: usize, _: *const u16, _: usize, _: *const u16, _: *const u16, _: *mut f32, _: usize, _: Option<*const f32>) {
        unreachable!("AMX is x86-64 Linux only")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_bf16(u: u16) -> f64 {
        f32::from_bits((u as u32) << 16) as f64
    }

    #[test]
    fn rounding_is_nearest_even() {
        assert_eq!(to_bf16(1.0), 0x3f80);
        // 1 + 2^-8 is exactly between two bf16 values: ties to the even one (1.0).
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0), 0x3f80);
        assert_eq!(to_bf16(1.0 + 3.0 / 256.0), 0x3f82);
        assert_eq!(to_bf16(-2.5), 0xc020);
    }

    #[test]
    fn padding_rows_are_zero_and_real_rows_rounded() {
        let src: Vec<f32> = (0..3 * 32).map(|i| i as f32 * 0.37).collect();
        let mut dst = vec![7u16; BLOCK * 32];
        round_rows(&src, &mut dst, 3, 32);
        assert!(dst[..3 * 32].iter().zip(&src).all(|(&d, &s)| d == to_bf16(s)));
        assert!(dst[3 * 32..].iter().all(|&d| d == 0));
    }

    /// The tile kernel against an f64 matmul of the same bf16-rounded inputs, on shapes
    /// that exercise several row blocks, column panels split over two threads, and an
    /// accumulation onto a prefilled output. Skipped (and says so) without AMX.
    #[test]
    fn tile_matmul_matches_a_reference_on_the_rounded_inputs() {
        matches_a_reference(Kernel::Amx);
    }

    /// The same for `vdpbf16ps` on the same packed weights. Skipped without AVX512-BF16.
    #[test]
    fn avx_dot_matmul_matches_a_reference_on_the_rounded_inputs() {
        matches_a_reference(Kernel::AvxDot);
    }

    fn matches_a_reference(kernel: Kernel) {
        if !kernel.usable() {
            eprintln!("skipped: this CPU or kernel cannot run {kernel:?}");
            return;
        }
        let (m, k, n) = (70, 96, 128);
        let mp = padded_rows(m);
        let val = |i: usize, s: usize| (((i * 2654435761 + s) % 1000) as f32 / 500.0) - 1.0;
        let a: Vec<f32> = (0..m * k).map(|i| val(i, 1)).collect();
        let w: Vec<f32> = (0..k * n).map(|i| val(i, 2)).collect();
        let packed = PackedWeights::pack(&w, k, n).unwrap();
        let mut ab = vec![0u16; mp * k];
        let mut c = vec![0.5f32; mp * n];
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let bias: Vec<f32> = (0..n).map(|j| j as f32 * 0.01).collect();
        let mut from_bias = vec![f32::NAN; mp * n];
        let seen = std::sync::Mutex::new(vec![0usize; m]);
        let count = |r: usize, _col: usize, seg: &mut [f32]| seen.lock().unwrap()[r] += seg.len();
        pool.install(|| {
            round_rows(&a, &mut ab, m, k);
            matmul_with(kernel, &mut c, &ab, mp, &packed, Start::Output, None);
            matmul_with(kernel, &mut from_bias, &ab, mp, &packed, Start::Bias(&bias), Some((m, &count)));
        });
        for i in 0..m {
            for j in 0..n {
                let dot: f64 = (0..k).map(|p| from_bf16(to_bf16(a[i * k + p])) * from_bf16(to_bf16(w[p * n + j]))).sum();
                let (got, want) = (c[i * n + j] as f64, 0.5 + dot);
                assert!((got - want).abs() < 1e-4, "c[{i},{j}] = {got}, want {want}");
                let (got, want) = (from_bias[i * n + j] as f64, bias[j] as f64 + dot);
                assert!((got - want).abs() < 1e-4, "from bias: c[{i},{j}] = {got}, want {want}");
            }
        }
        assert!(seen.into_inner().unwrap().iter().all(|&cols| cols == n), "the epilogue saw every column of every real row once");
    }

    #[test]
    fn shapes_off_the_tile_grid_are_refused() {
        assert!(PackedWeights::pack(&[0.0; 40 * 64], 40, 64).is_none());
        assert!(PackedWeights::pack(&[0.0; 64 * 48], 64, 48).is_none());
    }
}
