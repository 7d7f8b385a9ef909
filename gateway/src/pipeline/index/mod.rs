//! The vector index: where embedded incidents and documents are found again.
//!
//! One trait, two thin backends: the embedded default on the `qdrant-edge` crate
//! ([`edge::EdgeIndex`], a shard in `--data-dir`) and a Qdrant server over gRPC
//! ([`server::ServerIndex`], `--qdrant-url`). Everything that can be shared is shared and
//! lives here: point ids ([`point_id`]), the payload ([`PointPayload`]), the filter
//! ([`filter`]), and the BM25 keyword vectors ([`keywords`]), which are computed
//! client-side for both, so keyword search behaves identically on either backend and
//! keeps working when the embedder is down.
//!
//! Backends only store and search one named vector at a time; fusing dense and keyword
//! rankings (hybrid search) happens above, in [`crate::query::search`], once for both.
//!
//! A point may have its keyword vector only (`keyword_only` in its payload): the outbox
//! worker writes an item's keywords as soon as it is committed, and its dense vectors
//! when the embedder gets to it (the two phases in [`crate::pipeline::indexer`]). A dense probe
//! never finds such a point (it has no dense vector to be near); a keyword probe does.

pub mod edge;
pub mod filter;
mod group_commit;
pub mod guarded;
pub mod keywords;
pub mod point_id;
pub mod server;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::pipeline::store::JobKind;
pub use firebreak_intake::kind::Field;

pub use filter::IndexFilter;
pub use keywords::Keywords;

/// The named dense vector (the sentence embedding).
pub const DENSE: &str = "dense";
/// The named sparse vector (BM25 term weights; the index applies IDF).
pub const KEYWORDS: &str = "keywords";

/// A sparse vector: term ids and weights.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseVec {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseVec {
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

/// What a point carries besides its vectors: the ids to find the row again, and every
/// field a search may filter on. Kept small: texts live in SQL, only the chunk's own
/// text is here (for snippets without a second lookup).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointPayload {
    pub kind: JobKind,
    /// Incident or document row id.
    pub target_id: i64,
    pub chunk: u32,
    /// Which part of the item: its text, or an incident's cause (absent: text).
    #[serde(default, skip_serializing_if = "Field::is_text")]
    pub field: Field,
    /// "alertmanager" for incidents, the ingest source for documents.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alertname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// When it happened (incident start, document update), epoch ms: `since` filters on it.
    pub time: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub text: String,
    /// The point has no dense vector yet: written by the keyword phase, waiting for the
    /// embedder (absent: it has both vectors).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keyword_only: bool,
}

impl PointPayload {
    /// The payload as a JSON object, the shape both backends take.
    pub fn to_json_map(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        }
    }

    pub fn from_json(v: serde_json::Value) -> IndexResult<Self> {
        serde_json::from_value(v).map_err(|e| IndexError::Corrupt(format!("point payload: {e}")))
    }
}

/// Fields with a payload index, and their types: created with the collection.
pub const INDEXED_KEYWORD_FIELDS: &[&str] = &["kind", "field", "source", "namespace", "alertname", "severity"];
pub const INDEXED_INTEGER_FIELDS: &[&str] = &["target_id", "chunk", "time"];
pub const INDEXED_BOOL_FIELDS: &[&str] = &["keyword_only"];

/// One point to write.
#[derive(Debug, Clone)]
pub struct IndexPoint {
    pub id: u64,
    /// `None` in the keyword phase (the payload then says `keyword_only`).
    pub dense: Option<Vec<f32>>,
    pub keywords: SparseVec,
    pub payload: PointPayload,
}

/// What to search with: one named vector per call.
#[derive(Debug, Clone)]
pub enum Probe {
    Dense(Vec<f32>),
    Keywords(SparseVec),
}

/// One result of one probe.
#[derive(Debug, Clone)]
pub struct Hit {
    pub id: u64,
    pub score: f32,
    pub payload: PointPayload,
}

/// Index failures. `Unavailable` trips the index breaker and degrades search; `Corrupt`
/// and `Config` are operator problems and are reported as such.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("vector index unavailable: {0}")]
    Unavailable(String),
    #[error("vector index configuration: {0}")]
    Config(String),
    #[error("vector index data: {0}")]
    Corrupt(String),
}

pub type IndexResult<T> = Result<T, IndexError>;

/// The vector index behind the gateway.
#[async_trait]
pub trait VectorIndex: Send + Sync {
    /// "qdrant-edge" or "qdrant", for status and logs.
    fn backend(&self) -> &'static str;

    /// Writes points; a point with an existing id is replaced (ids are deterministic, so a
    /// retried job overwrites instead of duplicating). Durable when this returns.
    async fn upsert(&self, points: Vec<IndexPoint>) -> IndexResult<()>;

    /// Removes a target's chunks numbered `from_chunk` and above: what is left over when a
    /// re-embedded text got shorter.
    async fn remove_chunks_from(&self, kind: JobKind, target_id: i64, from_chunk: u32) -> IndexResult<()>;

    /// An item's points are now `points`, numbered below `from_chunk`: writes them and
    /// removes the item's chunks from `from_chunk` on. Backends that can make both durable
    /// at once (one flush) do.
    async fn replace(&self, points: Vec<IndexPoint>, kind: JobKind, target_id: i64, from_chunk: u32) -> IndexResult<()> {
        self.upsert(points).await?;
        self.remove_chunks_from(kind, target_id, from_chunk).await
    }

    /// The `limit` nearest points to `probe` that pass `filter`.
    async fn search(&self, probe: Probe, filter: &IndexFilter, limit: usize) -> IndexResult<Vec<Hit>>;

    /// Points stored that pass `filter`, for status and tests.
    async fn count(&self, filter: &IndexFilter) -> IndexResult<u64>;

    /// Points waiting for their dense vector (`keyword_only`), for status and metrics.
    async fn count_keyword_only(&self) -> IndexResult<u64>;
}
