//! Flags. Every limit has a safe default, a flag and a `FIREBREAK_*` variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use firebreak_embedder::{CpuKernels, DeviceKind, DeviceSpec, EngineConfig};

#[derive(Parser)]
#[command(name = "firebreak-embedder", version, about = "Sentence embeddings under a hard CPU budget")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Embed one text per stdin line; one JSON object per stdout line.
    Embed(EmbedArgs),
    /// Serve POST /v1/embeddings (OpenAI-compatible), /healthz and /metrics.
    Serve(ServeArgs),
    /// Measure sentences/s, tokens/s, batch latency and GFLOP/s against the matmul peak.
    Bench(BenchArgs),
}

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

#[derive(Args)]
pub struct EmbedArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Lines sent to the engine per call.
    #[arg(long, default_value_t = 64)]
    pub chunk: usize,
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Address to listen on.
    #[arg(long, env = "FIREBREAK_LISTEN", default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// Largest request body in bytes (413 beyond).
    #[arg(long, env = "FIREBREAK_MAX_REQUEST_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_request_bytes: usize,
    /// Most inputs per request (422 beyond).
    #[arg(long, env = "FIREBREAK_MAX_INPUTS", default_value_t = 2048)]
    pub max_inputs: usize,
    /// Most embedding requests in flight; beyond it, 503 at once (bounds request memory).
    #[arg(long, env = "FIREBREAK_MAX_CONCURRENT_REQUESTS", default_value_t = 32)]
    pub max_concurrent_requests: usize,
    /// Threads for HTTP and JSON; inference has its own budget (--cpu-threads).
    #[arg(long, env = "FIREBREAK_HTTP_THREADS", default_value_t = 1)]
    pub http_threads: usize,
}

#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Texts in the generated corpus.
    #[arg(long, default_value_t = 2000)]
    pub texts: usize,
    /// Client batch sizes to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,128")]
    pub batch_sizes: Vec<usize>,
}
