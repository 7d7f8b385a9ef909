//! `GET /v1/incidents`, `GET /v1/incidents/{id}`, `POST /v1/incidents/{id}/notes`.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use firebreak_http::json_body;
use serde::{Deserialize, Serialize};

use super::errors::{invalid, note_error, store_error, ApiError};
use super::ApiState;
use crate::auth::Caller;
use firebreak_intake::time::parse_rfc3339_any;
use crate::pipeline::store::{IncidentQuery, IncidentSummary, Note};
use crate::query::incidents::IncidentDetail;

/// Filters of the incident list (`since` is RFC 3339; `cursor` is a page's `next_cursor`).
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    #[param(pattern = "^(firing|resolved)$", example = "firing")]
    status: Option<String>,
    #[param(example = "KubePodCrashLooping")]
    alertname: Option<String>,
    #[param(example = "mail")]
    namespace: Option<String>,
    #[param(format = DateTime, example = "2026-12-01T00:00:00Z")]
    since: Option<String>,
    #[param(minimum = 1, maximum = 500, default = 50, example = 20)]
    limit: Option<usize>,
    #[param(pattern = "^(-?[0-9]{1,18})?$")]
    cursor: Option<String>,
}

/// A page of incidents; pass `next_cursor` back as `cursor` for the next one.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Page {
    incidents: Vec<IncidentSummary>,
    next_cursor: Option<String>,
}

const MAX_PAGE: usize = 500;

fn bad_query(e: QueryRejection) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_query_string", e.body_text())
}

fn incident_id(p: Result<Path<i64>, PathRejection>) -> Result<i64, ApiError> {
    p.map(|Path(id)| id)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_incident_id", format!("incident ids are integers: {}", e.body_text())))
}

/// Lists occurrences, newest first.
///
/// Links: the first incident of the page, and a note on it.
#[utoipa::path(get, path = "/v1/incidents", tag = "query", operation_id = "listIncidents", params(ListParams),
    responses((status = 200, body = Page, links(
                  ("firstIncident" = (operation_id = "getIncident", parameters(("id" = "$response.body#/incidents/0/id")))),
                  ("noteOnFirstIncident" = (operation_id = "addNote", parameters(("id" = "$response.body#/incidents/0/id")))))),
              (status = 400, body = super::openapi::ErrorBody), (status = 422, body = super::openapi::ErrorBody)))]
pub async fn list(State(state): State<ApiState>, params: Result<Query<ListParams>, QueryRejection>) -> Result<Json<Page>, ApiError> {
    let Query(p) = params.map_err(bad_query)?;
    let limit = p.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE {
        return Err(invalid("bad_limit", format!("limit must be between 1 and {MAX_PAGE}")));
    }
    if let Some(s) = p.status.as_deref() {
        if s != "firing" && s != "resolved" {
            return Err(invalid("bad_status", format!("status must be firing or resolved, not {s:?}")));
        }
    }
    let since = match p.since.as_deref() {
        None => None,
        Some(s) => Some(parse_rfc3339_any(s).ok_or_else(|| invalid("bad_since", format!("since {s:?} is not an RFC 3339 time")))?),
    };
    let before_id = match p.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(c.parse::<i64>().map_err(|_| invalid("bad_cursor", format!("cursor {c:?} did not come from this API")))?),
    };
    let q = IncidentQuery { status: p.status, alertname: p.alertname, namespace: p.namespace, since, before_id, limit };
    let incidents = state.incidents.list(&q).await.map_err(store_error)?;
    let next_cursor = (incidents.len() == limit).then(|| incidents.last().map(|i| i.head.id.to_string())).flatten();
    Ok(Json(Page { incidents, next_cursor }))
}

/// One incident with its notes and the other occurrences of the same alert.
///
/// Links: a note on it.
#[utoipa::path(get, path = "/v1/incidents/{id}", tag = "query", operation_id = "getIncident", params(("id" = i64, Path, example = 1)),
    responses((status = 200, body = IncidentDetail, links(
                  ("addNote" = (operation_id = "addNote", parameters(("id" = "$response.body#/id")))))), (status = 400, body = super::openapi::ErrorBody), (status = 404, body = super::openapi::ErrorBody)))]
pub async fn get(
    State(state): State<ApiState>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<IncidentDetail>, ApiError> {
    let id = incident_id(id)?;
    let detail = state
        .incidents
        .get(id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no incident {id}")))?;
    Ok(Json(detail))
}

/// A note: typically what fixed it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteIn {
    #[schema(pattern = r"\S")]
    text: String,
    #[serde(default)]
    author: Option<String>,
}

/// Adds a note ("what fixed it"); the incident is re-embedded with it, so later searches
/// find the fix. 201 once stored with its job.
///
/// Links: the incident, read back with the note.
#[utoipa::path(post, path = "/v1/incidents/{id}/notes", tag = "query", operation_id = "addNote", params(("id" = i64, Path, example = 1)),
    request_body(content = NoteIn, example = json!({"text": "Raised postfix's memory limit to 512Mi and flushed the deferred queue; stable since.", "author": "oncall"})),
    responses((status = 201, body = Note, links(
                  ("readBack" = (operation_id = "getIncident", parameters(("id" = "$request.path.id")))))), (status = 404, body = super::openapi::ErrorBody), (status = 422, body = super::openapi::ErrorBody)))]
pub async fn add_note(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Note>), ApiError> {
    let id = incident_id(id)?;
    let n: NoteIn = json_body(body, state.limits.max_body_bytes, "{\"text\", \"author\"?}")?;
    let note = state.incidents.add_note(&caller, id, n.author.as_deref(), &n.text).await.map_err(note_error)?;
    Ok((StatusCode::CREATED, Json(note)))
}
