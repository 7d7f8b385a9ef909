//! The engine handle: load a model once, then `embed` from anywhere, concurrently.
//!
//! Pipeline: the caller's texts are tokenized on the CPU-budget pool, appended to the
//! batching queue as one all-or-nothing request, and run by the device worker, a
//! dedicated thread that owns the forward pass and runs one batch at a time inside the
//! budget. Each text's vector comes back on its own channel.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use prometheus_client::registry::Registry;
use tokio::sync::oneshot;

use crate::budget::{default_cpu_threads, CpuBudget};
use crate::device::DeviceSpec;
use crate::error::{EmbedError, Result};
use crate::forward::Forward;
use crate::gate::{DeviceGate, Shared};
use crate::metrics::EmbedderMetrics;
use crate::model_dir::ModelSpec;
use crate::pooling::l2_normalize;
use crate::queue::{self, Batch, BatchReport, Embedding, Entry, Priority, QueueHandle, QueueLimits, WorkerHandle};
use crate::tokenize::TextTokenizer;

/// Everything needed to start an engine. Defaults are safe on a small shared node.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub model_dir: PathBuf,
    pub device: DeviceSpec,
    /// Inference threads; `None` means all cores but one.
    pub cpu_threads: Option<usize>,
    /// Most texts waiting at once; beyond it requests are refused with a retry-after.
    pub max_queue_texts: usize,
    /// Largest single input in bytes.
    pub max_input_chars: usize,
}

impl EngineConfig {
    pub fn new(model_dir: impl Into<PathBuf>) -> Self {
        EngineConfig {
            model_dir: model_dir.into(),
            device: DeviceSpec::cpu(),
            cpu_threads: None,
            max_queue_texts: 4096,
            max_input_chars: 256 * 1024,
        }
    }
}

/// A running engine. Cheap to clone; the device worker stops when the last clone is
/// dropped and the queue has drained.
#[derive(Clone)]
pub struct Embedder {
    inner: Arc<Inner>,
}

struct Inner {
    model: ModelSpec,
    tokenizer: Arc<TextTokenizer>,
    budget: CpuBudget,
    queue: QueueHandle,
    metrics: Arc<EmbedderMetrics>,
    device_label: String,
    gate: Arc<DeviceGate>,
}

impl Embedder {
    /// Loads the model and starts the queue task and device worker. Must be called inside
    /// a tokio runtime. Metrics are registered in `registry`.
    pub fn start(cfg: EngineConfig, registry: &mut Registry) -> Result<Self> {
        // A zero limit would not fail loudly: it would refuse every request forever.
        if cfg.max_queue_texts == 0 || cfg.max_input_chars == 0 {
            return Err(EmbedError::Inference("max_queue_texts and max_input_chars must be at least 1".into()));
        }
        let model = ModelSpec::load(&cfg.model_dir)?;
        let tokenizer = Arc::new(TextTokenizer::load(
            &model.tokenizer_path(),
            model.max_seq_length,
            cfg.max_input_chars,
            model.bert.vocab_size,
        )?);
        let budget = CpuBudget::new(cfg.cpu_threads.unwrap_or_else(default_cpu_threads))?;
        let built = budget.install(|| cfg.device.build(&model))?;
        let forward = built.forward;
        let device_label = forward.label();
        let metrics = Arc::new(EmbedderMetrics::new(registry));
        metrics.cpu_threads.set(budget.threads() as i64);
        metrics.on_gpu.set(i64::from(matches!(built.spec.kind, crate::DeviceKind::Cuda { .. })));
        if let Some(why) = &built.fallback {
            metrics.device_fallbacks.inc();
            tracing::warn!(requested = %cfg.device.kind, running = %device_label, reason = %why, "falling back to the CPU path");
        }
        let limits = QueueLimits {
            capacity: cfg.max_queue_texts,
            max_batch_size: built.spec.max_batch_size,
            max_batch_tokens: built.spec.max_batch_tokens,
        };
        let (queue, worker) = queue::spawn(limits, metrics.clone());
        let gate = Arc::new(DeviceGate::default());
        let w = DeviceWorker { forward, budget: budget.clone(), gate: gate.clone(), normalize: model.normalize, metrics: metrics.clone() };
        std::thread::Builder::new()
            .name("fb-embed-device".into())
            .spawn(move || w.run(worker))
            .map_err(|e| EmbedError::Inference(format!("cannot start the device worker: {e}")))?;
        tracing::info!(
            model = %model.name, device = %device_label, threads = budget.threads(),
            max_seq_length = model.max_seq_length, dim = model.dim(), "embedder ready"
        );
        Ok(Embedder { inner: Arc::new(Inner { model, tokenizer, budget, queue, metrics, device_label, gate }) })
    }

    /// Embeds `texts` in order. All are accepted or none: an invalid input fails the call
    /// before any work is queued, and a full queue refuses it whole.
    pub async fn embed(&self, texts: Vec<String>, priority: Priority) -> Result<Vec<Embedding>> {
        let inner = &self.inner;
        let tok = inner.tokenizer.clone();
        let tokenized = inner
            .budget
            .run(move || texts.iter().enumerate().map(|(i, t)| tok.encode(i, t)).collect::<Result<Vec<_>>>())
            .await?;
        let tokenized = match tokenized {
            Ok(t) => t,
            Err(e) => {
                inner.metrics.reject(if matches!(e, EmbedError::EmptyInput { .. }) { "empty" } else { "too_large" });
                return Err(e);
            }
        };
        let now = Instant::now();
        let mut receivers = Vec::with_capacity(tokenized.len());
        let entries = tokenized
            .into_iter()
            .map(|t| {
                let (respond, rx) = oneshot::channel();
                receivers.push(rx);
                Entry { ids: t.ids, truncated: t.truncated, enqueued: now, respond }
            })
            .collect();
        inner.queue.append(priority, entries).await?;
        let mut out = Vec::with_capacity(receivers.len());
        for rx in receivers {
            out.push(rx.await.map_err(|_| EmbedError::ShuttingDown)??);
        }
        Ok(out)
    }

    /// The loaded model's description.
    pub fn model(&self) -> &ModelSpec {
        &self.inner.model
    }

    /// The tokenizer, for callers that need token counts or spans without embedding
    /// (the gateway's chunker holds on to it).
    pub fn tokenizer(&self) -> &Arc<TextTokenizer> {
        &self.inner.tokenizer
    }

    /// "cpu packed-f32", "Cuda(0) candle-ops F16", …
    pub fn device_label(&self) -> &str {
        &self.inner.device_label
    }

    /// The engine's metrics, so a front end can count its own refusals beside the engine's.
    pub fn metrics(&self) -> &EmbedderMetrics {
        &self.inner.metrics
    }

    /// Threads in the CPU budget.
    pub fn cpu_threads(&self) -> usize {
        self.inner.budget.threads()
    }

    /// The pool inference runs on, so a caller (the bench) can measure inside the budget.
    pub fn budget(&self) -> &CpuBudget {
        &self.inner.budget
    }

    /// The turn-taking on that pool: a chat model started beside this engine waits behind
    /// its batches ([`crate::gate`]).
    pub fn gate(&self) -> &Arc<DeviceGate> {
        &self.inner.gate
    }
}

/// Owns the forward pass; runs one batch at a time.
struct DeviceWorker {
    forward: Box<dyn Forward>,
    budget: CpuBudget,
    gate: Arc<DeviceGate>,
    normalize: bool,
    metrics: Arc<EmbedderMetrics>,
}

impl DeviceWorker {
    fn run(mut self, queue: WorkerHandle) {
        let mut last = BatchReport::default();
        while let Some(batch) = queue.next_batch_blocking(last) {
            let started = Instant::now();
            let texts = batch.entries.len();
            self.run_batch(batch);
            last = BatchReport { texts, seconds: started.elapsed().as_secs_f64() };
        }
        tracing::debug!("embedder device worker stopped");
    }

    fn run_batch(&mut self, batch: Batch) {
        let m = &self.metrics;
        let started = Instant::now();
        let seqs: Vec<&[u32]> = batch.entries.iter().map(|e| e.ids.as_slice()).collect();
        let tokens: usize = seqs.iter().map(|s| s.len()).sum();
        let longest = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
        for e in &batch.entries {
            m.queue_wait_seconds.observe(started.duration_since(e.enqueued).as_secs_f64());
        }
        let forward = &mut self.forward;
        // The pool's turn (crate::gate): interactive and alert batches ahead of any chat
        // generation step, bulk batches turn about with them.
        let turn = match batch.priority {
            Priority::Bulk => self.gate.shared(Shared::BulkBatch),
            _ => self.gate.urgent(),
        };
        // A panic inside a kernel must cost one batch an error, never the process.
        let result = self
            .budget
            .install(|| std::panic::catch_unwind(AssertUnwindSafe(|| forward.embed_batch(&seqs))))
            .unwrap_or_else(|p| Err(EmbedError::Inference(format!("forward pass panicked: {}", panic_message(&p)))));
        drop(turn);
        m.inference_seconds.observe(started.elapsed().as_secs_f64());
        m.batch_size.observe(seqs.len() as f64);
        m.batch_tokens.observe(tokens as f64);
        m.batch_padded_tokens.observe((longest * seqs.len()) as f64);
        match result {
            Ok(vectors) if vectors.len() == batch.entries.len() => {
                m.texts.inc_by(vectors.len() as u64);
                m.tokens.inc_by(tokens as u64);
                for (e, mut v) in batch.entries.into_iter().zip(vectors) {
                    if self.normalize {
                        l2_normalize(&mut v);
                    }
                    if e.truncated {
                        m.truncated.inc();
                    }
                    let _ = e.respond.send(Ok(Embedding { vector: v, tokens: e.ids.len(), truncated: e.truncated }));
                }
            }
            other => {
                let msg = match other {
                    Err(e) => e.to_string(),
                    Ok(v) => format!("forward pass returned {} vectors for {} texts", v.len(), batch.entries.len()),
                };
                m.failed_batches.inc();
                tracing::error!(error = %msg, texts = batch.entries.len(), "embedding batch failed");
                for e in batch.entries {
                    let _ = e.respond.send(Err(EmbedError::Inference(msg.clone())));
                }
            }
        }
    }
}

pub(crate) fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
