//! The chat model's weights as the CPU runs them fast, and its matmuls on the CPU budget.
//!
//! SmolLM2's GGUF stores its layers as Q4_1. candle's dot product for Q4_1 is scalar
//! only (its Q8_0 one uses AVX2 and FMA, chosen at run time): on a small node that is
//! the difference between a minute and a few seconds to read a prompt. So at load every
//! Q4_1 tensor is dequantized and stored again as Q8_0 — more precise than Q4_1, so no
//! quality is lost, and 145 MB in memory instead of 98. Other types are kept as they are.
//!
//! candle runs quantized matmuls on a thread pool of its own (not rayon's), sized by
//! `CANDLE_NUM_THREADS` (default: every core), outside the engine's CPU budget. It is
//! sized here to the budget before the first matmul: generation steps and embedding
//! batches never run at once ([`crate::gate`]), so a step's matmul spread over that many
//! threads keeps the process within `--cpu-threads`.

use std::io::Cursor;
use std::path::Path;

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::Device;

use crate::error::{EmbedError, Result};

/// Sizes candle's quantized-matmul pool to `threads`. Must run before the first quantized
/// matmul of the process (the pool is made once, then kept).
pub fn bound_candle_threads(threads: usize) {
    let want = threads.max(1).to_string();
    if std::env::var("CANDLE_NUM_THREADS").ok().as_deref() != Some(want.as_str()) {
        // Before any quantized op: nothing reads the variable concurrently.
        std::env::set_var("CANDLE_NUM_THREADS", &want);
    }
}

/// The file's tensors with Q4_1 stored as Q8_0, as an in-memory GGUF with the same
/// metadata, and its content.
pub fn requantized(content: Content, file: &mut std::fs::File, path: &Path) -> Result<(Content, Cursor<Vec<u8>>)> {
    let err = |e: candle_core::Error| EmbedError::file(path, e);
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let mut tensors = Vec::with_capacity(names.len());
    for name in names {
        let t = content.tensor(file, name, &Device::Cpu).map_err(err)?;
        let t = if t.dtype() == GgmlDType::Q4_1 {
            QTensor::quantize(&t.dequantize(&Device::Cpu).map_err(err)?, GgmlDType::Q8_0).map_err(err)?
        } else {
            t
        };
        tensors.push((name.clone(), t));
    }
    let metadata: Vec<(&str, &candle_core::quantized::gguf_file::Value)> = content.metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut out = Cursor::new(Vec::new());
    candle_core::quantized::gguf_file::write(&mut out, &metadata, &refs).map_err(err)?;
    drop(tensors);
    out.set_position(0);
    let content = Content::read(&mut out).map_err(err)?;
    Ok((content, out))
}
