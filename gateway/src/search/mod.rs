//! Incident lookup: "have we seen this before, and what fixed it?"
//!
//! The query (free text, or an Alertmanager alert rendered the way stored incidents are)
//! is run against the index as a dense probe, a BM25 keyword probe, or both fused
//! ([`fusion`]). An alert query is read the way incidents are indexed
//! ([`crate::analysis`]): its description beyond its alertname's template, without
//! instance names, is its cause, and the incidents of the same alertname are ranked by
//! their cause field first (dense and keyword, scaled and averaged); everything else
//! follows by whole text (RRF). Each result says why it matched ([`explain`]). The dense probe needs the embedder; when it is down, slow or saturated
//! the search runs keyword-only and says so (`degraded`), instead of failing or waiting:
//! during an incident is exactly when the embedder is most likely to be busy.
//! Points indexed by their keywords alone (the embedder had not got to them yet) are
//! found by the keyword probe only; the answer counts them (`keyword_only`).
//! Hits are then read back from the SQL store, incidents with their notes and history;
//! while the store is unreachable they come from the index alone (title, snippet,
//! scores), again marked `degraded`, since the index still knows what matched.

pub mod explain;
pub mod fusion;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::alertmanager::Alert;
use crate::analysis::{cause_text, Glossary, Template, DESCRIBING};
use crate::embedding::Class;
use crate::index::{Field, Hit, IndexError, IndexFilter, Keywords, Probe, VectorIndex};
use crate::scheduler::Scheduler;
use crate::store::{Document, Incident, IncidentSummary, JobKind, SqlStore, StoreError};
pub use explain::Why;
use fusion::Ranked;

/// How to rank (the request names it).
pub use firebreak_intake::search::Mode;

/// A search, validated.
#[derive(Debug, Clone)]
pub struct Query {
    pub text: String,
    /// The alert a search is for, when it is one: its alertname's incidents are then
    /// ranked first, by cause.
    pub alert: Option<Alert>,
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
    /// Why it matched.
    pub why: Why,
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
    /// Results whose item has no dense vector yet (indexed by its keywords while the
    /// embedder was behind or away): found by their words only, whatever the mode.
    pub keyword_only: usize,
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
    /// Concepts added to keyword queries, as the indexer adds them to points.
    pub glossary: Arc<Glossary>,
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

/// Weight of the dense probe in the cause ranking (the keyword probe has the rest): the
/// two count alike, and nothing is tuned to one set (docs/retrieval.md).
const CAUSE_DENSE_WEIGHT: f32 = 0.5;

/// What an alert query says went wrong, and among which incidents to look.
struct AlertCause {
    alertname: String,
    /// The description beyond the alertname's template, without instance names.
    text: String,
}

/// A ranked item and the field it was ranked by.
struct Candidate {
    ranked: Ranked,
    field: Field,
    /// The keyword query it was matched with (for the explanation).
    query: String,
}

impl Searcher {
    pub async fn search(&self, q: &Query) -> Result<SearchResponse, SearchError> {
        self.search_with(q, |texts| self.embed_query(&q.source, texts)).await
    }

    /// [`Searcher::search`] with the query's embedding done by `embed` (the texts to
    /// embed in, their vectors or why there are none out). The search latency benchmark
    /// uses it to time everything but the model.
    pub async fn search_with<F, Fut>(&self, q: &Query, embed: F) -> Result<SearchResponse, SearchError>
    where
        F: FnOnce(Vec<String>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<Vec<f32>>, String>>,
    {
        let limit = (q.k * OVERFETCH).clamp(16, 400);
        let mut degraded_reason = None;
        let cause = match &q.alert {
            Some(a) => self.alert_cause(a, &q.filter).await,
            None => None,
        };
        let vectors = if q.mode == Mode::Keyword {
            None
        } else {
            let mut texts = vec![q.text.clone()];
            texts.extend(cause.as_ref().map(|c| c.text.clone()));
            let n = texts.len();
            match embed(texts).await.and_then(|v| if v.len() == n { Ok(v) } else { Err("embedder returned too few vectors".into()) }) {
                Ok(v) => Some(v),
                Err(reason) => {
                    tracing::warn!(%reason, "query embedding unavailable: searching keywords only");
                    self.degraded.inc();
                    degraded_reason = Some(reason);
                    None
                }
            }
        };
        let mode = if vectors.is_none() { Mode::Keyword } else { q.mode };
        let (text_vec, cause_vec) = match vectors {
            Some(mut v) => {
                let c = (v.len() > 1).then(|| v.remove(1));
                (Some(v.remove(0)), c)
            }
            None => (None, None),
        };

        // The incidents of the alert's own alertname, ranked by cause, come first.
        let mut candidates: Vec<Candidate> = Vec::new();
        if let Some(c) = &cause {
            let filter = IndexFilter {
                kinds: vec![JobKind::Incident],
                fields: vec![Field::Cause],
                alertname: Some(c.alertname.clone()),
                ..q.filter.clone()
            };
            let query = self.glossary.expand(&c.text);
            let ranked = self.rank(mode, cause_vec, &query, &filter, limit, q.k, |r| fusion::weighted(r, &[CAUSE_DENSE_WEIGHT, 1.0 - CAUSE_DENSE_WEIGHT], q.k)).await?;
            candidates.extend(ranked.into_iter().map(|ranked| Candidate { ranked, field: Field::Cause, query: c.text.clone() }));
        }
        // Then everything else, by whole text.
        let query = self.glossary.expand(&q.text);
        let general = self.rank(mode, text_vec, &query, &q.filter, limit, q.k, |r| fusion::rrf(r, q.k)).await?;
        for ranked in general {
            if candidates.len() >= q.k {
                break;
            }
            if !candidates.iter().any(|c| c.ranked.kind == ranked.kind && c.ranked.target_id == ranked.target_id) {
                let field = ranked.best.payload.field;
                candidates.push(Candidate { ranked, field, query: q.text.clone() });
            }
        }
        candidates.truncate(q.k);
        let keyword_only = candidates.iter().filter(|c| c.ranked.best.payload.keyword_only).count();

        let mut results = Vec::with_capacity(candidates.len());
        let mut store_down = None;
        for c in candidates {
            let mut hit = self.hit(&c);
            if store_down.is_none() {
                match self.hydrate(&mut hit, &c.ranked).await {
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
        Ok(SearchResponse { mode, degraded: degraded_reason.is_some(), degraded_reason, keyword_only, results })
    }

    /// One ranking by `mode`: the dense probe (when there is a vector), the keyword probe,
    /// or both fused by `fuse`.
    #[allow(clippy::too_many_arguments)]
    async fn rank(
        &self,
        mode: Mode,
        vector: Option<Vec<f32>>,
        keyword_query: &str,
        filter: &IndexFilter,
        limit: usize,
        k: usize,
        fuse: impl FnOnce(&[(&[Hit], fusion::Probe)]) -> Vec<Ranked>,
    ) -> Result<Vec<Ranked>, SearchError> {
        let keyword = || self.index.search(Probe::Keywords(self.keywords.query(keyword_query)), filter, limit);
        Ok(match (mode, vector) {
            (Mode::Dense, Some(v)) => fusion::single(&self.index.search(Probe::Dense(v), filter, limit).await?, fusion::Probe::Dense, k),
            (Mode::Hybrid, Some(v)) => {
                let (d, kw) = tokio::join!(self.index.search(Probe::Dense(v), filter, limit), keyword());
                fuse(&[(&d?, fusion::Probe::Dense), (&kw?, fusion::Probe::Keyword)])
            }
            _ => fusion::single(&keyword().await?, fusion::Probe::Keyword, k),
        })
    }

    /// The cause of an alert query, read against its alertname's template (learnt from
    /// the store; without it, when the store is down, nothing is template). `None` when
    /// the filter rules out its incidents or the alert says nothing beyond its template.
    async fn alert_cause(&self, a: &Alert, filter: &IndexFilter) -> Option<AlertCause> {
        let alertname = a.labels.get("alertname")?.clone();
        if !(filter.kinds.is_empty() || filter.kinds.contains(&JobKind::Incident)) || filter.alertname.as_ref().is_some_and(|n| *n != alertname) {
            return None;
        }
        let template = match crate::indexer::points::template_for(self.store.as_ref(), &alertname, &a.fingerprint).await {
            Ok(t) => t,
            Err(e) => {
                tracing::debug!(error = %e, "alert query without its template: the store did not answer");
                Template::learn::<&str>(&[])
            }
        };
        let description = DESCRIBING.iter().find_map(|k| a.annotations.get(*k)).map(String::as_str).unwrap_or("");
        let text = cause_text(description, &template);
        (!text.trim().is_empty()).then_some(AlertCause { alertname, text })
    }

    async fn embed_query(&self, source: &str, texts: Vec<String>) -> Result<Vec<Vec<f32>>, String> {
        let embed = self.scheduler.embed(Class::Interactive, source, texts);
        match tokio::time::timeout(self.embed_timeout, embed).await {
            Ok(Ok(v)) => Ok(v.into_iter().map(|e| e.values).collect()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no embedding within {:?}", self.embed_timeout)),
        }
    }

    /// What the index alone knows of a ranked item, and why it matched: enough to show
    /// while the database is away.
    fn hit(&self, c: &Candidate) -> SearchHit {
        let r = &c.ranked;
        let p = &r.best.payload;
        let matched = r.keyword_text.as_deref().unwrap_or(&p.text);
        let (terms, concepts) = explain::shared(&self.keywords, &self.glossary, &c.query, matched);
        SearchHit {
            score: r.score,
            kind: r.kind,
            id: r.target_id,
            title: p.title.clone(),
            snippet: snippet(&p.text),
            source: p.source.clone(),
            why: Why { field: c.field, dense: r.dense, keyword: r.keyword, fused: r.score, terms, concepts },
            incident: None,
            history: None,
            document: None,
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
