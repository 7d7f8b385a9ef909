//! The engine's command-line flags, shared by `firebreak-embedder` and by the gateway
//! (`firebreak serve` with the in-process embedder), so both accept the same names and
//! `FIREBREAK_*` variables and a limit is never spelled two ways.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use crate::chat::ChatConfig;
use crate::{CpuKernels, DeviceKind, DeviceSpec, EngineConfig, Precision};

/// Model, device and engine limits, shared by every subcommand.
#[derive(Args, Clone)]
pub struct EngineArgs {
    /// sentence-transformers model directory (scripts/fetch-model.sh installs one).
    #[arg(long, env = "FIREBREAK_MODEL_DIR", default_value = "models/all-MiniLM-L6-v2")]
    pub model: PathBuf,
    /// Inference threads: the engine never uses more cores than this. Default: cores − 1.
    #[arg(long, env = "FIREBREAK_CPU_THREADS")]
    pub cpu_threads: Option<usize>,
    /// `cpu` or `cuda:N`. An unusable GPU (none, no driver, a build without CUDA) falls
    /// back to the CPU path, logged and counted in firebreak_embedder_device_fallbacks_total.
    #[arg(long, env = "FIREBREAK_DEVICE", default_value = "cpu")]
    pub device: String,
    /// `auto` (f16 on a GPU; on the CPU bf16 matmuls on AMX tiles where the CPU has them,
    /// f32 elsewhere), `f32`, `f16` (candle kernels only on the CPU) or `bf16` (AMX; f32
    /// with a logged fallback on a CPU without it).
    #[arg(long, env = "FIREBREAK_DTYPE", default_value = "auto")]
    pub dtype: String,
    /// CPU kernels: `packed` (fast, fused) or `candle` (plain candle ops, the reference).
    #[arg(long, env = "FIREBREAK_CPU_KERNELS", default_value = "packed")]
    pub kernels: String,
    /// Most sequences per batch. Default: 32 on the CPU, 256 on a GPU.
    #[arg(long, env = "FIREBREAK_MAX_BATCH_SIZE")]
    pub max_batch_size: Option<usize>,
    /// Largest padded batch cost (longest sequence × sequences). Default: 8192 on the
    /// CPU, 32768 on a GPU.
    #[arg(long, env = "FIREBREAK_MAX_BATCH_TOKENS")]
    pub max_batch_tokens: Option<usize>,
    /// Most texts waiting; beyond it requests get 503 with Retry-After.
    #[arg(long, env = "FIREBREAK_MAX_QUEUE_TEXTS", default_value_t = 4096)]
    pub max_queue_texts: usize,
    /// Longest single input in characters (longer texts are refused; long texts under it
    /// are truncated to the model's max_seq_length). Characters, as the API document's
    /// maxLength counts (formerly --max-input-bytes).
    #[arg(long, alias = "max-input-bytes", env = "FIREBREAK_MAX_INPUT_CHARS", default_value_t = 256 * 1024)]
    pub max_input_chars: usize,
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
        let precision = match self.dtype.as_str() {
            "auto" => Precision::Auto,
            "f32" => Precision::F32,
            "f16" => Precision::F16,
            "bf16" => Precision::Bf16,
            other => bail!("--dtype must be auto, f32, f16 or bf16, not {other:?}"),
        };
        let mut device = match kind {
            DeviceKind::Cpu => DeviceSpec::cpu(),
            DeviceKind::Cuda { ordinal } => DeviceSpec::cuda(ordinal),
        };
        device.cpu_kernels = cpu_kernels;
        device.precision = precision;
        device.explicit_batch = self.max_batch_size.is_some() || self.max_batch_tokens.is_some();
        device.max_batch_size = self.max_batch_size.unwrap_or(device.max_batch_size);
        device.max_batch_tokens = self.max_batch_tokens.unwrap_or(device.max_batch_tokens);
        let mut cfg = EngineConfig::new(&self.model);
        cfg.device = device;
        cfg.cpu_threads = self.cpu_threads;
        cfg.max_queue_texts = self.max_queue_texts;
        cfg.max_input_chars = self.max_input_chars;
        Ok(cfg)
    }
}


/// The chat model's flags, shared by `firebreak-embedder serve` and `firebreak serve` (the
/// in-process answer model), on the same CPU budget as the embeddings.
#[derive(Args, Clone, Default)]
pub struct ChatArgs {
    /// A GGUF chat model: a file, or a directory holding one (scripts/fetch-chat-model.sh
    /// installs SmolLM2-135M-Instruct). Unset: no chat model.
    #[arg(long, env = "FIREBREAK_CHAT_MODEL")]
    pub chat_model: Option<PathBuf>,
    /// Most tokens of prompt and answer together (a longer prompt is refused with 400).
    #[arg(long, env = "FIREBREAK_CHAT_MAX_CONTEXT_TOKENS", default_value_t = 2048)]
    pub chat_max_context_tokens: usize,
    /// Most tokens one answer may have, whatever the request asks.
    #[arg(long, env = "FIREBREAK_MAX_NEW_TOKENS", default_value_t = 512)]
    pub max_new_tokens: usize,
    /// Most generations waiting behind the running one; beyond it, 503 with Retry-After.
    #[arg(long, env = "FIREBREAK_CHAT_MAX_WAITING", default_value_t = 4)]
    pub chat_max_waiting: usize,
}

impl ChatArgs {
    /// The chat model's configuration, when one is named.
    pub fn config(&self) -> Option<ChatConfig> {
        let model = self.chat_model.as_ref()?;
        let mut cfg = ChatConfig::new(model);
        cfg.max_context_tokens = self.chat_max_context_tokens;
        cfg.max_new_tokens = self.max_new_tokens;
        cfg.max_waiting = self.chat_max_waiting;
        Some(cfg)
    }
}
