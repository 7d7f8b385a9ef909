//! The one matmul the packed path uses: candle's own CPU kernel (the `gemm` crate), called
//! directly so that the output buffer is reused and bias/residual are accumulated into it.

use gemm::Parallelism;

/// A row-major f32 matrix view with an arbitrary row stride (a column block of a wider
/// buffer, such as one head's slice of the fused QKV output).
#[derive(Clone, Copy)]
pub struct MatRef {
    pub ptr: *const f32,
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl MatRef {
    /// A contiguous row-major matrix.
    pub fn rows(data: &[f32], rows: usize, cols: usize) -> Self {
        assert!(data.len() >= rows * cols);
        MatRef { ptr: data.as_ptr(), rows, cols, row_stride: cols, col_stride: 1 }
    }

    /// The transpose, as a view (no copy).
    pub fn t(self) -> Self {
        MatRef { rows: self.cols, cols: self.rows, row_stride: self.col_stride, col_stride: self.row_stride, ..self }
    }
}

/// How many threads a matmul may split over: the current rayon pool's (the CPU budget).
pub fn parallelism() -> Parallelism {
    match rayon::current_num_threads() {
        0 | 1 => Parallelism::None,
        n => Parallelism::Rayon(n),
    }
}

/// `dst = scale · a·b`, or `dst += scale · a·b` when `accumulate`.
///
/// # Safety
/// `dst` must be valid for writes of `a.rows × dst_row_stride` elements (the last row only
/// up to `b.cols`), not aliased by `a` or `b`, and `a.cols == b.rows`.
pub unsafe fn matmul(
    dst: *mut f32,
    dst_row_stride: usize,
    a: MatRef,
    b: MatRef,
    scale: f32,
    accumulate: bool,
    par: Parallelism,
) {
    debug_assert_eq!(a.cols, b.rows);
    gemm::gemm(
        a.rows,
        b.cols,
        a.cols,
        dst,
        1,
        dst_row_stride as isize,
        accumulate,
        a.ptr,
        a.col_stride as isize,
        a.row_stride as isize,
        b.ptr,
        b.col_stride as isize,
        b.row_stride as isize,
        1.0,
        scale,
        false,
        false,
        false,
        par,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_accumulates_and_respects_transposed_views() {
        // a = [[1,2],[3,4]], w = [[5,6],[7,8]] (PyTorch [out,in]); want a·wᵀ + 1.
        let a = [1.0, 2.0, 3.0, 4.0];
        let w = [5.0, 6.0, 7.0, 8.0];
        let mut dst = [1.0f32; 4];
        unsafe {
            matmul(dst.as_mut_ptr(), 2, MatRef::rows(&a, 2, 2), MatRef::rows(&w, 2, 2).t(), 1.0, true, Parallelism::None)
        };
        assert_eq!(dst, [18.0, 24.0, 40.0, 54.0]);
    }
}
