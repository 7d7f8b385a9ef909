//! Prometheus metrics for the engine: every limit shows itself working here (queue depth
//! against capacity, rejections by reason, batch shapes, the thread budget).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Why a request was refused before inference.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

/// Engine metrics, registered under the `firebreak_embedder_` prefix.
pub struct EmbedderMetrics {
    pub queue_depth: Gauge,
    pub queue_capacity: Gauge,
    pub cpu_threads: Gauge,
    pub batch_size: Histogram,
    pub batch_tokens: Histogram,
    pub batch_padded_tokens: Histogram,
    pub inference_seconds: Histogram,
    pub queue_wait_seconds: Histogram,
    pub texts: Counter,
    pub tokens: Counter,
    pub truncated: Counter,
    pub rejected: Family<ReasonLabel, Counter>,
    pub failed_batches: Counter,
    /// 1 while inference runs on a GPU.
    pub on_gpu: Gauge,
    /// Starts where a GPU was asked for and the CPU path runs instead.
    pub device_fallbacks: Counter,
}

impl EmbedderMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &mut Registry) -> Self {
        let m = EmbedderMetrics {
            queue_depth: Gauge::default(),
            queue_capacity: Gauge::default(),
            cpu_threads: Gauge::default(),
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 9)),
            batch_tokens: Histogram::new(exponential_buckets(16.0, 2.0, 12)),
            batch_padded_tokens: Histogram::new(exponential_buckets(16.0, 2.0, 12)),
            inference_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            queue_wait_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            texts: Counter::default(),
            tokens: Counter::default(),
            truncated: Counter::default(),
            rejected: Family::default(),
            failed_batches: Counter::default(),
            on_gpu: Gauge::default(),
            device_fallbacks: Counter::default(),
        };
        let r = registry.sub_registry_with_prefix("firebreak_embedder");
        r.register("queue_depth", "Texts waiting to be embedded", m.queue_depth.clone());
        r.register("queue_capacity", "Most texts allowed to wait (beyond it: 503)", m.queue_capacity.clone());
        r.register("cpu_threads", "Threads in the inference CPU budget", m.cpu_threads.clone());
        r.register("on_gpu", "1 while inference runs on a GPU, 0 on the CPU", m.on_gpu.clone());
        r.register(
            "device_fallbacks",
            "Starts where a GPU was asked for but unusable, so the CPU path runs instead",
            m.device_fallbacks.clone(),
        );
        r.register("batch_size", "Texts per inference batch", m.batch_size.clone());
        r.register("batch_tokens", "Real tokens per inference batch", m.batch_tokens.clone());
        r.register("batch_padded_tokens", "Longest sequence × batch size (the padded cost)", m.batch_padded_tokens.clone());
        r.register("inference_seconds", "Time to run one batch", m.inference_seconds.clone());
        r.register("queue_wait_seconds", "Time a text waited before its batch started", m.queue_wait_seconds.clone());
        r.register("texts", "Texts embedded", m.texts.clone());
        r.register("tokens", "Tokens embedded", m.tokens.clone());
        r.register("truncated", "Texts truncated to max_seq_length", m.truncated.clone());
        r.register("rejected", "Requests refused before inference, by reason", m.rejected.clone());
        r.register("failed_batches", "Batches whose forward pass failed", m.failed_batches.clone());
        m
    }

    /// Counts one refused request.
    pub fn reject(&self, reason: &'static str) {
        self.rejected.get_or_create(&ReasonLabel { reason }).inc();
    }
}
