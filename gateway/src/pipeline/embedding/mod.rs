//! The embedder as the gateway sees it: a backend that turns a batch of texts into
//! vectors. In-process ([`in_process::InProcess`], the `embedder` crate with its own CPU
//! budget) or remote over the OpenAI-compatible API ([`remote::Remote`]:
//! `firebreak-embedder serve`, TEI, Ollama). The scheduler decides *when* a batch runs;
//! a backend only runs it.

pub mod guarded;
pub mod in_process;
pub mod remote;

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

/// Scheduling class, highest first. Also sent to the embedder, whose own queue honours it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// Someone is waiting: search queries and `/v1/embeddings`.
    Interactive = 0,
    /// New alert occurrences and notes.
    Alert = 1,
    /// Ingested documents.
    Bulk = 2,
}

impl Class {
    pub const ALL: [Class; 3] = [Class::Interactive, Class::Alert, Class::Bulk];

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Interactive => "interactive",
            Class::Alert => "alert",
            Class::Bulk => "bulk",
        }
    }

    /// The class of an outbox job's stored priority.
    pub fn from_job_priority(p: i64) -> Self {
        if p <= crate::pipeline::store::PRIORITY_ALERT {
            Class::Alert
        } else {
            Class::Bulk
        }
    }
}

/// One embedded text.
#[derive(Debug, Clone, PartialEq)]
pub struct Vector {
    pub values: Vec<f32>,
    /// Tokens embedded, when the backend reports it per text.
    pub tokens: Option<usize>,
}

/// Why a batch did not embed. Only `Unavailable`/`Overloaded` say anything about the
/// embedder's health; `Input` is the text's fault and is never retried; `OverBudget` is
/// the gateway's own cap.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EmbedFailure {
    #[error("input rejected by the embedder: {0}")]
    Input(String),
    #[error("embedder overloaded; retry in {retry_after:?}")]
    Overloaded { retry_after: Duration },
    #[error("embedder unavailable: {0}")]
    Unavailable(String),
    /// The embedding budget (crate::guards::budget) of `scope` is spent: not a fault of the
    /// embedder or the text; wait `retry_after`.
    #[error("embedding budget of {scope} spent ({unit} per minute); retry in {retry_after:?}")]
    OverBudget { scope: String, unit: &'static str, retry_after: Duration },
    /// The gateway holds embedding back (a circuit breaker open): nothing was tried.
    #[error("embedding paused: {reason}; retry in {retry_after:?}")]
    Paused { reason: String, retry_after: Duration },
}

impl EmbedFailure {
    /// Back-pressure: the work is fine and should simply wait (never a failed attempt).
    pub fn is_back_pressure(&self) -> bool {
        matches!(self, EmbedFailure::Overloaded { .. } | EmbedFailure::OverBudget { .. } | EmbedFailure::Paused { .. })
    }

    /// How long back-pressure asks to wait.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            EmbedFailure::Overloaded { retry_after }
            | EmbedFailure::OverBudget { retry_after, .. }
            | EmbedFailure::Paused { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

impl From<crate::guards::budget::OverBudget> for EmbedFailure {
    fn from(o: crate::guards::budget::OverBudget) -> Self {
        EmbedFailure::OverBudget { scope: o.scope, unit: o.unit, retry_after: o.retry_after }
    }
}

/// Something that embeds batches.
#[async_trait]
pub trait EmbedBackend: Send + Sync {
    /// Model identity, the key of the vector cache: a new model never reuses old vectors.
    fn model(&self) -> &str;

    /// Vector dimension (the index is created with it).
    fn dim(&self) -> usize;

    /// "in-process cpu packed-f32", "remote http://…", for status and logs.
    fn describe(&self) -> String;

    /// How long a batch of `texts` may run before the scheduler stops counting it as in
    /// flight (it is hung: its slot goes to the next batch). `None`: never.
    fn overdue_after(&self, _texts: &[String]) -> Option<Duration> {
        None
    }

    /// Embeds `texts` in order; all or nothing.
    async fn embed(&self, texts: Vec<String>, class: Class) -> Result<Vec<Vector>, EmbedFailure>;
}
