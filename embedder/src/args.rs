//! The engine's command-line flags, shared by `firebreak-embedder` and by the gateway
//! (`firebreak serve` with the in-process embedder), so both accept the same names and
//! `FIREBREAK_*` variables and a limit is never spelled two ways.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use crate::{CpuKernels, DeviceKind, DeviceSpec, EngineConfig};

/// Model, device and engine limits, shared by every subcommand.
#[derive(Args, Clone)]
pub struct EngineArgs {
    /// sentence-transformers model directory (scripts/fetch-model.sh installs one).
    #[arg(long, env = "FIREBREAK_MODEL_DIR", default_value = "models/all-MiniLM-L6-v2")]
    pub model: PathBuf,
    /// Inference threads: the engine never uses more cores than this. Default: cores − 1.
    #[arg(long, env = "FIREBREAK_CPU_THREADS")]
    pub cpu_threads: Option<usize>,
    /// `cpu` or `cuda:N` (the CUDA build only).
    #[arg(long, env = "FIREBREAK_DEVICE", default_value = "cpu")]
    pub device: String,
    /// CPU kernels: `packed` (fast, fused) or `candle` (plain candle ops, the reference).
    #[arg(long, env = "FIREBREAK_CPU_KERNELS", default_value = "packed")]
    pub kernels: String,
    /// Most sequences per batch.
    #[arg(long, env = "FIREBREAK_MAX_BATCH_SIZE", default_value_t = 32)]
    pub max_batch_size: usize,
    /// Largest padded batch cost (longest sequence × sequences).
    #[arg(long, env = "FIREBREAK_MAX_BATCH_TOKENS", default_value_t = 8192)]
    pub max_batch_tokens: usize,
    /// Most texts waiting; beyond it requests get 503 with Retry-After.
    #[arg(long, env = "FIREBREAK_MAX_QUEUE_TEXTS", default_value_t = 4096)]
    pub max_queue_texts: usize,
    /// Largest single input in bytes (longer texts are refused; long texts under it are
    /// truncated to the model's max_seq_length).
    #[arg(long, env = "FIREBREAK_MAX_INPUT_BYTES", default_value_t = 256 * 1024)]
    pub max_input_bytes: usize,
}

impl EngineArgs {
    /// The engine configuration these flags describe.
    pub fn config(&self) -> anyhow::Result<EngineConfig> {
        let kind = match self.device.as_str() {
            "cpu" => DeviceKind::Cpu,
            d if d.starts_with("cuda") => {
                let ordinal = d.strip_prefix("cuda").and_then(|s| s.strip_prefix(':')).unwrap_or("0");
                DeviceKind::Cuda { ordinal: ordinal.parse().context("--device cuda:N needs a number")? }
            }
            other => bail!("--device must be cpu or cuda:N, not {other:?}"),
        };
        let cpu_kernels = match self.kernels.as_str() {
            "packed" => CpuKernels::Packed,
            "candle" => CpuKernels::CandleOps,
            other => bail!("--kernels must be packed or candle, not {other:?}"),
        };
        let mut cfg = EngineConfig::new(&self.model);
        cfg.device = DeviceSpec { kind, cpu_kernels, max_batch_size: self.max_batch_size, max_batch_tokens: self.max_batch_tokens };
        cfg.cpu_threads = self.cpu_threads;
        cfg.max_queue_texts = self.max_queue_texts;
        cfg.max_input_bytes = self.max_input_bytes;
        Ok(cfg)
    }
}

