//! The forward pass: token ids in, one pooled vector per sequence out.
//!
//! Two implementations sit behind one trait, chosen by the device seam in `device.rs`:
//! - [`packed_cpu`]: the production CPU path. Sequences are packed end to end with no
//!   padding, dense layers are single large matmuls, attention is computed per sequence,
//!   and layer norm, bias, residual and GELU are fused kernels over reused buffers.
//! - [`candle_ops`]: plain candle tensor ops over a padded batch. It runs on any candle
//!   device (CUDA included) and is the independent reference the fused CPU path is
//!   tested against.

pub mod candle_ops;
pub mod packed_cpu;

use crate::error::Result;

/// Runs the encoder and pooling for one batch.
///
/// Implementations are driven by one thread at a time (the device's worker), so they may
/// keep mutable scratch space; they are `Send` so that thread can own them.
pub trait Forward: Send {
    /// Returns one pooled, not yet normalised, vector per input sequence, in order.
    /// Every sequence is non-empty and no longer than the model's position table.
    fn embed_batch(&mut self, seqs: &[&[u32]]) -> Result<Vec<Vec<f32>>>;

    /// A short label for logs and metrics ("cpu-packed", "cuda:0 candle").
    fn label(&self) -> String;
}
