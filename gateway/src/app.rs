//! Wiring: builds the gateway from its configuration, in the order dependencies need
//! (store → embedder → index → scheduler → outbox worker → API), and stops it in reverse.
//! The binary and the end-to-end tests both start the gateway through here, so the tests
//! run exactly what production runs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use firebreak_embedder::tokenize::TextTokenizer;
use firebreak_embedder::{EngineConfig, Embedder};
use prometheus_client::registry::Registry;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::guards::admission::Admission;
use crate::query::answer::lane::{Lane, LaneConfig};
use crate::query::answer::llm::in_process::InProcessLlm;
use crate::query::answer::llm::remote::{RemoteLlm, RemoteLlmConfig};
use crate::query::answer::llm::LlmBackend;
use crate::query::answer::{AnswerConfig, Answerer};
use firebreak_embedder::budget::CpuBudget;
use firebreak_embedder::chat::{ChatConfig, ChatEngine};
use firebreak_embedder::gate::DeviceGate;
use crate::analysis::Glossary;
use crate::guards::breaker::{Breaker, BreakerConfig, BreakerMetrics};
use crate::guards::budget::{BudgetLimits, Budget};
use crate::pipeline::embedding::guarded::Guarded as GuardedEmbedder;
use crate::pipeline::index::guarded::Guarded as GuardedIndex;
use crate::pipeline::store::guarded::Guarded as GuardedStore;
use crate::api::{router, ApiLimits, ApiMetrics, ApiState, BodyLimits, Rates};
use crate::auth::{AuthState, Tokens};
use crate::pipeline::chunking::{self, ChunkPolicy, Segmenter};
use crate::pipeline::embedding::in_process::InProcess;
use crate::pipeline::embedding::remote::{Remote, RemoteConfig};
use crate::pipeline::embedding::EmbedBackend;
use crate::data_dir::DataDirLock;
use crate::pipeline::index::edge::EdgeIndex;
use crate::pipeline::index::server::ServerIndex;
use crate::pipeline::index::{Keywords, VectorIndex};
use crate::pipeline::indexer::{Indexer, IndexerConfig, IndexerMetrics};
use crate::pipeline::scheduler::{Scheduler, SchedulerConfig, SchedulerMetrics};
use crate::guards::pressure::{Pressure, PressureConfig};
use crate::query::search::Searcher;
use crate::guards::storm::Storm;
use crate::guards::self_alerts::{parse_matchers, SelfAlerts, DEFAULT_MATCHERS};
use crate::pipeline::store::sql::{redact, StoreConfig};
use crate::pipeline::store::{Dialect, SqlStore, SqlxStore};

/// Which embedder the gateway uses.
#[derive(Debug, Clone)]
pub enum EmbedderChoice {
    /// The `embedder` crate in this process.
    InProcess(EngineConfig),
    /// An OpenAI-compatible server; `tokenizer` (a tokenizer.json) makes chunking
    /// token-exact, else words stand in for tokens.
    Remote { cfg: RemoteConfig, tokenizer: Option<PathBuf>, max_seq_length: usize },
}

/// Which LLM generated answers come from.
#[derive(Debug, Clone)]
pub enum LlmChoice {
    /// None: every answer is extractive.
    None,
    /// An OpenAI-compatible chat server.
    Remote(RemoteLlmConfig),
    /// A GGUF chat model in this process, on the embedder's CPU budget (with a remote
    /// embedder, on a budget of its own of `--cpu-threads`).
    InProcess(ChatConfig),
}

/// The answer service, its LLM and the lane's guards.
#[derive(Debug, Clone)]
pub struct AnswerSettings {
    pub answer: AnswerConfig,
    pub lane: LaneConfig,
    pub llm: LlmChoice,
}

impl Default for AnswerSettings {
    fn default() -> Self {
        AnswerSettings { answer: AnswerConfig::default(), lane: LaneConfig::default(), llm: LlmChoice::None }
    }
}

/// Where vectors live.
#[derive(Debug, Clone)]
pub enum IndexChoice {
    /// qdrant-edge shard under `<data-dir>/vectors`.
    Edge,
    /// A Qdrant server.
    Server { url: String, collection: String, timeout: Duration },
}

/// Everything `firebreak serve` can be told.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub data_dir: PathBuf,
    /// `None`: SQLite in `data_dir`.
    pub database_url: Option<String>,
    pub db_max_connections: u32,
    pub index: IndexChoice,
    pub embedder: EmbedderChoice,
    pub scheduler: SchedulerConfig,
    /// Outbox worker settings; its `chunks` are filled from the model when `None`.
    pub indexer: IndexerSettings,
    pub api: ApiLimits,
    pub search_embed_timeout: Duration,
    /// Bulk jobs allowed to wait in the outbox before ingest is refused (429).
    pub max_bulk_backlog: usize,
    /// Texts and tokens embedded per minute, globally and per source.
    pub budget: BudgetLimits,
    /// Circuit breakers around the embedder, the index and the store.
    pub breakers: BreakerSettings,
    /// `label=value` pairs marking alerts about Firebreak itself (stored, not embedded while firing).
    pub self_alert_matchers: Vec<(String, String)>,
    /// Alerts per minute above which storm mode coalesces identical alert texts.
    pub storm_alerts_per_minute: u64,
    /// What "per minute" means for storm mode: a minute, shorter in tests.
    pub storm_window: Duration,
    /// The pressure guard: PSI sources and thresholds.
    pub pressure: PressureConfig,
    /// Bearer tokens; empty means an open server (loopback only, see [`crate::auth::check_bind`]).
    pub tokens: Arc<Tokens>,
    /// The operations glossary both indexing and search expand keywords with.
    pub glossary: Arc<Glossary>,
    /// Answers (`/v1/chat/completions`) and their LLM.
    pub answers: AnswerSettings,
    /// `/mcp`: which browser origins and Host names it accepts.
    pub mcp: crate::api::mcp::McpSettings,
}

/// The circuit breakers' settings (crate::guards::breaker): shared trip and pause rules, and per
/// dependency the slow-call threshold's floor and ceiling (between them it follows the
/// measured latency) and the embedder's call timeout.
#[derive(Debug, Clone, Copy)]
pub struct BreakerSettings {
    pub failures: u32,
    pub open_min: Duration,
    pub open_max: Duration,
    /// An embedding batch slower than this always counts as a fault (the ceiling)…
    pub embed_slow_call: Duration,
    /// …and one slower than this may count, if the measured latency says so (the floor;
    /// also the threshold before anything was measured).
    pub embed_slow_floor: Duration,
    /// The longest an embedding batch may take, whatever was measured.
    pub embed_call_timeout: Duration,
    /// An index call slower than this always counts as a fault…
    pub index_slow_call: Duration,
    /// …and one slower than this may.
    pub index_slow_floor: Duration,
}

impl Default for BreakerSettings {
    /// A batch of 32 texts of 256 tokens takes a few seconds on one slow core, and the
    /// measured latency scales the threshold with the batch: 15 s is a ceiling no healthy
    /// batch reaches. Half a second is the floor: the threshold for a tiny batch, and for
    /// every batch until a few were measured, so an embedder that hangs from the start is
    /// found within seconds (a first batch that is only slow finishes, and its fault is
    /// withdrawn: crate::guards::breaker). An index call takes milliseconds; 1 s is a slow disk, 5 s a
    /// stuck one or a partitioned server.
    fn default() -> Self {
        let c = BreakerConfig::new(None, Duration::ZERO);
        BreakerSettings {
            failures: c.failures,
            open_min: c.open_min,
            open_max: c.open_max,
            embed_slow_call: Duration::from_secs(15),
            embed_slow_floor: Duration::from_millis(500),
            embed_call_timeout: Duration::from_secs(30),
            index_slow_call: Duration::from_secs(5),
            index_slow_floor: Duration::from_secs(1),
        }
    }
}

impl BreakerSettings {
    fn config(&self, slow_call: Option<(Duration, Duration)>) -> BreakerConfig {
        BreakerConfig {
            failures: self.failures,
            slow_call: slow_call.map(|(ceiling, _)| ceiling),
            slow_floor: slow_call.map_or(Duration::ZERO, |(_, floor)| floor),
            open_min: self.open_min,
            open_max: self.open_max,
        }
    }
}

/// Outbox worker settings that do not depend on the model.
#[derive(Debug, Clone)]
pub struct IndexerSettings {
    pub owner: Option<String>,
    pub max_jobs: usize,
    pub lease: Duration,
    pub poll_interval: Duration,
    pub max_attempts: i64,
    pub chunk_tokens: Option<usize>,
    pub chunk_overlap: Option<usize>,
    pub max_chunks: usize,
}

impl Default for IndexerSettings {
    fn default() -> Self {
        IndexerSettings {
            owner: None,
            max_jobs: 16,
            lease: Duration::from_secs(300),
            poll_interval: Duration::from_secs(1),
            max_attempts: 12,
            chunk_tokens: None,
            chunk_overlap: None,
            max_chunks: 256,
        }
    }
}

impl GatewayConfig {
    /// The embedded default: SQLite and qdrant-edge in `data_dir`, the model in-process.
    pub fn embedded(data_dir: impl Into<PathBuf>, model_dir: impl Into<PathBuf>) -> Self {
        GatewayConfig {
            data_dir: data_dir.into(),
            database_url: None,
            db_max_connections: 8,
            index: IndexChoice::Edge,
            embedder: EmbedderChoice::InProcess(EngineConfig::new(model_dir)),
            scheduler: SchedulerConfig::default(),
            indexer: IndexerSettings::default(),
            api: ApiLimits::default(),
            search_embed_timeout: Duration::from_secs(2),
            max_bulk_backlog: 10_000,
            budget: BudgetLimits::default(),
            breakers: BreakerSettings::default(),
            self_alert_matchers: parse_matchers(DEFAULT_MATCHERS).expect("the defaults parse"),
            storm_alerts_per_minute: 300,
            storm_window: Duration::from_secs(60),
            pressure: PressureConfig::default(),
            tokens: Arc::new(Tokens::default()),
            glossary: Arc::new(Glossary::load(&[]).expect("the built-in glossary parses (a unit test checks it)")),
            answers: AnswerSettings::default(),
            mcp: Default::default(),
        }
    }
}

/// A running gateway.
pub struct Gateway {
    pub state: ApiState,
    stop_indexer: Arc<Notify>,
    indexer: JoinHandle<()>,
    /// The storm and pressure watchers: they hold nothing that needs a graceful end and
    /// are aborted at shutdown.
    watchers: [JoinHandle<()>; 2],
    /// Held while the gateway runs on an embedded store or shard ([`crate::data_dir`]).
    data_dir_lock: Option<DataDirLock>,
}

/// Opens the SQL store (migrating it) from the configuration.
pub async fn open_store(data_dir: &std::path::Path, url: Option<&str>, max_connections: u32) -> anyhow::Result<SqlxStore> {
    let url = match url {
        Some(u) => u.to_owned(),
        None => {
            std::fs::create_dir_all(data_dir).with_context(|| format!("creating data dir {}", data_dir.display()))?;
            Dialect::sqlite_url(data_dir)
        }
    };
    let mut cfg = StoreConfig::new(&url);
    cfg.max_connections = max_connections;
    let store = SqlxStore::open(&cfg).await.with_context(|| format!("opening store {}", redact(&url)))?;
    tracing::info!(store = %redact(&url), "store ready (migrations applied)");
    Ok(store)
}

fn owner_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "firebreak".into());
    format!("{host}-{}-{}", std::process::id(), crate::clock::now_millis())
}

impl Gateway {
    /// Starts every part. Must run inside a tokio runtime.
    pub async fn start(cfg: GatewayConfig) -> anyhow::Result<Self> {
        // The data directory holds the embedded shard or database: one process at a time.
        let embedded_store = cfg.database_url.is_none();
        let lock = (embedded_store || matches!(cfg.index, IndexChoice::Edge)).then(|| DataDirLock::take(&cfg.data_dir)).transpose()?;
        let store = open_store(&cfg.data_dir, cfg.database_url.as_deref(), cfg.db_max_connections).await?;
        if embedded_store {
            let n = store.reclaim_leases().await.context("returning a dead process's leases to the outbox")?;
            if n > 0 {
                tracing::warn!(jobs = n, "jobs leased by a process that died returned to the outbox");
            }
        }
        let mut gateway = Self::start_with_store(cfg, Arc::new(store)).await?;
        gateway.data_dir_lock = lock;
        Ok(gateway)
    }

    /// Starts every part on a store opened by the caller (tests that need to reach under
    /// the store, e.g. to take the database away).
    pub async fn start_with_store(cfg: GatewayConfig, store: Arc<dyn SqlStore>) -> anyhow::Result<Self> {
        let mut registry = Registry::default();
        let breakers = BreakerMetrics::new(&mut registry);
        let breaker = |dependency, slow_call| Breaker::new(dependency, cfg.breakers.config(slow_call), &breakers);
        let store_breaker = breaker("store", None);
        let store: Arc<dyn SqlStore> = Arc::new(GuardedStore::new(store, store_breaker.clone()));

        // The CPU pool and its turn-taking, when the embedder runs here: an in-process chat
        // model shares them (firebreak_embedder::gate).
        let mut pool: Option<(CpuBudget, Arc<DeviceGate>)> = None;
        let (backend, segmenter, max_seq): (Arc<dyn EmbedBackend>, Segmenter, usize) = match &cfg.embedder {
            EmbedderChoice::InProcess(engine) => {
                let e = Embedder::start(engine.clone(), &mut registry)
                    .with_context(|| format!("starting the embedder from {}", engine.model_dir.display()))?;
                let seg = chunking::by_model(e.tokenizer().clone());
                let max_seq = e.model().max_seq_length;
                pool = Some((e.budget().clone(), e.gate().clone()));
                (Arc::new(InProcess::new(e)), seg, max_seq)
            }
            EmbedderChoice::Remote { cfg: rc, tokenizer, max_seq_length } => {
                let seg = match tokenizer {
                    Some(p) => chunking::by_model(Arc::new(
                        TextTokenizer::load(p, *max_seq_length, usize::MAX, usize::MAX)
                            .with_context(|| format!("loading tokenizer {}", p.display()))?,
                    )),
                    None => Segmenter::Words,
                };
                (Arc::new(Remote::new(rc.clone()).context("remote embedder")?), seg, *max_seq_length)
            }
        };
        tracing::info!(embedder = %backend.describe(), model = backend.model(), dim = backend.dim(), "embedder chosen");
        let b = &cfg.breakers;
        let embed_breaker = breaker("embedder", Some((b.embed_slow_call, b.embed_slow_floor)));
        let backend: Arc<dyn EmbedBackend> = Arc::new(GuardedEmbedder::new(backend, embed_breaker.clone(), b.embed_call_timeout));

        let index: Arc<dyn VectorIndex> = match &cfg.index {
            IndexChoice::Edge => {
                let path = cfg.data_dir.join("vectors");
                let dim = backend.dim();
                Arc::new(tokio::task::spawn_blocking(move || EdgeIndex::open(&path, dim)).await??)
            }
            IndexChoice::Server { url, collection, timeout } => {
                Arc::new(ServerIndex::open(url, collection, backend.dim(), *timeout).await?)
            }
        };

        let budget = Arc::new(Budget::new(crate::guards::budget::EMBEDDINGS, cfg.budget, &mut registry));
        let pressure = Pressure::new(cfg.pressure.clone(), &mut registry);
        let index_breaker = breaker("index", Some((cfg.breakers.index_slow_call, cfg.breakers.index_slow_floor)));
        let index: Arc<dyn VectorIndex> = Arc::new(GuardedIndex::new(index, index_breaker.clone()));
        let scheduler =
            Scheduler::spawn(cfg.scheduler, backend.clone(), budget.clone(), pressure.clone(), Arc::new(SchedulerMetrics::new(&mut registry)));
        let keywords = Arc::new(Keywords::new()?);

        let mut chunks = ChunkPolicy::for_model(max_seq);
        if let Some(t) = cfg.indexer.chunk_tokens {
            chunks.max_tokens = t.clamp(8, max_seq.saturating_sub(2).max(8));
        }
        if let Some(o) = cfg.indexer.chunk_overlap {
            chunks.overlap = o.min(chunks.max_tokens / 2);
        }
        chunks.max_chunks = cfg.indexer.max_chunks.clamp(1, crate::pipeline::index::point_id::MAX_CHUNKS as usize);
        let s = &cfg.indexer;
        let mut icfg = IndexerConfig::new(s.owner.clone().unwrap_or_else(owner_name), chunks);
        let icfg_owner = icfg.owner.clone();
        icfg.max_jobs = s.max_jobs.max(1);
        icfg.lease = s.lease;
        icfg.poll_interval = s.poll_interval;
        icfg.max_attempts = s.max_attempts.max(1);
        let admission = Admission::new(cfg.max_bulk_backlog, budget, pressure.clone(), &mut registry);
        let indexer = Arc::new(Indexer {
            admission: admission.clone(),
            cfg: icfg,
            store: store.clone(),
            index: index.clone(),
            scheduler: scheduler.clone(),
            keywords: keywords.clone(),
            glossary: cfg.glossary.clone(),
            segmenter,
            metrics: Arc::new(IndexerMetrics::new(&mut registry)),
            in_hand: Default::default(),
            lease_metrics: crate::pipeline::indexer::leases::LeaseMetrics::new(&mut registry),
        });

        let searches_degraded = prometheus_client::metrics::counter::Counter::default();
        registry.register(
            "firebreak_search_degraded",
            "Searches answered keyword-only (degraded: true) because no query vector came in time",
            searches_degraded.clone(),
        );
        let searches_without_store = prometheus_client::metrics::counter::Counter::default();
        registry.register(
            "firebreak_search_without_store",
            "Searches answered from the index alone (degraded: true) because the database was unreachable",
            searches_without_store.clone(),
        );
        let searcher = Arc::new(Searcher {
            index: index.clone(),
            store: store.clone(),
            scheduler: scheduler.clone(),
            keywords,
            glossary: cfg.glossary.clone(),
            embed_timeout: cfg.search_embed_timeout,
            history_limit: 10,
            degraded: searches_degraded,
            without_store: searches_without_store,
            without_store_log: crate::log_throttle::Throttle::new(std::time::Duration::from_secs(60)),
        });
        let llm: Option<Arc<dyn LlmBackend>> = match &cfg.answers.llm {
            LlmChoice::None => None,
            LlmChoice::Remote(rc) => Some(Arc::new(RemoteLlm::new(rc.clone()).context("the LLM client")?)),
            LlmChoice::InProcess(chat) => {
                let (budget, gate) = match pool {
                    Some(p) => p,
                    None => (CpuBudget::new(firebreak_embedder::budget::default_cpu_threads())?, Arc::new(DeviceGate::default())),
                };
                let engine = ChatEngine::start(chat.clone(), budget, gate, &mut registry)
                    .with_context(|| format!("starting the chat model from {}", chat.model.display()))?;
                Some(Arc::new(InProcessLlm::new(engine)))
            }
        };
        let lane = llm.map(|backend| Lane::new(backend, cfg.answers.lane.clone(), &breakers, &mut registry));
        let mut breaker_list = vec![store_breaker, embed_breaker, index_breaker];
        breaker_list.extend(lane.as_ref().map(|l| l.breaker().clone()));
        let answerer = Arc::new(Answerer::new(searcher.clone(), lane, cfg.answers.answer.clone(), &mut registry));
        let auth = AuthState::new(cfg.tokens.clone(), &mut registry);
        let shed = crate::guards::shed::Shed::new(cfg.api.max_concurrent_requests, &mut registry);
        let rates = Rates::new(cfg.api.rates, &mut registry);
        let body = BodyLimits::new(cfg.api.max_body_bytes, cfg.api.body_read_timeout, cfg.api.input, &mut registry);
        let metrics = ApiMetrics::new(&mut registry);
        let red = firebreak_http::Red::new(&mut registry);
        firebreak_http::build::register(&mut registry, env!("CARGO_PKG_VERSION"));
        let self_alerts = Arc::new(SelfAlerts::new(cfg.self_alert_matchers.clone(), &mut registry));
        let storm = Storm::new(cfg.storm_alerts_per_minute, cfg.storm_window, &mut registry);
        let storm_watch = tokio::spawn(storm.clone().watch(store.clone(), storm.tick(), std::future::pending()));
        let sched = scheduler.clone();
        let queues = move || {
            let s = sched.clone();
            async move { s.status().await }
        };
        let pressure_watch = tokio::spawn(pressure.clone().watch(queues, std::future::pending()));
        let wake = Arc::new(Notify::new());
        let stop_indexer = Arc::new(Notify::new());
        let stop = stop_indexer.clone();
        let indexer = tokio::spawn(indexer.run(wake.clone(), async move { stop.notified().await }));
        let incidents = Arc::new(crate::query::incidents::Incidents::new(store.clone(), wake.clone()));
        let status = Arc::new(crate::query::status::StatusReport {
            store: store.clone(),
            index: index.clone(),
            scheduler: scheduler.clone(),
            storm: storm.clone(),
            breakers: breaker_list.clone(),
            pressure: pressure.clone(),
            replica: icfg_owner,
        });
        let mcp = crate::api::McpState { settings: cfg.mcp.clone(), metrics: crate::api::mcp::ToolMetrics::new(&mut registry) };
        let state = ApiState {
            incidents,
            status,
            mcp,
            store,
            index,
            scheduler,
            searcher,
            registry: Arc::new(registry),
            wake,
            auth,
            shed,
            rates,
            body,
            admission,
            metrics,
            red,
            self_alerts,
            storm,
            answerer,
            breakers: breaker_list,
            pressure,
            limits: cfg.api,
        };
        Ok(Gateway { state, stop_indexer, indexer, watchers: [storm_watch, pressure_watch], data_dir_lock: None })
    }

    /// The HTTP API.
    pub fn router(&self) -> Router {
        router(self.state.clone())
    }

    /// Lets jobs in progress finish (up to `grace`); whatever is left returns to the
    /// outbox when its lease runs out.
    pub async fn shutdown(self, grace: Duration) {
        self.watchers.iter().for_each(JoinHandle::abort);
        self.stop_indexer.notify_one();
        if tokio::time::timeout(grace, self.indexer).await.is_err() {
            tracing::warn!(?grace, "jobs still in progress at shutdown; their leases will return them to the outbox");
        }
    }
}
