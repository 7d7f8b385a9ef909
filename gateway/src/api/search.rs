//! `POST /v1/search`: "have we seen this before, and what fixed it?"

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::Json;
use firebreak_http::json_body;
use firebreak_intake::search::{SearchInput, SearchLimits, SearchRequest, SHAPE};

use super::errors::{rejected, search_error, ApiError};
use super::ApiState;
use crate::auth::Caller;
use crate::query::search::{Query, SearchResponse};

/// Validates the request, runs the search, answers with ranked, hydrated results.
///
/// Links: the first result's incident, and a note on it.
#[utoipa::path(post, path = "/v1/search", tag = "query", operation_id = "search",
    request_body(content = SearchRequest, description = "Exactly one of `query` (words) and `alert` (an Alertmanager alert, read as its labels and annotations)", examples(
        ("query" = (summary = "In words", value = json!({"query": "postfix OOMKilled after the mail queue grew", "k": 5}))),
        ("alert" = (summary = "An alert as Alertmanager sends it", value = json!({
            "alert": {"status": "firing", "labels": {"alertname": "KubePodCrashLooping", "namespace": "mail", "pod": "postfix-0"},
                      "annotations": {"summary": "Pod mail/postfix-0 is crash looping"}, "startsAt": "2026-12-07T03:12:00Z", "fingerprint": "3f0a1b2c4d5e6f70"},
            "k": 5, "kinds": ["incident", "document"], "mode": "hybrid"})))
    )),
    responses((status = 200, description = "Ranked results; `mode` says what ran, `degraded` whether the embedder was missing", body = SearchResponse, links(
                  ("firstIncident" = (operation_id = "getIncident", description = "The first result, when it is an incident: its notes and history",
                      parameters(("id" = "$response.body#/results/0/incident/id")))),
                  ("noteOnFirstIncident" = (operation_id = "addNote", description = "Say what fixed the first result's incident",
                      parameters(("id" = "$response.body#/results/0/incident/id")))))),
              (status = 400, body = super::openapi::ErrorBody), (status = 413, body = super::openapi::ErrorBody),
              (status = 422, body = super::openapi::ErrorBody), (status = 503, body = super::openapi::ErrorBody)))]
pub async fn search(
    State(state): State<ApiState>,
    Caller(source): Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<SearchResponse>, ApiError> {
    let req: SearchRequest = json_body(body, state.limits.max_body_bytes, SHAPE)?;
    let limits = SearchLimits { max_k: state.limits.max_search_k, max_query_chars: state.limits.max_query_chars };
    let SearchInput { text, alert, k, filter, mode } = req.validate(limits).map_err(rejected)?;
    let q = Query { text, alert, k, filter, mode, source };
    let resp = state.searcher.search(&q).await.map_err(search_error)?;
    Ok(Json(resp))
}
