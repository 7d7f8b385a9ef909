//! Outbox metrics (`firebreak_outbox_*`): the backlog and its age (the number to alert
//! on), what the worker did with each job, and how often the vector cache saved work.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::pipeline::store::{Backlog, JobKind};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

/// The outbox worker's metrics.
pub struct IndexerMetrics {
    pub pending: Gauge,
    pub leased: Gauge,
    pub failed: Gauge,
    pub oldest_pending_seconds: Gauge,
    pub awaiting_dense: Gauge,
    pub oldest_awaiting_dense_seconds: Gauge,
    pub keyword_only_points: Gauge,
    pub keywords_written: Family<KindLabel, Counter>,
    pub jobs_done: Family<KindLabel, Counter>,
    pub jobs_retried: Family<KindLabel, Counter>,
    pub jobs_deferred: Family<KindLabel, Counter>,
    pub jobs_failed: Family<KindLabel, Counter>,
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    pub chunks_dropped: Counter,
    pub points_written: Counter,
    pub claim_failures: Counter,
    pub outcome_write_retries: Counter,
}

impl IndexerMetrics {
    pub fn new(registry: &mut Registry) -> Self {
        let m = IndexerMetrics {
            pending: Gauge::default(),
            leased: Gauge::default(),
            failed: Gauge::default(),
            oldest_pending_seconds: Gauge::default(),
            awaiting_dense: Gauge::default(),
            oldest_awaiting_dense_seconds: Gauge::default(),
            keyword_only_points: Gauge::default(),
            keywords_written: Family::default(),
            jobs_done: Family::default(),
            jobs_retried: Family::default(),
            jobs_deferred: Family::default(),
            jobs_failed: Family::default(),
            cache_hits: Counter::default(),
            cache_misses: Counter::default(),
            chunks_dropped: Counter::default(),
            points_written: Counter::default(),
            claim_failures: Counter::default(),
            outcome_write_retries: Counter::default(),
        };
        let r = registry.sub_registry_with_prefix("firebreak_outbox");
        r.register("pending_jobs", "Embedding jobs waiting to be claimed", m.pending.clone());
        r.register("leased_jobs", "Embedding jobs claimed and in progress", m.leased.clone());
        r.register("failed_jobs", "Embedding jobs given up after --max-job-attempts", m.failed.clone());
        r.register("oldest_pending_seconds", "Age of the oldest waiting job", m.oldest_pending_seconds.clone());
        r.register(
            "awaiting_dense_jobs",
            "Jobs whose item is keyword-indexed and waits for its dense vectors (the embedder's backlog)",
            m.awaiting_dense.clone(),
        );
        r.register(
            "oldest_awaiting_dense_seconds",
            "How long the oldest job waiting for its dense vectors has waited since its keywords were indexed",
            m.oldest_awaiting_dense_seconds.clone(),
        );
        r.register(
            "keyword_only_points",
            "Index points with keyword vectors only: found by keyword search, not yet by dense search",
            m.keyword_only_points.clone(),
        );
        r.register(
            "keyword_phases",
            "Jobs whose keyword phase wrote their item's keywords to the index, by kind",
            m.keywords_written.clone(),
        );
        r.register("jobs_done", "Jobs embedded and indexed, by kind", m.jobs_done.clone());
        r.register("jobs_retried", "Job attempts that failed and were rescheduled, by kind", m.jobs_retried.clone());
        r.register(
            "jobs_deferred",
            "Jobs put back by back-pressure (embedder busy, budget spent), attempt not counted, by kind",
            m.jobs_deferred.clone(),
        );
        r.register("jobs_failed", "Jobs given up, by kind", m.jobs_failed.clone());
        r.register("vector_cache_hits", "Chunks whose vector came from the content-hash cache", m.cache_hits.clone());
        r.register("vector_cache_misses", "Chunks that had to be embedded", m.cache_misses.clone());
        r.register("chunks_dropped", "Chunks beyond --max-chunks, stored but not indexed", m.chunks_dropped.clone());
        r.register("claim_failures", "Outbox polls whose claim failed (the store unreachable)", m.claim_failures.clone());
        r.register(
            "outcome_write_retries",
            "Writes of a job's outcome retried because the store was unreachable",
            m.outcome_write_retries.clone(),
        );
        r.register("points_written", "Points written to the vector index", m.points_written.clone());
        m
    }

    fn kind(k: JobKind) -> KindLabel {
        KindLabel { kind: k.as_str() }
    }

    pub(crate) fn backlog(&self, b: &Backlog) {
        self.pending.set(b.pending);
        self.leased.set(b.leased);
        self.failed.set(b.failed);
        self.oldest_pending_seconds.set(b.oldest_pending_ms / 1000);
        self.awaiting_dense.set(b.awaiting_dense);
        self.oldest_awaiting_dense_seconds.set(b.oldest_awaiting_dense_ms / 1000);
    }

    pub(crate) fn keywords_written(&self, k: JobKind) {
        self.keywords_written.get_or_create(&Self::kind(k)).inc();
    }

    pub(crate) fn job_done(&self, k: JobKind) {
        self.jobs_done.get_or_create(&Self::kind(k)).inc();
    }

    pub(crate) fn job_retried(&self, k: JobKind) {
        self.jobs_retried.get_or_create(&Self::kind(k)).inc();
    }

    pub(crate) fn job_deferred(&self, k: JobKind) {
        self.jobs_deferred.get_or_create(&Self::kind(k)).inc();
    }

    pub(crate) fn job_failed(&self, k: JobKind) {
        self.jobs_failed.get_or_create(&Self::kind(k)).inc();
    }

    pub(crate) fn cache(&self, hits: usize, misses: usize) {
        self.cache_hits.inc_by(hits as u64);
        self.cache_misses.inc_by(misses as u64);
    }
}
