//! Flags. Every limit has a default that is safe on a small shared node, a flag, and a
//! `FIREBREAK_*` variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use anyhow::{anyhow, bail};
use firebreak_gateway::analysis::Glossary;
use firebreak_gateway::auth::Tokens;
use firebreak_gateway::guards::budget::{Allowance, BudgetLimits};
use clap::{Args, Parser, Subcommand};
use firebreak_embedder::args::{ChatArgs, EngineArgs};
use firebreak_gateway::api::{ApiLimits, InputLimits, Rate, RateLimits};
use firebreak_gateway::query::answer::lane::LaneConfig;
use firebreak_gateway::query::answer::llm::remote::RemoteLlmConfig;
use firebreak_gateway::query::answer::AnswerConfig;
use firebreak_gateway::api::mcp::McpSettings;
use firebreak_gateway::app::{AnswerSettings, BreakerSettings, EmbedderChoice, GatewayConfig, IndexChoice, IndexerSettings, LlmChoice};
use firebreak_gateway::guards::breaker::BreakerConfig;
use firebreak_gateway::pipeline::embedding::remote::RemoteConfig;
use firebreak_gateway::guards::pressure::PressureConfig;
use firebreak_gateway::pipeline::scheduler::SchedulerConfig;

#[derive(Parser)]
#[command(name = "firebreak", version, about = "Rate-limited embedding and RAG gateway for Kubernetes operations")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Async runtime threads: HTTP, database and index I/O. Inference has its own budget.
    pub fn runtime_threads(&self) -> usize {
        match &self.command {
            Command::Serve(s) => s.runtime_threads.max(1),
            Command::Eval(e) => e.serve.runtime_threads.max(1),
            Command::Migrate(_) | Command::Ingest(_) => 1,
        }
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the HTTP API, the outbox worker and the embedding scheduler.
    Serve(Box<ServeArgs>),
    /// Apply database migrations and exit.
    Migrate(StoreArgs),
    /// Send documents to a gateway's /v1/ingest (the ingest CronJob): LibreChat exports
    /// (.json), JSON Lines (.jsonl), Markdown and text files, RSS and Atom feeds.
    Ingest(IngestArgs),
    /// Measure retrieval: load a set of past incidents (alerts and their resolutions) into
    /// a fresh gateway, search for each new alert, print top-1, top-3 and MRR per mode.
    Eval(Box<EvalArgs>),
}

/// `firebreak eval`. Exit status: 0, or 1 when `--gate` finds a figure below the one
/// recorded, 2 when the run could not be made.
#[derive(Args)]
pub struct EvalArgs {
    /// The set: `{"past": [{key, labels, annotations, resolution}], "queries": [{expect, labels, annotations}]}`.
    /// Repeat for several sets: each is measured (and gated) on its own, in a fresh
    /// embedded gateway of its own.
    #[arg(long, value_name = "FILE", required = true)]
    pub set: Vec<PathBuf>,
    /// A running gateway to measure (it should be fresh: the set is added to what it
    /// holds, so only one `--set` goes with it). Unset: a fresh embedded gateway per set
    /// in a temporary directory, configured by the serve flags below, with rate limits
    /// and embedding budgets off.
    #[arg(long, env = "FIREBREAK_URL")]
    pub url: Option<String>,
    /// Bearer token for --url, with the scopes alerts:write, notes:write and search:read.
    #[arg(long, env = "FIREBREAK_EVAL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Results asked for per search: an expected incident beyond them counts as not found.
    #[arg(long, default_value_t = 10)]
    pub results: usize,
    /// One line per query: each mode's rank, and what hybrid put first when it was wrong.
    #[arg(long)]
    pub verbose: bool,
    /// Fail (exit 1) when a figure is below the one recorded in this file's
    /// "## Regression gate" table (docs/retrieval.md).
    #[arg(long, value_name = "MARKDOWN")]
    pub gate: Option<PathBuf>,
    /// Also write the whole report, every query's ranks included, as JSON (an array with
    /// one report per set).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Longest wait for the set's embeddings after loading, in seconds.
    #[arg(long, default_value_t = 600)]
    pub drain_timeout_secs: u64,
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// `firebreak ingest`. Exit status: 0 when every input was handled (bad documents are
/// reported and skipped, not fatal), 3 when the run stopped early (deadline, or the
/// gateway ended the run) with documents left, 2 when the gateway refuses this client.
#[derive(Args)]
pub struct IngestArgs {
    /// Files or directories to read (directories are walked; unknown file types skipped).
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// The gateway's base URL.
    #[arg(long, env = "FIREBREAK_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The documents' source name (e.g. librechat, wiki, status-page).
    #[arg(long, env = "FIREBREAK_INGEST_SOURCE")]
    pub source: String,
    /// Bearer token with the ingest:write scope (prefer --token-file or the variable).
    #[arg(long, env = "FIREBREAK_INGEST_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// File holding the bearer token (a mounted Secret).
    #[arg(long, env = "FIREBREAK_INGEST_TOKEN_FILE", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// State file: hashes of delivered documents, so the next run sends only changes and
    /// a run cut short resumes. Without it every document is offered again each run.
    #[arg(long, env = "FIREBREAK_INGEST_STATE")]
    pub state: Option<PathBuf>,
    /// The run stops cleanly after this long, whatever is left (30m, 1h, 90s).
    #[arg(long, env = "FIREBREAK_INGEST_DEADLINE", default_value = "30m", value_parser = parse_duration)]
    pub deadline: Duration,
    /// Skip documents updated before this: an RFC 3339 time, or an age such as 7d.
    #[arg(long, env = "FIREBREAK_INGEST_SINCE", value_parser = parse_since)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// The run's id (default: SOURCE-<UTC time>); the gateway limits how long one run may last.
    #[arg(long, env = "FIREBREAK_INGEST_RUN_ID")]
    pub run_id: Option<String>,
    /// Most documents per call (at most the gateway's --max-documents-per-ingest).
    #[arg(long, env = "FIREBREAK_INGEST_BATCH_DOCUMENTS", default_value_t = 64)]
    pub batch_documents: usize,
    /// Most request bytes per call (below the gateway's --max-body-bytes).
    #[arg(long, env = "FIREBREAK_INGEST_BATCH_BYTES", default_value_t = 1 << 20)]
    pub batch_bytes: usize,
    /// Input files larger than this are skipped and reported.
    #[arg(long, env = "FIREBREAK_INGEST_MAX_FILE_BYTES", default_value_t = 64 << 20)]
    pub max_file_bytes: u64,
    /// Each call to the gateway gives up after this many seconds.
    #[arg(long, env = "FIREBREAK_INGEST_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    firebreak_ingest::duration::parse(s).ok_or_else(|| format!("{s:?} is not a duration (30m, 1h30m, 90s)"))
}

fn parse_since(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let age = parse_duration(s).map_err(|_| format!("{s:?} is neither an RFC 3339 time nor an age (7d, 12h)"))?;
    Ok(chrono::Utc::now() - age)
}

impl IngestArgs {
    /// The run's configuration; reads the token file.
    pub fn config(&self) -> anyhow::Result<firebreak_ingest::IngestConfig> {
        use std::io::IsTerminal;
        let token = match (&self.token, &self.token_file) {
            (Some(t), _) => Some(t.trim().to_owned()),
            (None, Some(p)) => Some(
                std::fs::read_to_string(p).map_err(|e| anyhow!("reading --token-file {}: {e}", p.display()))?.trim().to_owned(),
            ),
            (None, None) => None,
        };
        if self.source.trim().is_empty() {
            bail!("--source must not be empty");
        }
        let mut cfg = firebreak_ingest::IngestConfig::new(&self.url, &self.source, self.inputs.clone());
        cfg.token = token.filter(|t| !t.is_empty());
        cfg.run_id = self.run_id.clone();
        cfg.state = self.state.clone();
        cfg.deadline = self.deadline;
        cfg.since = self.since;
        cfg.batch_documents = self.batch_documents.max(1);
        cfg.batch_bytes = self.batch_bytes.max(1024);
        cfg.max_file_bytes = self.max_file_bytes;
        cfg.request_timeout = Duration::from_secs(self.request_timeout_secs.max(1));
        cfg.interactive = std::io::stderr().is_terminal();
        Ok(cfg)
    }
}

#[derive(Args, Clone)]
pub struct StoreArgs {
    /// Directory for the embedded SQLite database and the qdrant-edge vector index.
    #[arg(long, env = "FIREBREAK_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// postgres://… for production; unset: SQLite in --data-dir.
    #[arg(long, env = "FIREBREAK_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Database connections held at most.
    #[arg(long, env = "FIREBREAK_DB_MAX_CONNECTIONS", default_value_t = 8)]
    pub db_max_connections: u32,
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten, next_help_heading = "Storage")]
    pub store: StoreArgs,
    /// Address to listen on.
    #[arg(long, env = "FIREBREAK_LISTEN", default_value = "127.0.0.1:8080", help_heading = "HTTP")]
    pub listen: SocketAddr,
    /// Async runtime threads (HTTP and I/O; inference runs on --cpu-threads).
    #[arg(long, env = "FIREBREAK_RUNTIME_THREADS", default_value_t = 2, help_heading = "HTTP")]
    pub runtime_threads: usize,
    /// Bearer tokens, one `source scopes token` line each (a mounted Secret). Tokens can
    /// also come from the FIREBREAK_TOKENS variable (lines or `;`-separated), never from a
    /// flag: command lines are visible to every process on the node.
    #[arg(long, env = "FIREBREAK_TOKENS_FILE", help_heading = "HTTP")]
    pub tokens_file: Option<PathBuf>,
    /// Browser origins allowed to call /mcp, comma-separated (`https://chat.example.com`):
    /// a request with any other Origin header is refused, as MCP asks. Agents send none.
    #[arg(long, env = "FIREBREAK_MCP_ALLOWED_ORIGINS", value_delimiter = ',', help_heading = "MCP")]
    pub mcp_allowed_origins: Vec<String>,
    /// Host header values /mcp accepts, comma-separated. Default: the loopback names
    /// without tokens (against DNS rebinding of a local trial), any with tokens.
    #[arg(long, env = "FIREBREAK_MCP_ALLOWED_HOSTS", value_delimiter = ',', help_heading = "MCP")]
    pub mcp_allowed_hosts: Vec<String>,
    /// Seconds to let jobs in progress finish at shutdown.
    #[arg(long, env = "FIREBREAK_SHUTDOWN_GRACE_SECS", default_value_t = 10, help_heading = "HTTP")]
    pub shutdown_grace_secs: u64,

    // -- embedder --
    /// In-process embedder (the default): model directory, CPU budget and engine limits.
    #[command(flatten, next_help_heading = "Embedder")]
    pub engine: EngineArgs,
    /// Use a remote OpenAI-compatible embedder instead (firebreak-embedder serve, TEI, Ollama).
    #[arg(long, env = "FIREBREAK_EMBEDDER_URL", help_heading = "Embedder")]
    pub embedder_url: Option<String>,
    /// Model name sent to the remote embedder; also the vector-cache key.
    #[arg(long, env = "FIREBREAK_EMBEDDER_MODEL", default_value = "all-MiniLM-L6-v2", help_heading = "Embedder")]
    pub embedder_model: String,
    /// Dimension of the remote embedder's vectors.
    #[arg(long, env = "FIREBREAK_EMBEDDING_DIM", default_value_t = 384, help_heading = "Embedder")]
    pub embedding_dim: usize,
    /// Longest deadline of one embedding batch (remote or in-process), in seconds. Below it
    /// the deadline follows the measured latency (p99 × 8 per token), once measured.
    #[arg(long, env = "FIREBREAK_EMBEDDER_TIMEOUT_SECS", default_value_t = 30, help_heading = "Embedder")]
    pub embedder_timeout_secs: u64,
    /// tokenizer.json of the remote model, for token-exact chunking (else words are counted).
    #[arg(long, env = "FIREBREAK_TOKENIZER", help_heading = "Embedder")]
    pub tokenizer: Option<PathBuf>,
    /// Sequence limit of the remote model, in tokens.
    #[arg(long, env = "FIREBREAK_MAX_SEQ_LENGTH", default_value_t = 256, help_heading = "Embedder")]
    pub max_seq_length: usize,

    // -- vector index --
    /// Qdrant server (gRPC, e.g. http://qdrant:6334); unset: qdrant-edge in --data-dir.
    #[arg(long, env = "FIREBREAK_QDRANT_URL", help_heading = "Storage")]
    pub qdrant_url: Option<String>,
    /// Qdrant collection, created on first start.
    #[arg(long, env = "FIREBREAK_QDRANT_COLLECTION", default_value = "firebreak", help_heading = "Storage")]
    pub qdrant_collection: String,
    /// Deadline of one Qdrant call, in seconds.
    #[arg(long, env = "FIREBREAK_QDRANT_TIMEOUT_SECS", default_value_t = 10, help_heading = "Storage")]
    pub qdrant_timeout_secs: u64,

    // -- scheduler --
    /// Embedding batches in flight at once.
    #[arg(long, env = "FIREBREAK_EMBED_CONCURRENCY", default_value_t = 1, help_heading = "Scheduler")]
    pub embed_concurrency: usize,
    /// Texts per embedding batch.
    #[arg(long, env = "FIREBREAK_EMBED_BATCH_TEXTS", default_value_t = 32, help_heading = "Scheduler")]
    pub embed_batch_texts: usize,
    /// Texts allowed to wait in the interactive class (beyond: 503 / keyword-only search).
    #[arg(long, env = "FIREBREAK_INTERACTIVE_QUEUE_TEXTS", default_value_t = 256, help_heading = "Scheduler")]
    pub interactive_queue_texts: usize,
    /// Texts allowed to wait in the alert class.
    #[arg(long, env = "FIREBREAK_ALERT_QUEUE_TEXTS", default_value_t = 4096, help_heading = "Scheduler")]
    pub alert_queue_texts: usize,
    /// Texts allowed to wait in the bulk class.
    #[arg(long, env = "FIREBREAK_BULK_QUEUE_TEXTS", default_value_t = 4096, help_heading = "Scheduler")]
    pub bulk_queue_texts: usize,
    /// Bulk gets at least one batch in this many…
    #[arg(long, env = "FIREBREAK_BULK_EVERY", default_value_t = 4, help_heading = "Scheduler")]
    pub bulk_every: u32,
    /// …unless a higher class has waited longer than this many milliseconds.
    #[arg(long, env = "FIREBREAK_MAX_PRIORITY_WAIT_MS", default_value_t = 2000, help_heading = "Scheduler")]
    pub max_priority_wait_ms: u64,

    // -- outbox worker --
    /// Embedding jobs in progress at once.
    #[arg(long, env = "FIREBREAK_MAX_JOBS", default_value_t = 16, help_heading = "Indexing")]
    pub max_jobs: usize,
    /// Seconds a claimed job stays ours; a dead replica's jobs return after it.
    #[arg(long, env = "FIREBREAK_JOB_LEASE_SECS", default_value_t = 300, help_heading = "Indexing")]
    pub job_lease_secs: u64,
    /// Outbox poll interval in milliseconds (intake also wakes the worker at once).
    #[arg(long, env = "FIREBREAK_OUTBOX_POLL_MS", default_value_t = 1000, help_heading = "Indexing")]
    pub outbox_poll_ms: u64,
    /// Attempts before a job is given up as failed.
    #[arg(long, env = "FIREBREAK_MAX_JOB_ATTEMPTS", default_value_t = 12, help_heading = "Indexing")]
    pub max_job_attempts: i64,
    /// Tokens per chunk (default: the model's limit).
    #[arg(long, env = "FIREBREAK_CHUNK_TOKENS", help_heading = "Indexing")]
    pub chunk_tokens: Option<usize>,
    /// Tokens shared by consecutive chunks (default: an eighth of a chunk, at most 32).
    #[arg(long, env = "FIREBREAK_CHUNK_OVERLAP", help_heading = "Indexing")]
    pub chunk_overlap: Option<usize>,
    /// Most chunks indexed per document; the rest is stored, not indexed.
    #[arg(long, env = "FIREBREAK_MAX_CHUNKS", default_value_t = 256, help_heading = "Indexing")]
    pub max_chunks: usize,
    /// Operations glossary: a file of `concept | phrase | phrase…` lines added to the
    /// built-in one (gateway/data/glossary.txt), or `off` for none. Re-index to apply a
    /// change to stored items (queries use it at once).
    #[arg(long, env = "FIREBREAK_GLOSSARY", value_name = "FILE|off", help_heading = "Retrieval")]
    pub glossary: Option<String>,

    // -- API --
    /// Largest request body in bytes (413 beyond).
    #[arg(long, env = "FIREBREAK_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024, help_heading = "Request limits")]
    pub max_body_bytes: usize,
    /// Most documents per ingest call (413 beyond).
    #[arg(long, env = "FIREBREAK_MAX_DOCUMENTS_PER_INGEST", default_value_t = 256, help_heading = "Request limits")]
    pub max_documents_per_ingest: usize,
    /// Most results per search (422 beyond).
    #[arg(long, env = "FIREBREAK_MAX_SEARCH_K", default_value_t = 50, help_heading = "Retrieval")]
    pub max_search_k: usize,
    /// Longest search query in characters, an alert query's text included (413 beyond).
    /// Characters, as the API document's maxLength counts (formerly --max-query-bytes).
    #[arg(long, alias = "max-query-bytes", env = "FIREBREAK_MAX_QUERY_CHARS", default_value_t = 8 * 1024, help_heading = "Retrieval")]
    pub max_query_chars: usize,
    /// Most inputs per /v1/embeddings call (422 beyond).
    #[arg(long, env = "FIREBREAK_MAX_EMBEDDING_INPUTS", default_value_t = 64, help_heading = "Request limits")]
    pub max_embedding_inputs: usize,
    /// API requests in flight at once; beyond it 503 + Retry-After before the body is read.
    #[arg(long, env = "FIREBREAK_MAX_CONCURRENT_REQUESTS", default_value_t = 64, help_heading = "HTTP")]
    pub max_concurrent_requests: usize,
    /// Milliseconds a client has to send its request headers (the connection is closed beyond).
    #[arg(long, env = "FIREBREAK_HEADER_READ_TIMEOUT_MS", default_value_t = 5000, help_heading = "HTTP")]
    pub header_read_timeout_ms: u64,
    /// Milliseconds a client has to send its request body (408 beyond).
    #[arg(long, env = "FIREBREAK_BODY_READ_TIMEOUT_MS", default_value_t = 10_000, help_heading = "HTTP")]
    pub body_read_timeout_ms: u64,
    /// Deepest JSON nesting accepted in a request body (422 beyond).
    #[arg(long, env = "FIREBREAK_MAX_JSON_DEPTH", default_value_t = 32, help_heading = "Request limits")]
    pub max_json_depth: usize,
    /// Most alerts in one webhook (413 beyond; Alertmanager's webhook_config max_alerts caps it).
    #[arg(long, env = "FIREBREAK_MAX_ALERTS_PER_WEBHOOK", default_value_t = 2000, help_heading = "Request limits")]
    pub max_alerts_per_webhook: usize,
    /// Most labels, and most annotations, per alert (422 beyond).
    #[arg(long, env = "FIREBREAK_MAX_LABELS", default_value_t = 128, help_heading = "Request limits")]
    pub max_labels: usize,
    /// Longest label or annotation name, in characters (422 beyond; formerly
    /// --max-label-name-bytes).
    #[arg(long, alias = "max-label-name-bytes", env = "FIREBREAK_MAX_LABEL_NAME_CHARS", default_value_t = 256, help_heading = "Request limits")]
    pub max_label_name_chars: usize,
    /// Longest label or annotation value, in characters (422 beyond; formerly
    /// --max-label-value-bytes).
    #[arg(long, alias = "max-label-value-bytes", env = "FIREBREAK_MAX_LABEL_VALUE_CHARS", default_value_t = 16 * 1024, help_heading = "Request limits")]
    pub max_label_value_chars: usize,
    /// Per-source rate of /v1/alerts, PER_MINUTE[:BURST] or `off` (503 + Retry-After beyond:
    /// Alertmanager retries 5xx only).
    #[arg(long, env = "FIREBREAK_ALERTS_RATE", default_value = "600:120", value_parser = parse_rate, help_heading = "Rates and budgets")]
    pub alerts_rate: RateFlag,
    /// Per-source rate of /v1/ingest (429 + Retry-After beyond).
    #[arg(long, env = "FIREBREAK_INGEST_RATE", default_value = "120:20", value_parser = parse_rate, help_heading = "Rates and budgets")]
    pub ingest_rate: RateFlag,
    /// Per-source rate of searches, incident reads and /v1/status (429 beyond).
    #[arg(long, env = "FIREBREAK_QUERY_RATE", default_value = "300:60", value_parser = parse_rate, help_heading = "Rates and budgets")]
    pub query_rate: RateFlag,
    /// Per-source rate of notes (429 beyond).
    #[arg(long, env = "FIREBREAK_NOTES_RATE", default_value = "60:20", value_parser = parse_rate, help_heading = "Rates and budgets")]
    pub notes_rate: RateFlag,
    /// Per-source rate of /v1/embeddings (429 beyond).
    #[arg(long, env = "FIREBREAK_EMBEDDINGS_RATE", default_value = "120:20", value_parser = parse_rate, help_heading = "Rates and budgets")]
    pub embeddings_rate: RateFlag,
    /// Bulk jobs waiting in the outbox before ingest is refused (429, Retry-After from the drain rate).
    #[arg(long, env = "FIREBREAK_MAX_BULK_BACKLOG", default_value_t = 10_000, help_heading = "Rates and budgets")]
    pub max_bulk_backlog: usize,
    /// Texts embedded per minute by the whole gateway, or `off`.
    #[arg(long, env = "FIREBREAK_EMBED_BUDGET_TEXTS", default_value = "3000", value_parser = parse_cap, help_heading = "Rates and budgets")]
    pub embed_budget_texts: CapFlag,
    /// Tokens embedded per minute by the whole gateway, or `off`.
    #[arg(long, env = "FIREBREAK_EMBED_BUDGET_TOKENS", default_value = "360000", value_parser = parse_cap, help_heading = "Rates and budgets")]
    pub embed_budget_tokens: CapFlag,
    /// Texts embedded per minute for one source, or `off`.
    #[arg(long, env = "FIREBREAK_SOURCE_EMBED_BUDGET_TEXTS", default_value = "1500", value_parser = parse_cap, help_heading = "Rates and budgets")]
    pub source_embed_budget_texts: CapFlag,
    /// Tokens embedded per minute for one source, or `off`.
    #[arg(long, env = "FIREBREAK_SOURCE_EMBED_BUDGET_TOKENS", default_value = "180000", value_parser = parse_cap, help_heading = "Rates and budgets")]
    pub source_embed_budget_tokens: CapFlag,
    /// Consecutive faults (errors or slow calls) that open a dependency's circuit breaker.
    #[arg(long, env = "FIREBREAK_BREAKER_FAILURES", default_value_t = 5, help_heading = "Breakers")]
    pub breaker_failures: u32,
    /// First pause of an open breaker, in milliseconds; doubles on each failed probe…
    #[arg(long, env = "FIREBREAK_BREAKER_OPEN_MS", default_value_t = 5000, help_heading = "Breakers")]
    pub breaker_open_ms: u64,
    /// …up to this many milliseconds.
    #[arg(long, env = "FIREBREAK_BREAKER_OPEN_MAX_MS", default_value_t = 120_000, help_heading = "Breakers")]
    pub breaker_open_max_ms: u64,
    /// An embedding batch still running after this many milliseconds always counts as a
    /// fault (the ceiling of the slow-call threshold, which follows the measured latency:
    /// p99 × 4 per token)…
    #[arg(long, env = "FIREBREAK_EMBED_SLOW_CALL_MS", default_value_t = 15_000, help_heading = "Breakers")]
    pub embed_slow_call_ms: u64,
    /// …and the threshold is never below this (its value until batches were measured: an
    /// embedder hung from the start is found within a few times this).
    #[arg(long, env = "FIREBREAK_EMBED_SLOW_FLOOR_MS", default_value_t = 500, help_heading = "Breakers")]
    pub embed_slow_floor_ms: u64,
    /// A vector-index call still running after this many milliseconds always counts as a
    /// fault (the ceiling; the threshold follows the measured latency, p99 × 4)…
    #[arg(long, env = "FIREBREAK_INDEX_SLOW_CALL_MS", default_value_t = 5000, help_heading = "Breakers")]
    pub index_slow_call_ms: u64,
    /// …and is never below this.
    #[arg(long, env = "FIREBREAK_INDEX_SLOW_FLOOR_MS", default_value_t = 1000, help_heading = "Breakers")]
    pub index_slow_floor_ms: u64,
    /// Alerts about Firebreak itself, as `label=value[,…]` (any one matches): stored, not
    /// embedded while they fire, so the gateway's trouble never makes it more work.
    #[arg(long, env = "FIREBREAK_SELF_ALERT_MATCHERS", default_value = firebreak_gateway::guards::self_alerts::DEFAULT_MATCHERS, help_heading = "Alert storms")]
    pub self_alert_matchers: String,
    /// Alerts per minute (resends included) above which storm mode holds occurrences whose
    /// text was already embedded, until the rate falls below half of it.
    #[arg(long, env = "FIREBREAK_STORM_ALERTS_PER_MINUTE", default_value_t = 300, help_heading = "Alert storms")]
    pub storm_alerts_per_minute: u64,
    /// PSI `some avg10` percentage at which bulk embedding pauses and ingest gets 429.
    #[arg(long, env = "FIREBREAK_PRESSURE_BULK_PAUSE", default_value_t = 40.0, help_heading = "Pressure")]
    pub pressure_bulk_pause: f64,
    /// PSI `some avg10` percentage at which alert embedding waits too.
    #[arg(long, env = "FIREBREAK_PRESSURE_ALERT_PAUSE", default_value_t = 80.0, help_heading = "Pressure")]
    pub pressure_alert_pause: f64,
    /// PSI files read by the pressure guard (the worst counts), comma-separated.
    #[arg(long, env = "FIREBREAK_PSI_FILES", value_delimiter = ',', help_heading = "Pressure",
          default_value = "/proc/pressure/cpu,/proc/pressure/memory,/sys/fs/cgroup/cpu.pressure,/sys/fs/cgroup/memory.pressure")]
    pub psi_files: Vec<PathBuf>,
    /// Without PSI: bulk pauses while alerts or queries have waited longer than this many ms.
    #[arg(long, env = "FIREBREAK_PRESSURE_FALLBACK_WAIT_MS", default_value_t = 10_000, help_heading = "Pressure")]
    pub pressure_fallback_wait_ms: u64,
    /// Oldest an ingest run (run_id) may get, in seconds; later calls of it get 409.
    #[arg(long, env = "FIREBREAK_INGEST_RUN_MAX_AGE_SECS", default_value_t = 3600, help_heading = "Ingest")]
    pub ingest_run_max_age_secs: u64,
    /// Milliseconds a search waits for its query embedding before going keyword-only.
    #[arg(long, env = "FIREBREAK_SEARCH_EMBED_TIMEOUT_MS", default_value_t = 2000, help_heading = "Retrieval")]
    pub search_embed_timeout_ms: u64,
    #[command(flatten)]
    pub answers: AnswerArgs,
}

/// `/v1/chat/completions`: the answer service and its LLM lane (docs/answers.md).
#[derive(Args)]
pub struct AnswerArgs {
    /// An OpenAI-compatible chat server for generated answers (Ollama, vLLM, llama.cpp,
    /// LiteLLM, `firebreak-embedder serve --chat-model`). Unset, with no --chat-model:
    /// every answer is extractive.
    #[arg(long, env = "FIREBREAK_LLM_URL", help_heading = "Answers")]
    pub llm_url: Option<String>,
    /// The model name sent to --llm-url.
    #[arg(long, env = "FIREBREAK_LLM_MODEL", default_value = "default", help_heading = "Answers")]
    pub llm_model: String,
    /// A file holding the --llm-url server's API key (a mounted Secret). The key can also
    /// come from FIREBREAK_LLM_API_KEY, never from a flag.
    #[arg(long, env = "FIREBREAK_LLM_API_KEY_FILE", help_heading = "Answers")]
    pub llm_api_key_file: Option<PathBuf>,
    #[command(flatten, next_help_heading = "Answers")]
    pub chat: ChatArgs,
    /// Generations at once on the LLM.
    #[arg(long, env = "FIREBREAK_LLM_CONCURRENCY", default_value_t = 1, help_heading = "Answers")]
    pub llm_concurrency: usize,
    /// Generations waiting for the LLM; beyond it, answers are extractive.
    #[arg(long, env = "FIREBREAK_LLM_MAX_WAITING", default_value_t = 4, help_heading = "Answers")]
    pub llm_max_waiting: usize,
    /// Most tokens of one generated answer.
    #[arg(long, env = "FIREBREAK_LLM_MAX_TOKENS", default_value_t = 256, help_heading = "Answers")]
    pub llm_max_tokens: u32,
    /// Milliseconds to the LLM's first token (waiting for a slot included); beyond it, the
    /// answer is extractive and the breaker counts a fault.
    #[arg(long, env = "FIREBREAK_LLM_FIRST_TOKEN_TIMEOUT_MS", default_value_t = 20_000, help_heading = "Answers")]
    pub llm_first_token_timeout_ms: u64,
    /// Seconds a whole generated answer may take; beyond it, it ends with the extractive one.
    #[arg(long, env = "FIREBREAK_LLM_TIMEOUT_SECS", default_value_t = 120, help_heading = "Answers")]
    pub llm_timeout_secs: u64,
    /// LLM tokens (prompt and completion) per minute, all sources together, or `off`.
    #[arg(long, env = "FIREBREAK_LLM_BUDGET_TOKENS", default_value = "30000", value_parser = parse_cap, help_heading = "Answers")]
    pub llm_budget_tokens: CapFlag,
    /// LLM tokens per minute for one source, or `off`.
    #[arg(long, env = "FIREBREAK_SOURCE_LLM_BUDGET_TOKENS", default_value = "15000", value_parser = parse_cap, help_heading = "Answers")]
    pub source_llm_budget_tokens: CapFlag,
    /// Generated answers per minute, all sources together, or `off`.
    #[arg(long, env = "FIREBREAK_LLM_BUDGET_ANSWERS", default_value = "120", value_parser = parse_cap, help_heading = "Answers")]
    pub llm_budget_answers: CapFlag,
    /// Generated answers per minute for one source, or `off`.
    #[arg(long, env = "FIREBREAK_SOURCE_LLM_BUDGET_ANSWERS", default_value = "60", value_parser = parse_cap, help_heading = "Answers")]
    pub source_llm_budget_answers: CapFlag,
    /// Search results an answer is grounded in.
    #[arg(long, env = "FIREBREAK_ANSWER_RESULTS", default_value_t = 5, help_heading = "Answers")]
    pub answer_results: usize,
    /// Most tokens of search results given to the LLM.
    #[arg(long, env = "FIREBREAK_ANSWER_CONTEXT_TOKENS", default_value_t = 512, help_heading = "Answers")]
    pub answer_context_tokens: usize,
    /// Longest question (the last user message) in characters (400 beyond; formerly
    /// --answer-max-question-bytes).
    #[arg(long, alias = "answer-max-question-bytes", env = "FIREBREAK_ANSWER_MAX_QUESTION_CHARS", default_value_t = 16 * 1024, help_heading = "Answers")]
    pub answer_max_question_chars: usize,
    /// Answer 429 instead of extractively when a caller asked for the `firebreak` model and
    /// the LLM lane refused (budget, queue, breaker, deadline).
    #[arg(long, env = "FIREBREAK_ANSWER_STRICT", help_heading = "Answers")]
    pub answer_strict: bool,
    /// Per-source rate of /v1/chat/completions (429 beyond).
    #[arg(long, env = "FIREBREAK_ANSWERS_RATE", default_value = "30:10", value_parser = parse_rate, help_heading = "Answers")]
    pub answers_rate: RateFlag,
}

impl AnswerArgs {
    /// The answer service's configuration.
    pub fn config(&self, breakers: &BreakerSettings) -> anyhow::Result<AnswerSettings> {
        for (name, v) in [("--llm-concurrency", self.llm_concurrency), ("--answer-results", self.answer_results), ("--answer-context-tokens", self.answer_context_tokens)] {
            if v == 0 {
                bail!("{name} must be at least 1");
            }
        }
        let llm = match (&self.llm_url, self.chat.config()) {
            (Some(_), Some(_)) => bail!("--llm-url and --chat-model both name an LLM: choose one"),
            (Some(url), None) => {
                let mut api_key = std::env::var("FIREBREAK_LLM_API_KEY").ok().filter(|k| !k.trim().is_empty());
                if let Some(p) = &self.llm_api_key_file {
                    let k = std::fs::read_to_string(p).map_err(|e| anyhow!("--llm-api-key-file {}: {e}", p.display()))?;
                    api_key = Some(k.trim().to_owned());
                }
                LlmChoice::Remote(RemoteLlmConfig { url: url.clone(), model: self.llm_model.clone(), api_key, connect_timeout: Duration::from_secs(5) })
            }
            (None, Some(chat)) => LlmChoice::InProcess(chat),
            (None, None) => LlmChoice::None,
        };
        let first_token = Duration::from_millis(self.llm_first_token_timeout_ms.max(100));
        let lane = LaneConfig {
            concurrency: self.llm_concurrency,
            max_waiting: self.llm_max_waiting,
            max_tokens: self.llm_max_tokens.max(1),
            first_token_timeout: first_token,
            timeout: Duration::from_secs(self.llm_timeout_secs.max(1)),
            budget: BudgetLimits {
                global: Allowance { texts_per_minute: self.llm_budget_answers.0, tokens_per_minute: self.llm_budget_tokens.0 },
                per_source: Allowance { texts_per_minute: self.source_llm_budget_answers.0, tokens_per_minute: self.source_llm_budget_tokens.0 },
            },
            breaker: BreakerConfig {
                failures: breakers.failures,
                slow_call: Some(first_token),
                slow_floor: Duration::from_secs(5).min(first_token),
                open_min: breakers.open_min,
                open_max: breakers.open_max,
            },
        };
        let answer = AnswerConfig {
            results: self.answer_results,
            context_tokens: self.answer_context_tokens,
            history_tokens: AnswerConfig::default().history_tokens,
            max_question_chars: self.answer_max_question_chars.max(1),
            strict: self.answer_strict,
        };
        Ok(AnswerSettings { answer, lane, llm })
    }
}

impl ServeArgs {
    /// The gateway configuration these flags describe.
    pub fn config(&self) -> anyhow::Result<GatewayConfig> {
        for (name, v) in [
            ("--embed-concurrency", self.embed_concurrency),
            ("--embed-batch-texts", self.embed_batch_texts),
            ("--interactive-queue-texts", self.interactive_queue_texts),
            ("--alert-queue-texts", self.alert_queue_texts),
            ("--bulk-queue-texts", self.bulk_queue_texts),
            ("--max-jobs", self.max_jobs),
            ("--max-chunks", self.max_chunks),
            ("--max-search-k", self.max_search_k),
            ("--max-concurrent-requests", self.max_concurrent_requests),
            ("--max-json-depth", self.max_json_depth),
            ("--max-alerts-per-webhook", self.max_alerts_per_webhook),
            ("--max-bulk-backlog", self.max_bulk_backlog),
        ] {
            if v == 0 {
                bail!("{name} must be at least 1: zero would refuse all work forever");
            }
        }
        let embedder = match &self.embedder_url {
            None => EmbedderChoice::InProcess(self.engine.config()?),
            Some(url) => EmbedderChoice::Remote {
                cfg: RemoteConfig {
                    url: url.clone(),
                    model: self.embedder_model.clone(),
                    dim: self.embedding_dim,
                    timeout: Duration::from_secs(self.embedder_timeout_secs.max(1)),
                },
                tokenizer: self.tokenizer.clone(),
                max_seq_length: self.max_seq_length,
            },
        };
        let index = match &self.qdrant_url {
            None => IndexChoice::Edge,
            Some(url) => IndexChoice::Server {
                url: url.clone(),
                collection: self.qdrant_collection.clone(),
                timeout: Duration::from_secs(self.qdrant_timeout_secs.max(1)),
            },
        };
        let mut tokens = match &self.tokens_file {
            Some(p) => Tokens::load(p).map_err(|e| anyhow!(e))?,
            None => Tokens::default(),
        };
        if let Ok(inline) = std::env::var("FIREBREAK_TOKENS") {
            tokens.extend(Tokens::parse(&inline).map_err(|e| anyhow!("FIREBREAK_TOKENS: {e}"))?);
        }
        let glossary = match self.glossary.as_deref() {
            Some("off") => Glossary::empty(),
            Some(file) => Glossary::load(&[PathBuf::from(file)]).map_err(|e| anyhow!("--glossary: {e}"))?,
            None => Glossary::load(&[]).map_err(|e| anyhow!("built-in glossary: {e}"))?,
        };
        let breakers = BreakerSettings {
            failures: self.breaker_failures.max(1),
            open_min: Duration::from_millis(self.breaker_open_ms.max(10)),
            open_max: Duration::from_millis(self.breaker_open_max_ms.max(self.breaker_open_ms.max(10))),
            embed_slow_call: Duration::from_millis(self.embed_slow_call_ms.max(1)),
            embed_slow_floor: Duration::from_millis(self.embed_slow_floor_ms.max(1)),
            embed_call_timeout: Duration::from_secs(self.embedder_timeout_secs.max(1)),
            index_slow_call: Duration::from_millis(self.index_slow_call_ms.max(1)),
            index_slow_floor: Duration::from_millis(self.index_slow_floor_ms.max(1)),
        };
        Ok(GatewayConfig {
            mcp: McpSettings { allowed_origins: self.mcp_allowed_origins.clone(), allowed_hosts: self.mcp_allowed_hosts.clone() },
            answers: self.answers.config(&breakers)?,
            glossary: Arc::new(glossary),
            tokens: Arc::new(tokens),
            data_dir: self.store.data_dir.clone(),
            database_url: self.store.database_url.clone(),
            db_max_connections: self.store.db_max_connections,
            index,
            embedder,
            scheduler: SchedulerConfig {
                concurrency: self.embed_concurrency,
                max_batch_texts: self.embed_batch_texts,
                capacity: [self.interactive_queue_texts, self.alert_queue_texts, self.bulk_queue_texts],
                bulk_every: self.bulk_every.max(1),
                max_priority_wait: Duration::from_millis(self.max_priority_wait_ms),
            },
            indexer: IndexerSettings {
                owner: None,
                max_jobs: self.max_jobs,
                lease: Duration::from_secs(self.job_lease_secs.max(1)),
                poll_interval: Duration::from_millis(self.outbox_poll_ms.max(10)),
                max_attempts: self.max_job_attempts,
                chunk_tokens: self.chunk_tokens,
                chunk_overlap: self.chunk_overlap,
                max_chunks: self.max_chunks,
            },
            api: ApiLimits {
                max_body_bytes: self.max_body_bytes,
                max_documents_per_ingest: self.max_documents_per_ingest,
                max_search_k: self.max_search_k,
                max_query_chars: self.max_query_chars,
                max_embedding_inputs: self.max_embedding_inputs,
                max_concurrent_requests: self.max_concurrent_requests,
                body_read_timeout: Duration::from_millis(self.body_read_timeout_ms.max(100)),
                input: InputLimits {
                    max_json_depth: self.max_json_depth,
                    max_alerts_per_webhook: self.max_alerts_per_webhook,
                    max_labels: self.max_labels,
                    max_label_name_chars: self.max_label_name_chars,
                    max_label_value_chars: self.max_label_value_chars,
                },
                rates: RateLimits {
                    alerts: self.alerts_rate.0,
                    ingest: self.ingest_rate.0,
                    query: self.query_rate.0,
                    notes: self.notes_rate.0,
                    embeddings: self.embeddings_rate.0,
                    answers: self.answers.answers_rate.0,
                },
                ingest_run_max_age: Duration::from_secs(self.ingest_run_max_age_secs.max(1)),
            },
            max_bulk_backlog: self.max_bulk_backlog,
            storm_alerts_per_minute: self.storm_alerts_per_minute.max(1),
            storm_window: Duration::from_secs(60),
            pressure: PressureConfig {
                sources: self.psi_files.clone(),
                bulk_pause: self.pressure_bulk_pause,
                alert_pause: self.pressure_alert_pause.max(self.pressure_bulk_pause),
                fallback_wait: Duration::from_millis(self.pressure_fallback_wait_ms),
                interval: Duration::from_secs(2),
            },
            self_alert_matchers: firebreak_gateway::guards::self_alerts::parse_matchers(&self.self_alert_matchers).map_err(|e| anyhow!(e))?,
            breakers,
            budget: BudgetLimits {
                global: Allowance { texts_per_minute: self.embed_budget_texts.0, tokens_per_minute: self.embed_budget_tokens.0 },
                per_source: Allowance {
                    texts_per_minute: self.source_embed_budget_texts.0,
                    tokens_per_minute: self.source_embed_budget_tokens.0,
                },
            },
            search_embed_timeout: Duration::from_millis(self.search_embed_timeout_ms),
        })
    }
}

/// A rate flag: `PER_MINUTE[:BURST]`, or `off` for no limit.
#[derive(Debug, Clone, Copy)]
pub struct RateFlag(pub Option<Rate>);

fn parse_rate(s: &str) -> Result<RateFlag, String> {
    if s.trim().eq_ignore_ascii_case("off") {
        return Ok(RateFlag(None));
    }
    s.parse().map(|r| RateFlag(Some(r)))
}

/// A per-minute cap: a whole number above 0, or `off`.
#[derive(Debug, Clone, Copy)]
pub struct CapFlag(pub Option<u64>);

fn parse_cap(s: &str) -> Result<CapFlag, String> {
    if s.trim().eq_ignore_ascii_case("off") {
        return Ok(CapFlag(None));
    }
    match s.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(CapFlag(Some(n))),
        _ => Err(format!("{s:?}: a whole number above 0 per minute, or `off` (0 would stop all embedding)")),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// `serve --help` is grouped the way the README's tables are, not one list of 70 flags.
    #[test]
    fn serve_help_is_grouped() {
        let mut cmd = super::Cli::command();
        let help = cmd.find_subcommand_mut("serve").unwrap().render_help().to_string();
        let mut at = 0;
        for heading in ["Storage:", "HTTP:", "Embedder:", "Scheduler:", "Indexing:", "Retrieval:", "Request limits:", "Rates and budgets:", "Breakers:", "Alert storms:", "Pressure:", "Ingest:", "Answers:"] {
            let found = help[at..].find(heading).unwrap_or_else(|| panic!("no {heading} after byte {at}:\n{help}"));
            at += found;
        }
        let options = help.split("\n\n").find(|s| s.starts_with("Options:")).unwrap_or("");
        assert!(!options.contains("--pressure") && !options.contains("--qdrant-url"), "ungrouped flags:\n{options}");
    }
}
