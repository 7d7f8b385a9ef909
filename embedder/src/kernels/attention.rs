//! Self-attention over packed sequences: no padding, no mask, each sequence attends only
//! to itself. Work is split over (sequence, head) pairs on the current rayon pool.

use rayon::prelude::*;
use std::cell::RefCell;

use super::gemm::{matmul, MatRef};
use super::math::softmax_inplace;
use super::SendPtr;

/// Where each sequence lies in the packed token rows.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    pub start: usize,
    pub len: usize,
}

thread_local! {
    static SCORES: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// `ctx[t, h·d..(h+1)·d] = softmax(Q_h Kᵀ_h / √d) V_h` for every sequence and head, where
/// `qkv` holds rows `[Q | K | V]` of width `3·hidden` and `ctx` rows of width `hidden`.
pub fn packed_attention(qkv: &[f32], ctx: &mut [f32], spans: &[Span], heads: usize, hidden: usize) {
    let d = hidden / heads;
    let width = 3 * hidden;
    let scale = 1.0 / (d as f32).sqrt();
    let total: usize = spans.iter().map(|s| s.len).sum();
    assert!(qkv.len() >= total * width && ctx.len() >= total * hidden);
    let out = SendPtr(ctx.as_mut_ptr());
    let work: Vec<(Span, usize)> = spans.iter().flat_map(|&s| (0..heads).map(move |h| (s, h))).collect();
    work.par_iter().for_each(|&(s, h)| {
        SCORES.with(|cell| {
            let mut scores = cell.borrow_mut();
            if scores.len() < s.len * s.len {
                scores.resize(s.len * s.len, 0.0);
            }
            let view = |col: usize| MatRef {
                ptr: qkv[s.start * width + col..].as_ptr(),
                rows: s.len,
                cols: d,
                row_stride: width,
                col_stride: 1,
            };
            let (q, k, v) = (view(h * d), view(hidden + h * d), view(2 * hidden + h * d));
            // SAFETY: `scores` holds len² floats; each task writes only its own sequence's
            // rows and its own head's columns of `ctx`, so concurrent writes are disjoint.
            unsafe {
                matmul(scores.as_mut_ptr(), s.len, q, k.t(), scale, false, gemm::Parallelism::None);
                for row in scores[..s.len * s.len].chunks_exact_mut(s.len) {
                    softmax_inplace(row);
                }
                let p = MatRef::rows(&scores, s.len, s.len);
                matmul(out.get().add(s.start * hidden + h * d), hidden, p, v, 1.0, false, gemm::Parallelism::None);
            }
        });
    });
}
