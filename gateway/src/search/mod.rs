//! Incident lookup: "have we seen this before, and what fixed it?"
//!
//! The query (free text, or an Alertmanager alert rendered the way stored incidents are)
//! is run against the index as a dense probe, a BM25 keyword probe, or both fused
//! ([`fusion`]). The dense probe needs the embedder; when it is down, slow or saturated
//! the search runs keyword-only and says so (`degraded`), instead of failing or waiting:
//! during an incident is exactly when the embedder is most likely to be busy.
//! Hits are then read back from the SQL store, incidents with their notes and history;
//! while the store is unreachable they come from the index alone (title, snippet,
//! scores), again marked `degraded`, since the index still knows what matched.

pub mod fusion;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::embedding::Class;
use crate::index::{IndexError, IndexFilter, Keywords, Probe, VectorIndex};
use crate::scheduler::Scheduler;
use crate::store::{Document, Incident, IncidentSummary, JobKind, SqlStore, StoreError};
use fusion::Ranked;

/// How to rank (the request names it).
pub use firebreak_intake::search::Mode;

/// A search, validated.
#[derive(Debug, Clone)]
pub struct Query {
    pub text: String,
    /// Who asks: the query's embedding is charged to this source's budget.
    pub source: String,
    pub k: usize,
    pub filter: IndexFilter,
    pub mode: Mode,
}

/// One result.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SearchHit {
    pub score: f32,
    pub kind: JobKind,
    pub id: i64,
    pub title: Option<String>,
    pub snippet: String,
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<Incident>,
    /// Other occurrences of the same alert (same fingerprint), newest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<IncidentSummary>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<DocumentRef>,
}

/// A document result without its full text.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DocumentRef {
    pub source: String,
    pub external_id: String,
    pub metadata: serde_json::Value,
}

/// The answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SearchResponse {
    /// The mode that actually ran.
    pub mode: Mode,
    pub degraded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub degraded_reason: Option<String>,
    pub results: Vec<SearchHit>,
}

/// Why a search failed outright (a degraded search is not a failure).
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("{0}")]
    Index(#[from] IndexError),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// The search service.
pub struct Searcher {
    pub index: Arc<dyn VectorIndex>,
    pub store: Arc<dyn SqlStore>,
    pub scheduler: Scheduler,
    pub keywords: Arc<Keywords>,
    /// Longest wait for the query's embedding before falling back to keywords.
    pub embed_timeout: Duration,
    /// Occurrences of the same alert listed with an incident.
    pub history_limit: usize,
    /// Searches answered keyword-only although a vector was wanted.
    pub degraded: prometheus_client::metrics::counter::Counter,
    /// Searches answered from the index alone because the store was unreachable.
    pub without_store: prometheus_client::metrics::counter::Counter,
    /// One log line a minute for those, however many searches come.
    pub without_store_log: crate::log_throttle::Throttle,
}

/// Chunks fetched per probe for each result wanted (items have several chunks).
const OVERFETCH: usize = 4;

impl Searcher {
    pub async fn search(&self, q: &Query) -> Result<SearchResponse, SearchError> {
        let limit = (q.k * OVERFETCH).clamp(16, 400);
        let mut degraded_reason = None;
        let dense = if q.mode == Mode::Keyword {
            None
        } else {
            match self.embed_query(&q.source, &q.text).await {
                Ok(v) => Some(v),
                Err(reason) => {
                    tracing::warn!(%reason, "query embedding unavailable: searching keywords only");
                    self.degraded.inc();
                    degraded_reason = Some(reason);
                    None
                }
            }
        };
        let keyword = |text: &str| self.index.search(Probe::Keywords(self.keywords.query(text)), &q.filter, limit);
        let (mode, ranked) = match (q.mode, dense) {
            (Mode::Dense, Some(v)) => (Mode::Dense, fusion::single(&self.index.search(Probe::Dense(v), &q.filter, limit).await?, q.k)),
            (Mode::Hybrid, Some(v)) => {
                let (d, kw) = tokio::join!(self.index.search(Probe::Dense(v), &q.filter, limit), keyword(&q.text));
                (Mode::Hybrid, fusion::rrf(&[&d?, &kw?], q.k))
            }
            _ => (Mode::Keyword, fusion::single(&keyword(&q.text).await?, q.k)),
        };
        let mut results = Vec::with_capacity(ranked.len());
        let mut store_down = None;
        for r in ranked {
            let mut hit = SearchHit::from_index(&r);
            if store_down.is_none() {
                match self.hydrate(&mut hit, &r).await {
                    Ok(true) => {}
                    Ok(false) => continue,
                    // The index still answers: what it holds (title, snippet, scores) is
                    // worth more to someone in an incident than a 503.
                    Err(StoreError::Unavailable(e)) => store_down = Some(e),
                    Err(e) => return Err(e.into()),
                }
            }
            results.push(hit);
        }
        if let Some(e) = store_down {
            self.without_store.inc();
            if let Some(unlogged) = self.without_store_log.due("store") {
                tracing::warn!(error = %e, unlogged, "database unavailable: searches answered from the index alone, without incident details");
            }
            let why = format!("database unavailable, results without incident details or history: {e}");
            degraded_reason = Some(match degraded_reason {
                Some(r) => format!("{r}; {why}"),
                None => why,
            });
        }
        Ok(SearchResponse { mode, degraded: degraded_reason.is_some(), degraded_reason, results })
    }

    async fn embed_query(&self, source: &str, text: &str) -> Result<Vec<f32>, String> {
        let embed = self.scheduler.embed(Class::Interactive, source, vec![text.to_owned()]);
        match tokio::time::timeout(self.embed_timeout, embed).await {
            Ok(Ok(mut v)) if v.len() == 1 => Ok(v.remove(0).values),
            Ok(Ok(_)) => Err("embedder returned no vector".into()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no embedding within {:?}", self.embed_timeout)),
        }
    }

    /// Adds what the SQL store holds about a ranked item to its hit; `false` if the item
    /// was deleted since it was indexed.
    async fn hydrate(&self, hit: &mut SearchHit, r: &Ranked) -> Result<bool, StoreError> {
        match r.kind {
            JobKind::Incident => {
                let Some(i) = self.store.incident(r.target_id).await? else { return Ok(false) };
                let mut history = self.store.occurrences(&i.head.fingerprint, self.history_limit + 1).await?;
                history.retain(|o| o.head.id != i.head.id);
                history.truncate(self.history_limit);
                hit.history = Some(history);
                hit.incident = Some(i);
            }
            JobKind::Document => {
                let Some(Document { source, external_id, metadata, .. }) = self.store.document(r.target_id).await? else {
                    return Ok(false);
                };
                hit.document = Some(DocumentRef { source, external_id, metadata });
            }
        }
        Ok(true)
    }
}

impl SearchHit {
    /// What the index alone knows of a ranked item: enough to show while the database
    /// is away.
    fn from_index(r: &Ranked) -> Self {
        let p = &r.best.payload;
        SearchHit {
            score: r.score,
            kind: r.kind,
            id: r.target_id,
            title: p.title.clone(),
            snippet: snippet(&p.text),
            source: p.source.clone(),
            incident: None,
            history: None,
            document: None,
        }
    }
}

/// The start of a chunk, cut on a char boundary, for result lists.
fn snippet(text: &str) -> String {
    const MAX: usize = 300;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
