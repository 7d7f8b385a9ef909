//! A small chat model for answers that must not need another server: a quantized GGUF
//! llama-family model (SmolLM2-135M-Instruct, Q4_1, by default) run by candle's quantized
//! llama, on the **same CPU budget** as the embeddings.
//!
//! The shape is the embedder's: a worker thread owns the model and runs one generation
//! at a time, fed by a bounded queue (`--chat-max-waiting`; beyond it, refused with a
//! retry-after, so memory stays flat under any number of callers). Each step of a
//! generation — a chunk of the prompt, or one new token — takes the pool through the
//! [`DeviceGate`]: an interactive or alert embedding batch that waits goes first, so an
//! alert is never embedded later than one generation step because someone asked a
//! question; bulk batches and generation steps take turns, so an answer never starves
//! behind a bulk ingest. Generation never uses a thread outside the budget.
//!
//! Tokens stream back on a channel as they are made. A caller that goes away ends its
//! generation at the next token; nothing is computed for nobody. Decoding is greedy unless
//! a temperature is asked for (the tests and the gateway's answers are deterministic),
//! with a mild repetition penalty: a 135M model left alone loops on a phrase.

pub mod metrics;
pub mod prompt;
pub mod vocab;
pub mod weights;

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use candle_transformers::generation::LogitsProcessor;
use candle_transformers::models::quantized_llama::ModelWeights;
use prometheus_client::registry::Registry;
use tokio::sync::mpsc;

use crate::budget::CpuBudget;
use crate::error::{EmbedError, Result};
use crate::gate::{DeviceGate, Shared};
pub use metrics::ChatMetrics;
pub use prompt::Turn;
use vocab::ChatVocab;

/// Prompt tokens run in one step: small enough that a waiting embedding batch is delayed
/// by one short forward pass, large enough to keep the matmuls efficient.
const PREFILL_CHUNK: usize = 64;
/// The repetition penalty and how far back it looks: far enough to cover a paragraph, the
/// unit a small model repeats.
const REPEAT_PENALTY: f32 = 1.1;
const REPEAT_LAST_N: usize = 256;

/// The chat model's settings; each has a flag and a `FIREBREAK_*` variable.
#[derive(Debug, Clone)]
pub struct ChatConfig {
    /// A `.gguf` file, or a directory holding one (scripts/fetch-chat-model.sh).
    pub model: PathBuf,
    /// Most tokens of prompt and answer together; a longer prompt is refused.
    pub max_context_tokens: usize,
    /// Most tokens one answer may have, whatever the caller asks.
    pub max_new_tokens: usize,
    /// Most generations waiting behind the running one; beyond it, refused.
    pub max_waiting: usize,
}

impl ChatConfig {
    pub fn new(model: impl Into<PathBuf>) -> Self {
        ChatConfig { model: model.into(), max_context_tokens: 2048, max_new_tokens: 512, max_waiting: 4 }
    }
}

/// What a generation is asked to do.
#[derive(Debug, Clone)]
pub struct Generate {
    pub turns: Vec<Turn>,
    /// At most this many new tokens (capped by the config).
    pub max_tokens: Option<usize>,
    /// `None` or ≤ 0: greedy.
    pub temperature: Option<f64>,
    pub seed: u64,
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The model ended its turn.
    Stop,
    /// The token limit (the caller's, the config's or the context's) was reached.
    Length,
}

impl Finish {
    /// OpenAI's `finish_reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Finish::Stop => "stop",
            Finish::Length => "length",
        }
    }
}

/// What a running generation sends back.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The next piece of the answer's text.
    Text(String),
    /// The end, with the token counts.
    Done { finish: Finish, prompt_tokens: usize, completion_tokens: usize },
    /// The model failed; nothing more follows.
    Failed(String),
}

/// A generation accepted: its prompt's size, and its events as they come.
pub struct Generation {
    pub prompt_tokens: usize,
    pub events: mpsc::Receiver<Event>,
}

struct Job {
    ids: Vec<u32>,
    max_new: usize,
    temperature: Option<f64>,
    seed: u64,
    events: mpsc::Sender<Event>,
    arrived: Instant,
}

/// A loaded chat model. Cheap to clone; the worker stops when the last clone is gone.
#[derive(Clone)]
pub struct ChatEngine {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    vocab: Arc<ChatVocab>,
    cfg: ChatConfig,
    jobs: SyncSender<Job>,
    metrics: Arc<ChatMetrics>,
    /// Mean seconds per generation lately, for `Retry-After` when the queue is full.
    seconds_per_generation: std::sync::Mutex<f64>,
}

/// The `.gguf` file a path names: itself, or the one file of that kind in a directory.
pub fn model_file(path: &Path) -> Result<PathBuf> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    let entries = std::fs::read_dir(path).map_err(|e| EmbedError::file(path, e))?;
    let mut found: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "gguf")).collect();
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(EmbedError::file(path, "no .gguf file here (scripts/fetch-chat-model.sh installs SmolLM2)")),
        n => Err(EmbedError::file(path, format!("{n} .gguf files here: name one"))),
    }
}

impl ChatEngine {
    /// Loads the model (on the budget's threads) and starts its worker.
    pub fn start(cfg: ChatConfig, budget: CpuBudget, gate: Arc<DeviceGate>, registry: &mut Registry) -> Result<Self> {
        if cfg.max_context_tokens < 16 || cfg.max_new_tokens == 0 || cfg.max_waiting == 0 {
            return Err(EmbedError::Inference("chat limits: context at least 16 tokens, new tokens and waiting at least 1".into()));
        }
        let path = model_file(&cfg.model)?;
        let mut file = std::fs::File::open(&path).map_err(|e| EmbedError::file(&path, e))?;
        let content = candle_core::quantized::gguf_file::Content::read(&mut file).map_err(|e| EmbedError::file(&path, e))?;
        let template = content.metadata.get("tokenizer.chat_template").and_then(|v| v.to_string().ok()).cloned().unwrap_or_default();
        if !prompt::is_chatml(&template) {
            return Err(EmbedError::unsupported(&path, "the model's chat template is not ChatML (<|im_start|> … <|im_end|>): not supported"));
        }
        let name = content
            .metadata
            .get("general.name")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());
        let context = content.metadata.get("llama.context_length").and_then(|v| v.to_u32().ok()).unwrap_or(2048) as usize;
        let max_context = cfg.max_context_tokens.min(context).min(candle_transformers::models::quantized_llama::MAX_SEQ_LEN);
        let vocab = Arc::new(ChatVocab::from_gguf(&content, &path)?);
        weights::bound_candle_threads(budget.threads());
        let (content, mut fast) = budget.install(|| weights::requantized(content, &mut file, &path))?;
        let model = budget
            .install(|| ModelWeights::from_gguf(content, &mut fast, &Device::Cpu))
            .map_err(|e| EmbedError::unsupported(&path, format!("cannot load the chat model: {e}")))?;
        drop(fast);
        let metrics = Arc::new(ChatMetrics::new(registry));
        metrics.waiting_capacity.set(cfg.max_waiting as i64);
        let (jobs, rx) = sync_channel::<Job>(cfg.max_waiting);
        let worker = Worker { model, vocab: vocab.clone(), budget, gate, metrics: metrics.clone(), max_context };
        let inner = Arc::new(Inner {
            name: name.clone(),
            vocab,
            cfg: ChatConfig { max_context_tokens: max_context, ..cfg },
            jobs,
            metrics,
            seconds_per_generation: std::sync::Mutex::new(5.0),
        });
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("fb-chat".into())
            .spawn(move || worker.run(rx, weak))
            .map_err(|e| EmbedError::Inference(format!("cannot start the chat worker: {e}")))?;
        tracing::info!(model = %name, file = %path.display(), max_context, "chat model ready");
        Ok(ChatEngine { inner })
    }

    /// The model's name (the GGUF's `general.name`).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The prompt's length in tokens, as a generation would count it.
    pub fn prompt_tokens(&self, turns: &[Turn]) -> Result<usize> {
        Ok(prompt::render(&self.inner.vocab, turns)?.len())
    }

    /// The ids of a text (control-token spellings in it as text).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.inner.vocab.encode(text)
    }

    /// The text of ids.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.vocab.decode(ids)
    }

    /// The prompt a conversation becomes.
    pub fn prompt_ids(&self, turns: &[Turn]) -> Result<Vec<u32>> {
        prompt::render(&self.inner.vocab, turns)
    }

    /// Most tokens of prompt and answer together.
    pub fn max_context_tokens(&self) -> usize {
        self.inner.cfg.max_context_tokens
    }

    pub fn metrics(&self) -> &ChatMetrics {
        &self.inner.metrics
    }

    /// Queues a generation; its events arrive as it runs. Refused at once when the prompt
    /// does not fit the context or the queue is full.
    pub fn generate(&self, g: Generate) -> Result<Generation> {
        let inner = &self.inner;
        let ids = prompt::render(&inner.vocab, &g.turns)?;
        let room = inner.cfg.max_context_tokens.saturating_sub(ids.len());
        if room == 0 {
            inner.metrics.count("refused");
            return Err(EmbedError::PromptTooLong { tokens: ids.len(), limit: inner.cfg.max_context_tokens });
        }
        let max_new = g.max_tokens.unwrap_or(inner.cfg.max_new_tokens).clamp(1, inner.cfg.max_new_tokens).min(room);
        let (events, rx) = mpsc::channel(64);
        let prompt_tokens = ids.len();
        let job = Job { ids, max_new, temperature: g.temperature, seed: g.seed, events, arrived: Instant::now() };
        match inner.jobs.try_send(job) {
            Ok(()) => {
                inner.metrics.waiting.inc();
                Ok(Generation { prompt_tokens, events: rx })
            }
            Err(TrySendError::Full(_)) => {
                inner.metrics.count("refused");
                let per = *inner.seconds_per_generation.lock().unwrap_or_else(|p| p.into_inner());
                let retry_after = Duration::from_secs_f64((per * (inner.cfg.max_waiting as f64 + 1.0)).clamp(1.0, 300.0));
                Err(EmbedError::Overloaded { capacity: inner.cfg.max_waiting, retry_after })
            }
            Err(TrySendError::Disconnected(_)) => Err(EmbedError::ShuttingDown),
        }
    }
}

/// Owns the model; runs one generation at a time.
struct Worker {
    model: ModelWeights,
    vocab: Arc<ChatVocab>,
    budget: CpuBudget,
    gate: Arc<DeviceGate>,
    metrics: Arc<ChatMetrics>,
    max_context: usize,
}

impl Worker {
    fn run(mut self, jobs: std::sync::mpsc::Receiver<Job>, engine: std::sync::Weak<Inner>) {
        while let Ok(job) = jobs.recv() {
            self.metrics.waiting.dec();
            if job.events.is_closed() {
                self.metrics.count("cancelled");
                continue;
            }
            let arrived = job.arrived;
            let events = job.events.clone();
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| self.generate(job)))
                .unwrap_or_else(|p| Err(EmbedError::Inference(format!("generation panicked: {}", crate::engine::panic_message(&p)))));
            let took = arrived.elapsed().as_secs_f64();
            match outcome {
                Ok(Some(finish)) => {
                    self.metrics.count(finish.as_str());
                    self.metrics.generation_seconds.observe(took);
                }
                Ok(None) => self.metrics.count("cancelled"),
                Err(e) => {
                    self.metrics.count("failed");
                    tracing::error!(error = %e, "chat generation failed");
                    let _ = events.blocking_send(Event::Failed(e.to_string()));
                }
            }
            if let Some(inner) = engine.upgrade() {
                let mut per = inner.seconds_per_generation.lock().unwrap_or_else(|p| p.into_inner());
                *per = 0.8 * *per + 0.2 * took;
            }
        }
        tracing::debug!("chat worker stopped");
    }

    /// One forward pass over `ids` at `pos`, as one turn of the pool: the last position's
    /// logits.
    fn step(&mut self, ids: &[u32], pos: usize) -> Result<Tensor> {
        let _turn = self.gate.shared(Shared::GenerationStep);
        let model = &mut self.model;
        self.budget.install(|| -> Result<Tensor> {
            let input = Tensor::new(ids, &Device::Cpu)?.unsqueeze(0)?;
            Ok(model.forward(&input, pos)?.squeeze(0)?)
        })
    }

    /// Runs one generation; `None` when its caller left.
    fn generate(&mut self, job: Job) -> Result<Option<Finish>> {
        let Job { ids, max_new, temperature, seed, events, arrived } = job;
        let mut logits = None;
        for (n, chunk) in ids.chunks(PREFILL_CHUNK).enumerate() {
            if events.is_closed() {
                return Ok(None);
            }
            logits = Some(self.step(chunk, n * PREFILL_CHUNK)?);
        }
        self.metrics.prompt_tokens.inc_by(ids.len() as u64);
        let mut logits = logits.ok_or_else(|| EmbedError::Inference("empty prompt".into()))?;
        let mut sampler = LogitsProcessor::new(seed, temperature.filter(|t| *t > 0.0), None);
        let mut all = ids.clone();
        let mut generated: Vec<u32> = Vec::new();
        let mut sent = 0;
        let finish = loop {
            let recent = &all[all.len().saturating_sub(REPEAT_LAST_N)..];
            let penalised = candle_transformers::utils::apply_repeat_penalty(&logits, REPEAT_PENALTY, recent)?;
            let next = sampler.sample(&penalised)?;
            if self.vocab.stops.contains(&next) {
                break Finish::Stop;
            }
            if generated.is_empty() {
                self.metrics.time_to_first_token_seconds.observe(arrived.elapsed().as_secs_f64());
            }
            generated.push(next);
            all.push(next);
            self.metrics.completion_tokens.inc();
            // Text is sent as soon as it is whole: a character split over two tokens
            // waits for its second.
            let text = self.vocab.decode(&generated)?;
            if let Some(piece) = text.get(sent..).filter(|p| !p.is_empty() && !text.ends_with('\u{FFFD}')) {
                if events.blocking_send(Event::Text(piece.to_owned())).is_err() {
                    return Ok(None);
                }
                sent = text.len();
            }
            if generated.len() >= max_new || all.len() >= self.max_context {
                break Finish::Length;
            }
            logits = self.step(&[next], all.len() - 1)?;
        };
        let done = Event::Done { finish, prompt_tokens: ids.len(), completion_tokens: generated.len() };
        Ok(events.blocking_send(done).is_ok().then_some(finish))
    }
}
