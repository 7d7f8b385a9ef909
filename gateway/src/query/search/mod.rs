//! Incident lookup: "have we seen this before, and what fixed it?"
//!
//! The query (free text, or an Alertmanager alert rendered the way stored incidents are)
//! is run against the index as a dense probe, a BM25 keyword probe, or both fused
//! ([`fusion`]). An alert query is read the way incidents are indexed
//! ([`crate::analysis`]): its description beyond its alertname's template, without
//! instance names, is its cause, and incidents are ranked by their cause and notes fields
//! first (dense and keyword on each, scaled and averaged), every incident competing and the
//! alert's own alertname counting as evidence, a bonus on that score, not as a filter: the
//! same root cause often fires another alert. Everything else follows by whole text
//! (RRF). Each result says why it matched ([`explain`]). The dense probe needs the
//! embedder; when it is down, slow or saturated
//! the search runs keyword-only and says so (`degraded`), instead of failing or waiting:
//! during an incident is exactly when the embedder is most likely to be busy.
//! Points indexed by their keywords alone (the embedder had not got to them yet) are
//! found by the keyword probe only; the answer counts them (`keyword_only`).
//! Hits are then read back from the SQL store, incidents with their notes and history;
//! while the store is unreachable they come from the index alone (title, snippet,
//! scores), again marked `degraded`, since the index still knows what matched.

pub mod explain;
pub mod fusion;
pub mod relevance;
pub mod snippet;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::alertmanager::Alert;
use crate::analysis::{cause_text, Glossary, Template, DESCRIBING};
use crate::pipeline::embedding::Class;
use crate::pipeline::index::{Field, Hit, IndexError, IndexFilter, Keywords, Probe, VectorIndex};
use crate::pipeline::scheduler::Scheduler;
use crate::pipeline::store::{Document, Incident, IncidentSummary, JobKind, SqlStore, StoreError};
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
    /// What the results are ordered by: comparable within one answer only (reciprocal-rank
    /// fusion, or a cause ranking's scaled sum).
    pub score: f32,
    /// How good the match is, in [0, 1], comparable across searches: from the dense
    /// similarity of query and matched text, or, matched by words alone, the share of the
    /// query's words found (at most 0.8). Below about 0.3: no good match
    /// (docs/retrieval.md, "Relevance").
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub relevance: f32,
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

/// Weight of the cause field in the cause ranking (the notes field has the rest). The
/// notes weigh more: the cause field is the few words a templated description adds, the
/// fixer wrote what was wrong and what fixed it, the fuller statement of the cause, and
/// the one that carries across alertnames. An incident without notes scores on its cause
/// alone, below one whose fix matches too: a past incident that says what fixed it is the
/// more useful answer. Chosen by hand on both dev sets, in the middle of a plateau:
/// 0.3–0.4 give the same top-1 on both (docs/retrieval.md).
const CAUSE_FIELD_WEIGHT: f32 = 0.35;

/// What firing under the query alert's own alertname adds to an incident's cause score
/// (on the scale where the best cause match scores 1): enough to settle a close call in
/// favour of the alert's own history, too little to beat a clearly better cause under
/// another alertname. The middle of the plateau 0.075–0.15; from 0.175 on, cross-alertname
/// queries go back to same-alertname neighbours (docs/retrieval.md).
const ALERTNAME_WEIGHT: f32 = 0.125;

/// The log target of the cause ranking's raw scores (`FIREBREAK_LOG=firebreak::ranking=debug`):
/// what scripts/retrieval-grid.py re-ranks offline to choose the weights below.
pub const RANKING_LOG: &str = "firebreak::ranking";

/// One line of JSON: the alert's cause and every hit of every probe, `[probe, field,
/// item, alertname, raw score]`.
fn raw_scores(cause: &AlertCause, by_probe: &[(Vec<Hit>, fusion::Probe)]) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = by_probe
        .iter()
        .flat_map(|(hits, probe)| {
            hits.iter().map(move |h| serde_json::json!([format!("{probe:?}").to_lowercase(), h.payload.field, h.payload.target_id, h.payload.alertname, h.score]))
        })
        .collect();
    serde_json::json!({"alertname": cause.alertname, "cause": cause.text, "rows": rows})
}

/// Store reads one search's hydration may have in flight: fewer than the smallest
/// connection pool's size (8 by default), so intake always finds a free connection.
const HYDRATE_AT_ONCE: usize = 4;

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

        // Incidents ranked by cause come first: every incident's cause competes, and the
        // alert's own alertname is evidence added to the score, not a filter.
        let mut candidates: Vec<Candidate> = Vec::new();
        if let Some(c) = &cause {
            let query = self.glossary.expand(&c.text);
            let (rankings, weights) = self.cause_rankings(mode, cause_vec, &query, c, &q.filter, limit).await?;
            let fused = fusion::weighted(&rankings.iter().map(|(h, p)| (&h[..], *p)).collect::<Vec<_>>(), &weights, limit);
            let own_alertname = |r: &Ranked| r.best.payload.alertname.as_deref() == Some(c.alertname.as_str());
            let ranked = fusion::favour(fused, ALERTNAME_WEIGHT, own_alertname, q.k);
            candidates.extend(ranked.into_iter().map(|ranked| Candidate { ranked, field: Field::Cause, query: c.text.clone() }));
        }
        // Then everything else, by whole text.
        let query = self.glossary.expand(&q.text);
        let rankings = self.probes(mode, text_vec, &query, &[&q.filter], limit).await?;
        let general = match &rankings[..] {
            [(hits, probe)] => fusion::single(hits, *probe, q.k),
            _ => fusion::rrf(&rankings.iter().map(|(h, p)| (&h[..], *p)).collect::<Vec<_>>(), q.k),
        };
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

        // Results' details a few at a time, in order: one after another, the store's round
        // trips were a third of a search's time; all at once, one search with k 50 would
        // hold every pooled connection while alerts wait to be stored.
        let alertname = q.alert.as_ref().and_then(|a| a.labels.get("alertname")).map(String::as_str);
        let mut hydrated = Vec::with_capacity(candidates.len());
        for batch in candidates.chunks(HYDRATE_AT_ONCE) {
            hydrated.extend(
                futures_util::future::join_all(batch.iter().map(|c| async move {
                    let mut hit = self.hit(c, alertname);
                    let found = self.hydrate(&mut hit, &c.ranked).await;
                    (hit, found)
                }))
                .await,
            );
        }
        let mut results = Vec::with_capacity(hydrated.len());
        let mut store_down = None;
        for (hit, found) in hydrated {
            match found {
                Ok(true) => results.push(hit),
                Ok(false) => {}
                // The index still answers: what it holds (title, snippet, scores) is
                // worth more to someone in an incident than a 503.
                Err(StoreError::Unavailable(e)) => {
                    store_down.get_or_insert(e);
                    results.push(hit);
                }
                Err(e) => return Err(e.into()),
            }
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

    /// The rankings of incidents by what went wrong, and the weight of each in their
    /// fusion: every probe of `mode` over the cause field and over the notes field. Each
    /// probe runs once over both fields (twice the limit, so that each field keeps enough
    /// candidates) under two filters: every incident, and the alertname's own, which
    /// among thousands of others might not make the top of the first, and are the likely
    /// answer when nothing else clearly is. A filter on an alertname already says where to
    /// look: one filter. The hits are then split by field: one search per probe and filter
    /// instead of one per field too halves the index's work (docs/benchmarks.md).
    async fn cause_rankings(
        &self,
        mode: Mode,
        vector: Option<Vec<f32>>,
        keyword_query: &str,
        cause: &AlertCause,
        filter: &IndexFilter,
        limit: usize,
    ) -> Result<(Vec<(Vec<Hit>, fusion::Probe)>, Vec<f32>), SearchError> {
        let all = IndexFilter { kinds: vec![JobKind::Incident], fields: vec![Field::Cause, Field::Notes], ..filter.clone() };
        let own = IndexFilter { alertname: Some(cause.alertname.clone()), ..all.clone() };
        let filters: Vec<&IndexFilter> = if filter.alertname.is_some() { vec![&all] } else { vec![&all, &own] };
        let by_probe = self.probes(mode, vector, keyword_query, &filters, 2 * limit).await?;
        if tracing::enabled!(target: RANKING_LOG, tracing::Level::DEBUG) {
            tracing::debug!(target: RANKING_LOG, features = %raw_scores(cause, &by_probe), "the cause ranking's raw probe scores");
        }
        let probes = by_probe.len();
        let (mut rankings, mut weights) = (Vec::with_capacity(2 * probes), Vec::with_capacity(2 * probes));
        for (field, field_weight) in [(Field::Cause, CAUSE_FIELD_WEIGHT), (Field::Notes, 1.0 - CAUSE_FIELD_WEIGHT)] {
            for (hits, probe) in &by_probe {
                let probe_weight = match (probes, probe) {
                    (1, _) => 1.0,
                    (_, fusion::Probe::Dense) => CAUSE_DENSE_WEIGHT,
                    (_, fusion::Probe::Keyword) => 1.0 - CAUSE_DENSE_WEIGHT,
                };
                let of_field: Vec<Hit> = hits.iter().filter(|h| h.payload.field == field).cloned().collect();
                weights.push(field_weight * probe_weight);
                rankings.push((of_field, *probe));
            }
        }
        Ok((rankings, weights))
    }

    /// The probes `mode` asks for (dense when there is a vector, keyword), each run under
    /// every filter and merged into one list of hits per probe, all of them at once.
    async fn probes(
        &self,
        mode: Mode,
        vector: Option<Vec<f32>>,
        keyword_query: &str,
        filters: &[&IndexFilter],
        limit: usize,
    ) -> Result<Vec<(Vec<Hit>, fusion::Probe)>, SearchError> {
        let dense = match (mode, vector) {
            (Mode::Dense | Mode::Hybrid, Some(v)) => Some(v),
            _ => None,
        };
        let run = |probe: Probe| self.search_each(probe, filters, limit);
        let keywords = (mode != Mode::Dense || dense.is_none()).then(|| Probe::Keywords(self.keywords.query(keyword_query)));
        let (d, kw) = tokio::join!(
            async { match dense { Some(v) => run(Probe::Dense(v)).await.map(Some), None => Ok(None) } },
            async { match keywords { Some(k) => run(k).await.map(Some), None => Ok(None) } },
        );
        let mut out = Vec::with_capacity(2);
        if let Some(d) = d? {
            out.push((fusion::merged(d), fusion::Probe::Dense));
        }
        if let Some(kw) = kw? {
            out.push((fusion::merged(kw), fusion::Probe::Keyword));
        }
        Ok(out)
    }

    /// One probe under each filter, joined (there are one or two: all incidents, and the
    /// alertname's own), the hits of each in order.
    async fn search_each(&self, probe: Probe, filters: &[&IndexFilter], limit: usize) -> Result<Vec<Vec<Hit>>, IndexError> {
        match filters {
            [f, g] => {
                let (a, b) = tokio::join!(self.index.search(probe.clone(), f, limit), self.index.search(probe, g, limit));
                Ok(vec![a?, b?])
            }
            _ => {
                let mut out = Vec::with_capacity(filters.len());
                for f in filters {
                    out.push(self.index.search(probe.clone(), f, limit).await?);
                }
                Ok(out)
            }
        }
    }

    /// The cause of an alert query, read against its alertname's template (learnt from
    /// the store; without it, when the store is down, nothing is template). `None` when
    /// the filter rules out incidents or the alert says nothing beyond its template.
    async fn alert_cause(&self, a: &Alert, filter: &IndexFilter) -> Option<AlertCause> {
        let alertname = a.labels.get("alertname")?.clone();
        if !(filter.kinds.is_empty() || filter.kinds.contains(&JobKind::Incident)) {
            return None;
        }
        let template = match crate::pipeline::indexer::points::template_for(self.store.as_ref(), &alertname, &a.fingerprint).await {
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
    /// while the database is away (hydration fills in the rest, and leaves the hit as it
    /// was when the store fails). `alertname`: the query alert's, when it is one.
    fn hit(&self, c: &Candidate, alertname: Option<&str>) -> SearchHit {
        let r = &c.ranked;
        let p = &r.best.payload;
        let matched = r.keyword_text.as_deref().unwrap_or(&p.text);
        let explain::Shared { terms, concepts, coverage } = explain::shared(&self.keywords, &self.glossary, &c.query, matched);
        SearchHit {
            score: r.score,
            relevance: relevance::relevance(r.dense, coverage),
            kind: r.kind,
            id: r.target_id,
            title: p.title.clone(),
            // Only a text chunk after the first starts mid-item; a cause or notes point is whole.
            snippet: snippet::snippet(&p.text, p.chunk > 0 && p.field == Field::Text),
            source: p.source.clone(),
            why: Why {
                field: c.field,
                same_alertname: alertname.filter(|_| r.kind == JobKind::Incident).map(|a| p.alertname.as_deref() == Some(a)),
                dense: r.dense,
                keyword: r.keyword,
                fused: r.score,
                terms,
                concepts,
            },
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
