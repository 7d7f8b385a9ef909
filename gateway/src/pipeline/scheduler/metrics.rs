//! Scheduler metrics (`firebreak_scheduler_*`): queue depth, wait time per class, batch
//! fill, and what was embedded, by class.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, linear_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::pipeline::embedding::Class;

/// The `class` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClassLabel {
    pub class: &'static str,
}

fn label(c: Class) -> ClassLabel {
    ClassLabel { class: c.as_str() }
}

/// The scheduler's metrics.
pub struct SchedulerMetrics {
    pub queue_depth: Family<ClassLabel, Gauge>,
    pub wait_seconds: Family<ClassLabel, Histogram>,
    pub batch_fill: Histogram,
    pub batch_seconds: Family<ClassLabel, Histogram>,
    pub embedded_texts: Family<ClassLabel, Counter>,
    pub failed_batches: Family<ClassLabel, Counter>,
    pub rejected: Family<ClassLabel, Counter>,
    pub overdue: Family<ClassLabel, Counter>,
    pub in_flight: Gauge,
}

impl SchedulerMetrics {
    pub fn new(registry: &mut Registry) -> Self {
        let m = SchedulerMetrics {
            queue_depth: Family::default(),
            wait_seconds: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 18))),
            batch_fill: Histogram::new(linear_buckets(0.125, 0.125, 8)),
            batch_seconds: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 16))),
            embedded_texts: Family::default(),
            failed_batches: Family::default(),
            rejected: Family::default(),
            overdue: Family::default(),
            in_flight: Gauge::default(),
        };
        let r = registry.sub_registry_with_prefix("firebreak_scheduler");
        r.register("queue_depth", "Texts waiting for the embedder, by class", m.queue_depth.clone());
        r.register("wait_seconds", "Time a text waited before its batch started, by class", m.wait_seconds.clone());
        r.register("batch_fill", "Batch size as a fraction of the largest batch", m.batch_fill.clone());
        r.register("batch_seconds", "Time to embed one batch, by class", m.batch_seconds.clone());
        r.register("embedded_texts", "Texts sent to the embedder, by class", m.embedded_texts.clone());
        r.register("failed_batches", "Batches the embedder failed, by class", m.failed_batches.clone());
        r.register("rejected", "Requests refused because their class queue was full", m.rejected.clone());
        r.register(
            "overdue_batches",
            "Batches still running past the embedder's slow-call threshold: their slot went to the next batch",
            m.overdue.clone(),
        );
        r.register("in_flight_batches", "Batches running (at most --embed-concurrency, plus one interactive)", m.in_flight.clone());
        m
    }

    pub(crate) fn set_depth(&self, c: Class, n: usize) {
        self.queue_depth.get_or_create(&label(c)).set(n as i64);
    }

    pub(crate) fn rejected(&self, c: Class) {
        self.rejected.get_or_create(&label(c)).inc();
    }

    pub(crate) fn batch_started(&self, c: Class, waits: &[Duration], n: usize, max: usize) {
        let h = self.wait_seconds.get_or_create(&label(c));
        for w in waits {
            h.observe(w.as_secs_f64());
        }
        self.batch_fill.observe(n as f64 / max.max(1) as f64);
        self.in_flight.inc();
    }

    pub(crate) fn overdue(&self, c: Class) {
        self.overdue.get_or_create(&label(c)).inc();
    }

    pub(crate) fn batch_done(&self, c: Class, took: Duration, n: usize, ok: bool) {
        self.in_flight.dec();
        self.batch_seconds.get_or_create(&label(c)).observe(took.as_secs_f64());
        if ok {
            self.embedded_texts.get_or_create(&label(c)).inc_by(n as u64);
        } else {
            self.failed_batches.get_or_create(&label(c)).inc();
        }
    }
}
