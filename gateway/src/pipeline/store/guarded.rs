//! The SQL store behind its circuit breaker. A database that stops answering costs each
//! caller the pool's acquire timeout; after `--breaker-failures` of those in a row the
//! breaker opens and every call fails at once with [`StoreError::Unavailable`]: intake
//! answers 503 immediately (Alertmanager and the ingest client retry), `/readyz` fails,
//! the outbox worker waits. Half-open probes find the database when it returns, and
//! service resumes by itself.
//!
//! Every method is the same one line: ask the breaker, call the inner store.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{
    Backlog, Document, Hold, Incident, IncidentQuery, IncidentSummary, IngestOutcome, IngestRun, Job, NewDocument, Note, SqlStore, Stage,
    StoreError, StoreResult, WebhookOutcome,
};
use crate::alertmanager::{KeyValues, Webhook};
use crate::guards::breaker::{Breaker, Open};
use crate::clock::Millis;

/// A [`SqlStore`] wrapped in a [`Breaker`].
pub struct Guarded {
    inner: Arc<dyn SqlStore>,
    breaker: Breaker,
}

impl Guarded {
    pub fn new(inner: Arc<dyn SqlStore>, breaker: Breaker) -> Self {
        Guarded { inner, breaker }
    }
}

/// Only an unreachable database is an outage; bad input and missing rows are answers.
fn is_fault(e: &StoreError) -> bool {
    matches!(e, StoreError::Unavailable(_))
}

fn open(o: Open) -> StoreError {
    StoreError::Unavailable(format!("{} circuit breaker open; retry in {:?}", o.dependency, o.retry_after))
}

#[async_trait]
impl SqlStore for Guarded {
    async fn ping(&self) -> StoreResult<()> {
        self.breaker.call(self.inner.ping(), is_fault).await.map_err(open)?
    }

    async fn record_webhook(&self, by: &str, hook: &Webhook, raw: &str, holds: &[Option<Hold>], now: Millis) -> StoreResult<WebhookOutcome> {
        self.breaker.call(self.inner.record_webhook(by, hook, raw, holds, now), is_fault).await.map_err(open)?
    }

    async fn ingest(&self, by: &str, source: &str, run_id: &str, docs: &[NewDocument], now: Millis) -> StoreResult<IngestOutcome> {
        self.breaker.call(self.inner.ingest(by, source, run_id, docs, now), is_fault).await.map_err(open)?
    }

    async fn release_held(&self, hold: Hold, now: Millis) -> StoreResult<u64> {
        self.breaker.call(self.inner.release_held(hold, now), is_fault).await.map_err(open)?
    }

    async fn ingest_run(&self, run_id: &str) -> StoreResult<Option<IngestRun>> {
        self.breaker.call(self.inner.ingest_run(run_id), is_fault).await.map_err(open)?
    }

    async fn add_note(&self, by: &str, incident_id: i64, author: Option<&str>, text: &str, now: Millis) -> StoreResult<Note> {
        self.breaker.call(self.inner.add_note(by, incident_id, author, text, now), is_fault).await.map_err(open)?
    }

    async fn incident(&self, id: i64) -> StoreResult<Option<Incident>> {
        self.breaker.call(self.inner.incident(id), is_fault).await.map_err(open)?
    }

    async fn document(&self, id: i64) -> StoreResult<Option<Document>> {
        self.breaker.call(self.inner.document(id), is_fault).await.map_err(open)?
    }

    async fn claim_jobs(&self, owner: &str, stage: Stage, limit: usize, lease: Duration, now: Millis) -> StoreResult<Vec<Job>> {
        self.breaker.call(self.inner.claim_jobs(owner, stage, limit, lease, now), is_fault).await.map_err(open)?
    }

    async fn advance_job(&self, job_id: i64, owner: &str, now: Millis) -> StoreResult<bool> {
        self.breaker.call(self.inner.advance_job(job_id, owner, now), is_fault).await.map_err(open)?
    }

    async fn complete_job(&self, job_id: i64, owner: &str, now: Millis) -> StoreResult<bool> {
        self.breaker.call(self.inner.complete_job(job_id, owner, now), is_fault).await.map_err(open)?
    }

    async fn release_job(&self, job_id: i64, owner: &str, error: &str, retry_at: Millis) -> StoreResult<()> {
        self.breaker.call(self.inner.release_job(job_id, owner, error, retry_at), is_fault).await.map_err(open)?
    }

    async fn defer_job(&self, job_id: i64, owner: &str, reason: &str, retry_at: Millis) -> StoreResult<()> {
        self.breaker.call(self.inner.defer_job(job_id, owner, reason, retry_at), is_fault).await.map_err(open)?
    }

    async fn fail_job(&self, job_id: i64, owner: &str, error: &str, now: Millis) -> StoreResult<()> {
        self.breaker.call(self.inner.fail_job(job_id, owner, error, now), is_fault).await.map_err(open)?
    }

    async fn list_incidents(&self, q: &IncidentQuery) -> StoreResult<Vec<IncidentSummary>> {
        self.breaker.call(self.inner.list_incidents(q), is_fault).await.map_err(open)?
    }

    async fn occurrences(&self, fingerprint: &str, limit: usize) -> StoreResult<Vec<IncidentSummary>> {
        self.breaker.call(self.inner.occurrences(fingerprint, limit), is_fault).await.map_err(open)?
    }

    async fn alert_siblings(&self, alertname: &str, fingerprint: &str, limit: usize) -> StoreResult<Vec<KeyValues>> {
        self.breaker.call(self.inner.alert_siblings(alertname, fingerprint, limit), is_fault).await.map_err(open)?
    }

    async fn renew_leases(&self, owner: &str, ids: &[i64], lease: Duration, now: Millis) -> StoreResult<u64> {
        self.breaker.call(self.inner.renew_leases(owner, ids, lease, now), is_fault).await.map_err(open)?
    }

    async fn reclaim_leases(&self) -> StoreResult<u64> {
        self.breaker.call(self.inner.reclaim_leases(), is_fault).await.map_err(open)?
    }

    async fn backlog(&self, now: Millis) -> StoreResult<Backlog> {
        self.breaker.call(self.inner.backlog(now), is_fault).await.map_err(open)?
    }

    async fn cached_vector(&self, model: &str, content_hash: &str) -> StoreResult<Option<Vec<f32>>> {
        self.breaker.call(self.inner.cached_vector(model, content_hash), is_fault).await.map_err(open)?
    }

    async fn cache_vector(&self, model: &str, content_hash: &str, vector: &[f32], now: Millis) -> StoreResult<()> {
        self.breaker.call(self.inner.cache_vector(model, content_hash, vector, now), is_fault).await.map_err(open)?
    }
}
