//! Flags. Every limit has a safe default, a flag and a `FIREBREAK_*` variable.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};
pub use firebreak_embedder::args::{ChatArgs, EngineArgs};

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
    /// Serve POST /v1/embeddings (OpenAI-compatible), /healthz and /metrics; with
    /// --chat-model also POST /v1/chat/completions and GET /v1/models.
    Serve(ServeArgs),
    /// Measure sentences/s, tokens/s, batch latency and GFLOP/s against the matmul peak.
    Bench(BenchArgs),
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
    #[command(flatten)]
    pub chat: ChatArgs,
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
    /// With --chat-model: the chat model measured too, on the same threads.
    #[command(flatten)]
    pub chat: ChatArgs,
    /// Chat answers measured.
    #[arg(long, default_value_t = 5)]
    pub chat_runs: usize,
    /// Corpus texts in the chat prompt's context (10 ≈ 300 tokens).
    #[arg(long, default_value_t = 10)]
    pub chat_context_texts: usize,
    /// Most new tokens per chat answer.
    #[arg(long, default_value_t = 64)]
    pub chat_new_tokens: usize,
}
