//! Hand-written CPU kernels for the packed forward pass.
//!
//! Everything outside the big matmuls (layer norm, bias and residual, GELU, softmax,
//! attention) is a few percent of the FLOPs but, done as separate tensor ops with fresh
//! allocations, most of the time of a CPU BERT. These kernels work in place on reused
//! buffers and are compiled three times: for the baseline target, with AVX2+FMA and with
//! AVX-512, picked at run time, so one binary is both portable and fast.

pub mod amx;
pub mod attention;
pub mod dpbf16;
pub mod gemm;
pub mod math;
pub mod norm;

/// True when this CPU has AVX2 and FMA (checked once; the answer cannot change).
#[inline]
pub fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// True when this CPU has AVX-512 F, BW, DQ and VL (the x86-64-v4 level the matmul's
/// AVX-512 kernels also dispatch on).
#[inline]
pub fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| {
            has_avx2_fma()
                && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512dq")
                && is_x86_feature_detected!("avx512vl")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Defines a kernel whose body is compiled for the baseline target, with AVX2+FMA and
/// with AVX-512 enabled, and dispatches at run time. The body is written as plain loops over
/// fixed-width chunks so the compiler vectorises it for whichever target it is built for.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512dq,avx512vl")]
                unsafe fn avx512($($arg: $ty),*) { body($($arg),*) }
                if $crate::kernels::has_avx512() {
                    // SAFETY: the CPU was just checked to support these AVX-512 subsets.
                    return unsafe { avx512($($arg),*) };
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) { body($($arg),*) }
                if $crate::kernels::has_avx2_fma() {
                    // SAFETY: the CPU was just checked to support AVX2 and FMA.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}
pub(crate) use multiversion;

/// A raw pointer that may cross threads. Used only where parallel tasks write provably
/// disjoint parts of one buffer (per sequence and head in attention, per column range in
/// a matmul's epilogue).
pub(crate) struct SendPtr<T = f32>(pub *mut T);

impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// The pointer. A method (not `.0`) so closures capture the whole `Send` wrapper
    /// rather than the raw field, which edition-2021 disjoint capture would pick.
    pub fn get(self) -> *mut T {
        self.0
    }
}
// SAFETY: users guarantee disjoint writes; see each use.
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}
