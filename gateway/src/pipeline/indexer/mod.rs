//! The outbox worker: turns embedding jobs into indexed points, in two phases.
//!
//! 1. **Keywords** (its own lane, never waiting on the embedder): the job's item is read
//!    back from the SQL store and cut into chunks, and its points are written to the
//!    vector index under deterministic ids with their BM25 keyword vectors, payload, and
//!    whatever dense vectors the content-hash cache already holds. The item is
//!    keyword-searchable a few milliseconds after it was committed, whatever state the
//!    embedder is in. If every chunk's vector was cached the job is done; otherwise it
//!    moves to the dense stage.
//! 2. **Dense** (the other lane): the item is read and cut again (it may have changed),
//!    the missing vectors are embedded through the [`Scheduler`] and cached, and the same
//!    points are written again, now complete; then the job is done.
//!
//! Each phase ends with a write to the store by the lease holder (advance, done); a
//! crash anywhere before it leaves the job at its stage, to be claimed again when its
//! lease runs out, and redoing a phase overwrites the same points. Each lane has its own
//! `max_jobs` slots, so a backlog of a million documents costs a million rows in the
//! outbox, not a million tasks in memory, and a dense lane full of jobs waiting on a
//! dead embedder never holds back a new alert's keywords.

pub mod leases;
pub mod metrics;
pub(crate) mod points;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

pub use metrics::IndexerMetrics;

use crate::guards::admission::Admission;
use crate::analysis::Glossary;
use crate::pipeline::chunking::{ChunkPolicy, Segmenter};
use crate::clock::now_millis;
use crate::pipeline::embedding::{Class, EmbedFailure};
use crate::pipeline::index::{Field, IndexError, Keywords, VectorIndex};
use crate::pipeline::scheduler::Scheduler;
use crate::pipeline::store::{Job, SqlStore, Stage, StoreError, StoreResult};

/// How long a job waits when the index or the database is unreachable.
const DEPENDENCY_DOWN_WAIT: Duration = Duration::from_secs(10);

/// Longest pause between two tries at writing a job's outcome to an unreachable store.
const OUTCOME_RETRY_MAX: Duration = Duration::from_secs(5);

/// Outbox worker limits; each has a `FIREBREAK_*` flag in the binary.
#[derive(Debug, Clone)]
pub struct IndexerConfig {
    /// This replica's name in job leases.
    pub owner: String,
    /// Jobs in progress at once, in each lane.
    pub max_jobs: usize,
    /// How long a claimed job is ours; a crashed claimer's jobs return after it.
    pub lease: Duration,
    /// How often the outbox is polled when nobody rings (other replicas' jobs, retries).
    pub poll_interval: Duration,
    /// Attempts before a job is given up as `failed`.
    pub max_attempts: i64,
    /// Longest wait before a failed job is retried.
    pub max_backoff: Duration,
    pub chunks: ChunkPolicy,
}

impl IndexerConfig {
    pub fn new(owner: impl Into<String>, chunks: ChunkPolicy) -> Self {
        IndexerConfig {
            owner: owner.into(),
            max_jobs: 16,
            lease: Duration::from_secs(300),
            poll_interval: Duration::from_secs(1),
            max_attempts: 12,
            max_backoff: Duration::from_secs(300),
            chunks,
        }
    }
}

/// Everything a job needs.
pub struct Indexer {
    pub cfg: IndexerConfig,
    /// Told the bulk backlog at every refresh, so ingest admission reads it for free.
    pub admission: Admission,
    pub store: Arc<dyn SqlStore>,
    pub index: Arc<dyn VectorIndex>,
    pub scheduler: Scheduler,
    pub keywords: Arc<Keywords>,
    /// Concepts added to every point's keywords.
    pub glossary: Arc<Glossary>,
    pub segmenter: Segmenter,
    pub metrics: Arc<IndexerMetrics>,
    /// The jobs in progress, whose leases [`leases::keep`] renews.
    pub in_hand: Arc<leases::InHand>,
    pub lease_metrics: leases::LeaseMetrics,
}

/// Why a job did not finish.
#[derive(Debug, thiserror::Error)]
pub(crate) enum JobError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Index(#[from] IndexError),
    #[error("{0}")]
    Embed(#[from] EmbedFailure),
}

impl JobError {
    /// When to try again: the embedder's own hint when it is overloaded, else
    /// exponential backoff by attempt, capped.
    fn retry_in(&self, attempts: i64, max: Duration) -> Duration {
        match self {
            JobError::Embed(e) if e.retry_after().is_some() => e.retry_after().unwrap_or_default(),
            JobError::Index(IndexError::Unavailable(_)) | JobError::Store(StoreError::Unavailable(_)) => DEPENDENCY_DOWN_WAIT,
            _ => Duration::from_secs(1u64 << attempts.clamp(0, 16) as u32).min(max),
        }
    }

    /// Whether to give the job up after `attempts`. Input errors never succeed on retry.
    /// Back-pressure (the embedder or a class queue full, the budget spent) is not a
    /// failure of the job: it never uses up attempts, or a flood would turn into
    /// permanently failed jobs.
    /// Waiting, not failing: the embedder asked to wait, the budget is spent, a breaker
    /// is open, or the index or the database is unreachable. A job never fails for good
    /// because a dependency was down for longer than its attempts last.
    fn is_back_pressure(&self) -> bool {
        match self {
            JobError::Embed(e) => e.is_back_pressure(),
            JobError::Index(IndexError::Unavailable(_)) | JobError::Store(StoreError::Unavailable(_)) => true,
            _ => false,
        }
    }

    fn gives_up(&self, attempts: i64, max_attempts: i64) -> bool {
        match self {
            JobError::Embed(EmbedFailure::Input(_)) => true,
            e if e.is_back_pressure() => false,
            _ => attempts >= max_attempts,
        }
    }
}

/// How a job's keyword phase ended.
enum KeywordPhase {
    /// Every point got its dense vector too (all cached, or the item is gone): done.
    Complete,
    /// Some points wait for their dense vector: on to the dense lane.
    AwaitingDense,
}

/// A job's item, read back and cut into the texts its points index.
struct Prepared {
    item: points::Item,
    /// Each point's text and field, in point order.
    texts: Vec<String>,
    fields: Vec<Field>,
}

impl Indexer {
    /// Runs both lanes until `shutdown` resolves; jobs in progress are finished first (or,
    /// if the process dies, returned by their lease). `wake` is rung by intake: new work
    /// for the keyword lane, which in turn wakes the dense lane.
    pub async fn run(self: Arc<Self>, wake: Arc<Notify>, shutdown: impl std::future::Future<Output = ()>) {
        let (stop, stopped) = watch::channel(false);
        let dense_wake = Arc::new(Notify::new());
        let keywords = self.clone().lane(Stage::Keywords, wake, dense_wake.clone(), stopped.clone());
        let keep = leases::keep(self.store.clone(), self.cfg.owner.clone(), self.cfg.lease, self.in_hand.clone(), self.lease_metrics.clone());
        let dense = self.lane(Stage::Dense, dense_wake.clone(), dense_wake, stopped);
        // The leases are kept while any job runs, through a shutdown's grace too.
        let lanes = async {
            tokio::select! {
                _ = async { tokio::join!(keywords, dense) } => {}
                _ = keep => {}
            }
        };
        tokio::pin!(lanes, shutdown);
        tokio::select! {
            _ = &mut lanes => return,
            _ = &mut shutdown => { let _ = stop.send(true); }
        }
        lanes.await;
    }

    /// One lane: claims jobs at `stage` while it has free slots, runs each in its own task.
    async fn lane(self: Arc<Self>, stage: Stage, wake: Arc<Notify>, dense_wake: Arc<Notify>, mut stopped: watch::Receiver<bool>) {
        let mut running: JoinSet<()> = JoinSet::new();
        let mut stopping = false;
        let mut last_backlog: Option<std::time::Instant> = None;
        // Logged when claiming starts failing and when it recovers, not at every poll:
        // a database outage must not also flood the log (the metric counts each one).
        let mut claim_failing = false;
        loop {
            if !stopping && running.len() < self.cfg.max_jobs {
                match self.store.claim_jobs(&self.cfg.owner, stage, self.cfg.max_jobs - running.len(), self.cfg.lease, now_millis()).await {
                    Ok(jobs) => {
                        if std::mem::take(&mut claim_failing) {
                            tracing::info!(lane = stage.as_str(), "claiming embedding jobs works again");
                        }
                        for job in jobs {
                            let me = self.clone();
                            let dense_wake = dense_wake.clone();
                            let held = self.in_hand.hold(job.id);
                            running.spawn(async move {
                                let _held = held;
                                me.run_job(job, &dense_wake).await
                            });
                        }
                    }
                    Err(e) => {
                        self.metrics.claim_failures.inc();
                        if !std::mem::replace(&mut claim_failing, true) {
                            tracing::warn!(lane = stage.as_str(), error = %e, "claiming embedding jobs failed; retrying every poll until the store answers");
                        }
                    }
                }
            }
            // The backlog query scans the outbox: one lane, at most once per poll interval.
            if stage == Stage::Keywords && last_backlog.is_none_or(|t| t.elapsed() >= self.cfg.poll_interval) {
                self.refresh_backlog().await;
                last_backlog = Some(std::time::Instant::now());
            }
            if stopping && running.is_empty() {
                return;
            }
            tokio::select! {
                _ = stopped.wait_for(|s| *s), if !stopping => stopping = true,
                Some(_) = running.join_next(), if !running.is_empty() => {}
                _ = wake.notified(), if !stopping => {}
                _ = tokio::time::sleep(self.cfg.poll_interval), if !stopping => {}
            }
        }
    }

    async fn refresh_backlog(&self) {
        if let Ok(b) = self.store.backlog(now_millis()).await {
            self.metrics.backlog(&b);
            self.admission.observe(&b);
        }
        if let Ok(n) = self.index.count_keyword_only().await {
            self.metrics.keyword_only_points.set(n as i64);
        }
    }

    async fn run_job(&self, job: Job, dense_wake: &Notify) {
        let result = match job.stage {
            Stage::Keywords => self.keyword_phase(&job).await,
            Stage::Dense => self.dense_phase(&job).await.map(|()| KeywordPhase::Complete),
        };
        let (id, owner) = (job.id, self.cfg.owner.as_str());
        let outcome = match result {
            Ok(KeywordPhase::Complete) => self.record(|now| self.store.complete_job(id, owner, now)).await.map(|held| {
                if held {
                    self.metrics.job_done(job.kind);
                } else {
                    tracing::warn!(job = id, "lease lost before completion; another worker redid it");
                }
            }),
            Ok(KeywordPhase::AwaitingDense) => self.record(|now| self.store.advance_job(id, owner, now)).await.map(|held| {
                if held {
                    dense_wake.notify_one();
                } else {
                    tracing::warn!(job = id, "lease lost before the keyword phase was recorded; another worker redid it");
                }
            }),
            Err(e) if e.gives_up(job.attempts, self.cfg.max_attempts) => {
                tracing::error!(job = id, kind = job.kind.as_str(), target = job.target_id, attempts = job.attempts, error = %e, "embedding job failed for good");
                self.metrics.job_failed(job.kind);
                let error = e.to_string();
                self.record(|now| self.store.fail_job(id, owner, &error, now)).await
            }
            Err(e) if e.is_back_pressure() => {
                // Expected under load, once per job per wait: counted, not logged loudly,
                // and the attempt is given back.
                let wait = e.retry_in(job.attempts, self.cfg.max_backoff).as_millis() as i64;
                tracing::debug!(job = id, retry_in_ms = wait, error = %e, "embedding job deferred");
                self.metrics.job_deferred(job.kind);
                let reason = e.to_string();
                self.record(|now| self.store.defer_job(id, owner, &reason, now + wait)).await
            }
            Err(e) => {
                let wait = e.retry_in(job.attempts, self.cfg.max_backoff).as_millis() as i64;
                tracing::warn!(job = id, kind = job.kind.as_str(), attempts = job.attempts, retry_in_ms = wait, error = %e, "embedding job will be retried");
                self.metrics.job_retried(job.kind);
                let error = e.to_string();
                self.record(|now| self.store.release_job(id, owner, &error, now + wait)).await
            }
        };
        if let Err(e) = outcome {
            // The lease will run out and the job will come back: nothing is lost.
            tracing::warn!(job = id, error = %e, "could not record the job's outcome; it comes back when its lease ends");
        }
    }

    /// Writes a job's outcome, trying again while the store is unreachable. An outcome
    /// lost to a database blip would hold the job until its lease ends (minutes) and
    /// then redo finished work; retried, the job is settled seconds after the database
    /// is back. The job keeps its slot meanwhile, so claiming slows down by itself.
    /// Gives up when the lease would have ended anyway.
    async fn record<T, F, Fut>(&self, mut write: F) -> StoreResult<T>
    where
        F: FnMut(i64) -> Fut,
        Fut: Future<Output = StoreResult<T>>,
    {
        let give_up = tokio::time::Instant::now() + self.cfg.lease;
        let mut pause = Duration::from_millis(250);
        loop {
            match write(now_millis()).await {
                Err(StoreError::Unavailable(_)) if tokio::time::Instant::now() + pause < give_up => {
                    self.metrics.outcome_write_retries.inc();
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(OUTCOME_RETRY_MAX);
                }
                other => return other,
            }
        }
    }

    /// The keyword phase: the item's points with their keywords, and the dense vectors the
    /// cache already has. Never calls the embedder.
    async fn keyword_phase(&self, job: &Job) -> Result<KeywordPhase, JobError> {
        // Chunking and index writes are CPU: a bulk ingest's keyword phase waits while node
        // pressure holds bulk work back (deferred, counted in jobs_deferred), as its
        // embedding would. Alerts' keyword phases never wait: they are what an outage needs.
        let class = Class::from_job_priority(job.priority);
        if class == Class::Bulk {
            self.scheduler.pressure_check(class)?;
        }
        let Some(p) = self.prepare(job).await? else { return Ok(KeywordPhase::Complete) };
        let vectors = self.cached(&p.texts).await?;
        let complete = vectors.iter().all(Option::is_some);
        if complete {
            self.metrics.cache(vectors.len(), 0);
        }
        self.write(job, p, vectors).await?;
        self.metrics.keywords_written(job.kind);
        Ok(if complete { KeywordPhase::Complete } else { KeywordPhase::AwaitingDense })
    }

    /// The dense phase: every point again, now with its dense vector.
    async fn dense_phase(&self, job: &Job) -> Result<(), JobError> {
        let Some(p) = self.prepare(job).await? else { return Ok(()) };
        let vectors = self.vectors(&p.texts, Class::from_job_priority(job.priority), &job.source).await?;
        self.write(job, p, vectors.into_iter().map(Some).collect()).await
    }

    /// Reads the job's item back and cuts it into its points' texts (`None`: it is gone).
    async fn prepare(&self, job: &Job) -> Result<Option<Prepared>, JobError> {
        let Some(item) = points::load(self.store.as_ref(), job).await? else {
            tracing::info!(job = job.id, kind = job.kind.as_str(), target = job.target_id, "item no longer exists; nothing to index");
            return Ok(None);
        };
        let segmenter = self.segmenter.clone();
        let policy = self.cfg.chunks;
        let text = item.text.clone();
        let chunks = tokio::task::spawn_blocking(move || segmenter.chunk(&text, policy))
            .await
            .map_err(|e| EmbedFailure::Unavailable(format!("chunking: {e}")))?;
        if chunks.dropped > 0 && job.stage == Stage::Keywords {
            tracing::warn!(job = job.id, kept = chunks.chunks.len(), dropped = chunks.dropped, "text longer than --max-chunks; its tail is stored but not indexed");
            self.metrics.chunks_dropped.inc_by(chunks.dropped as u64);
        }
        let (fields, texts) = points::texts(&item, chunks.chunks).into_iter().unzip();
        Ok(Some(Prepared { item, texts, fields }))
    }

    /// Replaces the item's points: these, and none numbered after them (a text that got
    /// shorter leaves no stale chunk behind).
    async fn write(&self, job: &Job, p: Prepared, vectors: Vec<Option<Vec<f32>>>) -> Result<(), JobError> {
        let n = p.texts.len() as u32;
        let points = points::build(job, &p.item, p.fields.into_iter().zip(p.texts).collect(), vectors, &self.keywords, &self.glossary);
        self.index.replace(points, job.kind, job.target_id, n).await?;
        self.metrics.points_written.inc_by(n as u64);
        Ok(())
    }

    /// The cached vector of each text, where there is one.
    async fn cached(&self, texts: &[String]) -> Result<Vec<Option<Vec<f32>>>, JobError> {
        let model = self.scheduler.backend().model().to_owned();
        let mut out = Vec::with_capacity(texts.len());
        for t in texts {
            out.push(self.store.cached_vector(&model, &crate::pipeline::hashing::content_hash(&[t])).await?);
        }
        Ok(out)
    }

    /// Vectors for `chunks`: from the cache where present, the rest embedded in one
    /// scheduler request and cached.
    async fn vectors(&self, chunks: &[String], class: Class, source: &str) -> Result<Vec<Vec<f32>>, JobError> {
        let mut out = self.cached(chunks).await?;
        let missing: Vec<usize> = (0..chunks.len()).filter(|&i| out[i].is_none()).collect();
        self.metrics.cache(chunks.len() - missing.len(), missing.len());
        if !missing.is_empty() {
            let model = self.scheduler.backend().model().to_owned();
            let texts = missing.iter().map(|&i| chunks[i].clone()).collect();
            let embedded = self.scheduler.embed(class, source, texts).await?;
            let now = now_millis();
            for (&i, v) in missing.iter().zip(embedded) {
                self.store.cache_vector(&model, &crate::pipeline::hashing::content_hash(&[&chunks[i]]), &v.values, now).await?;
                out[i] = Some(v.values);
            }
        }
        Ok(out.into_iter().map(|v| v.expect("every chunk has a vector")).collect())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::JobError;
    use crate::pipeline::embedding::EmbedFailure;

    #[test]
    fn back_pressure_never_exhausts_a_job_but_faults_and_bad_input_do() {
        let busy = JobError::Embed(EmbedFailure::Overloaded { retry_after: Duration::from_secs(3) });
        assert!(!busy.gives_up(1000, 12));
        assert_eq!(busy.retry_in(1000, Duration::from_secs(300)), Duration::from_secs(3));
        let down = JobError::Embed(EmbedFailure::Unavailable("refused".into()));
        assert!(!down.gives_up(11, 12) && down.gives_up(12, 12));
        assert_eq!(down.retry_in(3, Duration::from_secs(300)), Duration::from_secs(8));
        assert_eq!(down.retry_in(40, Duration::from_secs(300)), Duration::from_secs(300));
        assert!(JobError::Embed(EmbedFailure::Input("empty".into())).gives_up(1, 12));
    }
}
