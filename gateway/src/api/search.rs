//! `POST /v1/search`: "have we seen this before, and what fixed it?"

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use firebreak_embedder::http::error::json_body;
use serde::Deserialize;

use super::errors::{invalid, search_error, ApiError};
use super::ApiState;
use crate::alertmanager::Alert;
use crate::auth::Caller;
use crate::clock::parse_rfc3339;
use crate::index::IndexFilter;
use crate::render;
use crate::search::{Mode, Query, SearchResponse};
use crate::store::JobKind;

/// A search: exactly one of `query` or `alert`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    alert: Option<Alert>,
    #[serde(default = "default_k")]
    k: usize,
    #[serde(default)]
    kinds: Option<Vec<JobKind>>,
    #[serde(default)]
    filter: FilterIn,
    #[serde(default)]
    mode: Mode,
}

/// Payload filters; `since` is RFC 3339.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterIn {
    source: Option<String>,
    namespace: Option<String>,
    alertname: Option<String>,
    /// RFC 3339.
    since: Option<String>,
}

fn default_k() -> usize {
    10
}

const SHAPE: &str = "{\"query\": string | \"alert\": <Alertmanager alert>, \"k\"?, \"kinds\"?: [\"incident\"|\"document\"], \
                     \"filter\"?: {\"source\"?, \"namespace\"?, \"alertname\"?, \"since\"?}, \"mode\"?: \"hybrid\"|\"dense\"|\"keyword\"}";

/// Validates the request, runs the search, answers with ranked, hydrated results.
#[utoipa::path(post, path = "/v1/search", tag = "query", request_body = SearchRequest,
    responses((status = 200, description = "Ranked results; `mode` says what ran, `degraded` whether the embedder was missing", body = SearchResponse),
              (status = 400, body = super::openapi::ErrorBody), (status = 413, body = super::openapi::ErrorBody),
              (status = 422, body = super::openapi::ErrorBody), (status = 503, body = super::openapi::ErrorBody)))]
pub async fn search(
    State(state): State<ApiState>,
    Caller(source): Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<SearchResponse>, ApiError> {
    let req: SearchRequest = json_body(body, state.limits.max_body_bytes, SHAPE)?;
    let text = match (req.query, req.alert) {
        (Some(q), None) => q,
        (None, Some(a)) => render::alert_query(&a),
        _ => return Err(invalid("bad_query", "give exactly one of \"query\" (text) or \"alert\" (an Alertmanager alert)")),
    };
    if text.trim().is_empty() {
        return Err(invalid("empty_query", "the query is empty"));
    }
    if text.len() > state.limits.max_query_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "query_too_large",
            format!("the query is {} bytes; the limit is {}", text.len(), state.limits.max_query_bytes),
        ));
    }
    if req.k == 0 || req.k > state.limits.max_search_k {
        return Err(invalid("bad_k", format!("k must be between 1 and {}", state.limits.max_search_k)));
    }
    let since = match req.filter.since.as_deref() {
        None => None,
        Some(s) => Some(parse_rfc3339(s).ok_or_else(|| invalid("bad_since", format!("since {s:?} is not an RFC 3339 time")))?),
    };
    let filter = IndexFilter {
        kinds: req.kinds.unwrap_or_default(),
        source: req.filter.source,
        namespace: req.filter.namespace,
        alertname: req.filter.alertname,
        since,
    };
    let q = Query { text, k: req.k, filter, mode: req.mode, source };
    let resp = state.searcher.search(&q).await.map_err(search_error)?;
    Ok(Json(resp))
}
