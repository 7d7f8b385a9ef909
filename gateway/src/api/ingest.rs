//! `POST /v1/ingest`: documents from the ingest CronJob, stored idempotently.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use firebreak_embedder::http::error::json_body;
use serde::Deserialize;

use super::errors::{store_error, ApiError};
use super::ApiState;
use crate::clock::{now_millis, parse_rfc3339};
use crate::store::{IngestOutcome, NewDocument};

/// A batch of documents from the ingest client.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct IngestRequest {
    source: String,
    run_id: String,
    documents: Vec<DocumentIn>,
}

/// One document; `updated_at` is RFC 3339.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct DocumentIn {
    id: String,
    text: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
    #[serde(default)]
    updated_at: Option<String>,
}

fn invalid(detail: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_document", detail)
}

/// Validates and stores one batch; 202 once committed (embedding follows later).
#[utoipa::path(post, path = "/v1/ingest", tag = "intake", request_body = IngestRequest,
    responses((status = 202, description = "Stored; embedding follows", body = IngestOutcome),
              (status = 400, body = super::openapi::ErrorBody), (status = 413, body = super::openapi::ErrorBody),
              (status = 422, body = super::openapi::ErrorBody), (status = 503, body = super::openapi::ErrorBody)))]
pub async fn receive(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<IngestOutcome>), ApiError> {
    let req: IngestRequest = json_body(
        body,
        state.limits.max_body_bytes,
        "{\"source\", \"run_id\", \"documents\": [{\"id\", \"text\", \"title\"?, \"metadata\"?, \"updated_at\"?}]}",
    )?;
    if req.source.trim().is_empty() || req.run_id.trim().is_empty() {
        return Err(invalid("source and run_id must not be empty".into()));
    }
    if req.documents.len() > state.limits.max_documents_per_ingest {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_documents",
            format!("{} documents; send at most {} per call", req.documents.len(), state.limits.max_documents_per_ingest),
        ));
    }
    let docs = req
        .documents
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            if d.id.trim().is_empty() {
                return Err(invalid(format!("document {i}: empty id")));
            }
            if d.text.trim().is_empty() {
                return Err(invalid(format!("document {i} ({}): empty text", d.id)));
            }
            let metadata = d.metadata.unwrap_or_else(|| serde_json::json!({}));
            if !metadata.is_object() {
                return Err(invalid(format!("document {i} ({}): metadata must be a JSON object", d.id)));
            }
            let updated_at = match d.updated_at.as_deref() {
                None => None,
                Some(s) => Some(
                    parse_rfc3339(s).ok_or_else(|| invalid(format!("document {i} ({}): updated_at {s:?} is not RFC 3339", d.id)))?,
                ),
            };
            Ok(NewDocument { external_id: d.id, title: d.title, text: d.text, metadata, updated_at })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let outcome = state.store.ingest(&req.source, &req.run_id, &docs, now_millis()).await.map_err(store_error)?;
    state.wake.notify_one();
    tracing::info!(
        source = %req.source, run_id = %req.run_id, accepted = outcome.accepted,
        unchanged = outcome.unchanged, "documents stored"
    );
    Ok((StatusCode::ACCEPTED, Json(outcome)))
}
