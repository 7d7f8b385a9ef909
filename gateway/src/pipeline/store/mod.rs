//! The SQL store: incidents, raw alert events, documents, notes, ingest runs, the
//! embedding-job outbox and the vector cache.
//!
//! Durability contract: every write that the HTTP layer acknowledges with a 2xx happens
//! in one transaction together with the embedding job it implies, so a crash right after
//! the answer loses nothing; the job is claimed again after restart.
//!
//! One trait, so the scheduler and API never know which database they use, and so a test
//! can put a failing store behind it. One implementation ([`sql::SqlxStore`]) serves both
//! Postgres and SQLite through sqlx's `Any` driver: the schemas are column-for-column the
//! same, and [`dialect::Dialect`] holds the few places the databases differ.

pub mod dialect;
pub mod guarded;
pub mod sql;

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use crate::alertmanager::{KeyValues, Webhook};
use crate::clock::Millis;

pub use dialect::Dialect;
pub use sql::SqlxStore;

/// Store failures. `Unavailable` (the database cannot be reached) is what turns into a
/// 503 and a failing `/readyz`; `Invalid` is the caller's fault (4xx).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("database error: {0}")]
    Database(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => {
                StoreError::Unavailable(e.to_string())
            }
            sqlx::Error::RowNotFound => StoreError::NotFound(e.to_string()),
            sqlx::Error::Database(ref db) if is_transient(db.code().as_deref()) => StoreError::Unavailable(e.to_string()),
            other => StoreError::Database(other.to_string()),
        }
    }
}

/// Database error codes that mean "busy or going away, try again", not "your data is
/// wrong": SQLite BUSY/LOCKED (and their extended codes) once the busy timeout has run
/// out, and Postgres' connection, resource and shutdown classes (08, 53, 57P0x). They
/// become 503 + Retry-After, which Alertmanager and the ingest client retry.
fn is_transient(code: Option<&str>) -> bool {
    let Some(code) = code else { return false };
    if let Ok(n) = code.parse::<i32>() {
        return matches!(n & 0xff, 5 | 6); // SQLITE_BUSY, SQLITE_LOCKED
    }
    code.starts_with("08") || code.starts_with("53") || code.starts_with("57P0")
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What a stored webhook did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct WebhookOutcome {
    /// Alerts in the payload.
    pub alerts: u64,
    /// Occurrences seen for the first time (each got an embedding job).
    pub new: u64,
    /// Resends of known occurrences (counters updated, nothing re-embedded).
    pub repeated: u64,
    /// Occurrences closed by this notification.
    pub resolved: u64,
    /// Occurrences stored but not embedded for now (alerts about the gateway itself).
    pub held: u64,
}

/// Why an occurrence is stored but not embedded yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// An alert about Firebreak itself: embedding it would feed the gateway's own trouble.
    SelfAlert,
    /// An occurrence during an alert storm whose text was already embedded.
    Storm,
}

impl Hold {
    pub fn as_str(self) -> &'static str {
        match self {
            Hold::SelfAlert => "self",
            Hold::Storm => "storm",
        }
    }
}

/// A document as the ingest client sends it, checked.
pub use firebreak_intake::ingest::NewDocument;

/// What an ingest call did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct IngestOutcome {
    /// Documents new or changed, stored, each with an embedding job.
    pub accepted: u64,
    /// Documents whose content hash was already stored: nothing to do.
    pub unchanged: u64,
    /// Embedding jobs written (equals `accepted`).
    pub queued: u64,
}

/// An ingest run: one CronJob execution, named by its `run_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestRun {
    pub source: String,
    pub started_at: Millis,
    pub last_seen: Millis,
}

/// What an embedding job embeds.
pub use firebreak_intake::kind::JobKind;

/// Scheduling class of a job, stored as a number: lower runs first.
pub const PRIORITY_ALERT: i64 = 1;
pub const PRIORITY_BULK: i64 = 2;

/// Which phase of indexing a job is in. Each phase has its own lane in the outbox worker
/// (`crate::pipeline::indexer`), so writing keywords never waits on the embedder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// The item's keyword vectors and payload (and any cached dense vectors) go to the
    /// index: findable by its words at once.
    Keywords = 0,
    /// The dense vectors are embedded and added to the same points.
    Dense = 1,
}

impl Stage {
    pub const ALL: [Stage; 2] = [Stage::Keywords, Stage::Dense];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Keywords => "keywords",
            Stage::Dense => "dense",
        }
    }

    fn from_db(n: i64) -> Self {
        if n == 0 {
            Stage::Keywords
        } else {
            Stage::Dense
        }
    }
}

/// A claimed job: the claimer holds its lease until `lease_until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub stage: Stage,
    pub kind: JobKind,
    pub target_id: i64,
    pub priority: i64,
    pub attempts: i64,
    pub lease_until: Millis,
    /// The authenticated source that caused the job; its embedding budget pays for it.
    pub source: String,
}

/// What identifies and describes one occurrence; the full incident and the listing row
/// both start with it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OccurrenceHead {
    pub id: i64,
    pub fingerprint: String,
    pub alertname: String,
    pub namespace: Option<String>,
    pub severity: Option<String>,
    pub status: String,
    #[serde(serialize_with = "crate::clock::rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: Millis,
    #[serde(serialize_with = "crate::clock::rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub last_seen: Millis,
    pub times_notified: i64,
    #[serde(serialize_with = "crate::clock::rfc3339::option::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<Millis>,
}

/// An occurrence with its history and notes: the answer to "what fixed it?".
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Incident {
    #[serde(flatten)]
    pub head: OccurrenceHead,
    pub labels: serde_json::Value,
    pub annotations: serde_json::Value,
    pub generator_url: Option<String>,
    #[serde(serialize_with = "crate::clock::rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub first_seen: Millis,
    pub notes: Vec<Note>,
}

/// A note on an incident (typically: what fixed it).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Note {
    pub id: i64,
    pub author: Option<String>,
    pub text: String,
    #[serde(serialize_with = "crate::clock::rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Millis,
}

/// A stored document.
#[derive(Debug, Clone, Serialize)]
pub struct Document {
    pub id: i64,
    pub source: String,
    pub external_id: String,
    pub title: Option<String>,
    pub text: String,
    pub metadata: serde_json::Value,
    pub content_hash: String,
    /// The client's `updated_at`, else when it was first stored.
    pub time: Millis,
}

/// One row of an incident listing: the occurrence without its notes' text.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IncidentSummary {
    #[serde(flatten)]
    pub head: OccurrenceHead,
    pub summary: Option<String>,
    /// Notes on the occurrence.
    pub notes: i64,
}

/// Filters of `GET /v1/incidents`. Newest first; `before_id` is the cursor.
#[derive(Debug, Clone, Default)]
pub struct IncidentQuery {
    pub status: Option<String>,
    pub alertname: Option<String>,
    pub namespace: Option<String>,
    /// Only occurrences seen at or after this time.
    pub since: Option<Millis>,
    pub before_id: Option<i64>,
    pub limit: usize,
}

/// Outbox counts, for `/v1/status` and the backlog metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Backlog {
    pub pending: i64,
    pub leased: i64,
    pub done: i64,
    /// Jobs given up after too many attempts (their items are stored; an operator can requeue).
    pub failed: i64,
    /// Age of the oldest pending job, in milliseconds (0 when none).
    pub oldest_pending_ms: i64,
    /// Bulk (document) jobs not done yet, pending and leased together (so not a part of
    /// `pending`): the bulk backlog ingest is admitted against.
    pub bulk_open: i64,
    /// Bulk jobs done so far; its growth is the drain rate behind ingest's `Retry-After`.
    pub done_bulk: i64,
    /// Pending jobs whose keywords are indexed and whose dense vectors are not yet: their
    /// items are keyword-searchable, not yet dense-searchable.
    pub awaiting_dense: i64,
    /// How long the oldest of those has waited since its keywords were written, in
    /// milliseconds (0 when none).
    pub oldest_awaiting_dense_ms: i64,
}

/// While an alertname has fewer other fingerprints than this, each new one re-queues
/// theirs: their template (`crate::analysis::template`) is still being learnt, and the
/// first incidents of an alert were indexed before anything could be told apart from
/// boilerplate. Bounded: at most this many extra jobs per new alert, and none once an
/// alert has a history.
pub const TEMPLATE_FORMING: usize = 4;

/// The durable store behind the gateway.
#[async_trait]
pub trait SqlStore: Send + Sync {
    /// Cheap round trip, for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;

    /// Stores a webhook (raw event, occurrences, jobs for new occurrences) atomically.
    /// `by` is the authenticated source; its embedding budget pays for the jobs (likewise
    /// for `ingest` and `add_note`).
    /// `holds[i]`, when set, stores alert `i` without its embedding job while it fires
    /// (its resolved notification queues the job).
    async fn record_webhook(&self, by: &str, hook: &Webhook, raw: &str, holds: &[Option<Hold>], now: Millis) -> StoreResult<WebhookOutcome>;

    /// Stores new and changed documents of one ingest call (with their jobs) atomically.
    async fn ingest(&self, by: &str, source: &str, run_id: &str, docs: &[NewDocument], now: Millis) -> StoreResult<IngestOutcome>;

    /// Queues the embedding of every occurrence still held for `hold` (the storm is over);
    /// returns how many. Their jobs are charged to the source `release`.
    async fn release_held(&self, hold: Hold, now: Millis) -> StoreResult<u64>;

    /// An ingest run as recorded so far (`None`: never seen).
    async fn ingest_run(&self, run_id: &str) -> StoreResult<Option<IngestRun>>;

    /// Adds a note and queues the incident for re-embedding, so searches find the fix.
    async fn add_note(&self, by: &str, incident_id: i64, author: Option<&str>, text: &str, now: Millis) -> StoreResult<Note>;

    /// An incident with its notes.
    async fn incident(&self, id: i64) -> StoreResult<Option<Incident>>;

    /// A document.
    async fn document(&self, id: i64) -> StoreResult<Option<Document>>;

    /// Leases up to `limit` ready jobs at `stage` to `owner` for `lease`, highest priority
    /// first. Jobs whose lease expired (their claimer died) are ready again.
    async fn claim_jobs(&self, owner: &str, stage: Stage, limit: usize, lease: Duration, now: Millis) -> StoreResult<Vec<Job>>;

    /// Ends a job's keyword phase: it is ready at once for the dense phase, with its
    /// attempts counted afresh, and older jobs of the same item waiting for their dense
    /// phase are done (this one reads the item later, so it embeds what they would have);
    /// false if `owner` no longer held the lease.
    async fn advance_job(&self, job_id: i64, owner: &str, now: Millis) -> StoreResult<bool>;

    /// Marks a job done; false if `owner` no longer held its lease (someone else may
    /// have redone it: vectors are written idempotently, so that is safe).
    async fn complete_job(&self, job_id: i64, owner: &str, now: Millis) -> StoreResult<bool>;

    /// Returns a job to the queue, to be retried at `retry_at`.
    async fn release_job(&self, job_id: i64, owner: &str, error: &str, retry_at: Millis) -> StoreResult<()>;

    /// Returns a job held back by back-pressure (embedder busy, budget spent) to the
    /// queue without counting the attempt: waiting is not failing.
    async fn defer_job(&self, job_id: i64, owner: &str, reason: &str, retry_at: Millis) -> StoreResult<()>;

    /// Gives a job up after repeated failures: it stays in the outbox as `failed`, visible
    /// in `/v1/status`, instead of being retried forever.
    async fn fail_job(&self, job_id: i64, owner: &str, error: &str, now: Millis) -> StoreResult<()>;

    /// Incidents, newest first.
    async fn list_incidents(&self, q: &IncidentQuery) -> StoreResult<Vec<IncidentSummary>>;

    /// Earlier and later occurrences of the same alert (same fingerprint), newest first.
    async fn occurrences(&self, fingerprint: &str, limit: usize) -> StoreResult<Vec<IncidentSummary>>;

    /// What other alerts of `alertname` said: the annotations of up to `limit` of its
    /// other fingerprints, most recently seen first, one each. The history an alert's
    /// template is learnt from (`crate::analysis::template`); reads a bounded number of
    /// rows however long the history is.
    async fn alert_siblings(&self, alertname: &str, fingerprint: &str, limit: usize) -> StoreResult<Vec<KeyValues>>;

    /// Extends `owner`'s leases on the jobs `ids` (those it is still working on) to `now +
    /// lease`; how many it still held. A job whose lease ran out and was taken by another
    /// replica is not `owner`'s any more and is left alone.
    async fn renew_leases(&self, owner: &str, ids: &[i64], lease: Duration, now: Millis) -> StoreResult<u64>;

    /// Ends every lease at once, returning its jobs to the outbox; how many. Only for a
    /// store one process owns (the embedded SQLite, under [`crate::data_dir`]'s lock):
    /// leases found there at start-up belong to a process that died, and waiting them out
    /// would delay its jobs by `--job-lease-secs` after every crash.
    async fn reclaim_leases(&self) -> StoreResult<u64>;

    /// Outbox counts.
    async fn backlog(&self, now: Millis) -> StoreResult<Backlog>;

    /// A cached vector for this model and content hash.
    async fn cached_vector(&self, model: &str, content_hash: &str) -> StoreResult<Option<Vec<f32>>>;

    /// Caches a vector (first writer wins; identical content gives identical vectors).
    async fn cache_vector(&self, model: &str, content_hash: &str, vector: &[f32], now: Millis) -> StoreResult<()>;
}
