//! `POST /v1/ingest`: documents from the ingest CronJob, stored idempotently.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use firebreak_http::json_body;
use firebreak_intake::ingest::{IngestBatch, IngestRequest, SHAPE};

use super::errors::{rejected, store_error, ApiError};
use super::ApiState;
use crate::guards::admission::Refusal;
use crate::auth::Caller;
use crate::clock::{now_millis, Millis};
use crate::pipeline::store::IngestOutcome;

/// Validates and stores one batch; 202 once committed (embedding follows later).
///
/// Links: a search of the collection just stored.
#[utoipa::path(post, path = "/v1/ingest", tag = "intake", operation_id = "ingestDocuments",
    request_body(content = IngestRequest, description = "A batch of one ingest run; the same `id` with the same text again is `unchanged`", example = json!({
        "source": "runbooks", "run_id": "runbooks-2026-12-07T03:00:00Z",
        "documents": [{
            "id": "mail/postfix-oomkilled", "title": "Postfix OOMKilled",
            "text": "postfix-0 restarts with OOMKilled when the queue grows past 2 GiB. Fix: raise the container's memory limit to 512Mi and flush the deferred queue (postqueue -f).",
            "metadata": {"path": "runbooks/mail.md"}, "updated_at": "2026-11-30T10:00:00Z"
        }]
    })),
    responses((status = 202, description = "Stored; embedding follows", body = IngestOutcome, links(
                  ("searchThisCollection" = (operation_id = "search", description = "Search the documents of the collection just stored",
                      request_body = json!({"kinds": ["document"], "filter": {"source": "$request.body#/source"}}))))),
              (status = 400, body = super::openapi::ErrorBody), (status = 409, description = "The run is older than --ingest-run-max-age", body = super::openapi::ErrorBody),
              (status = 413, body = super::openapi::ErrorBody), (status = 422, body = super::openapi::ErrorBody),
              (status = 429, description = "Rate limit or bulk backlog full; see Retry-After", body = super::openapi::ErrorBody),
              (status = 503, body = super::openapi::ErrorBody)))]
pub async fn receive(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<IngestOutcome>), ApiError> {
    // Before parsing: a full backlog or a spent budget makes every call cheap to refuse.
    // The log line names the caller (whose budget it is) and the collection the body names.
    let collection = || body.as_ref().ok().and_then(|b| firebreak_intake::ingest::peek_source(b));
    if let Err((refusal, wait)) = state.admission.admit_ingest_naming(&caller, collection) {
        let e = match refusal {
            Refusal::Backlog => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "bulk_backlog_full",
                format!(
                    "{} or more documents are waiting to be embedded; send again after Retry-After",
                    state.admission.max_bulk_backlog()
                ),
            ),
            Refusal::Pressure(reason) => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "node_under_pressure",
                format!("bulk embedding is paused: {reason}; send again after Retry-After"),
            ),
            Refusal::Budget(o) => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "embedding_budget_spent",
                format!("the embedding budget of {} ({} per minute) is spent; send again after Retry-After", o.scope, o.unit),
            ),
        };
        return Err(e.retry_after(wait));
    }
    let req: IngestRequest = json_body(body, state.limits.max_body_bytes, SHAPE)?;
    let IngestBatch { source, run_id, documents } = req.validate(state.limits.max_documents_per_ingest).map_err(rejected)?;
    let now = now_millis();
    check_run_age(&state, &source, &run_id, now).await?;
    let outcome = state.store.ingest(&caller, &source, &run_id, &documents, now).await.map_err(store_error)?;
    state.admission.admitted(outcome.queued);
    state.wake.notify_one();
    tracing::info!(
        %caller, %source, %run_id, accepted = outcome.accepted,
        unchanged = outcome.unchanged, "documents stored"
    );
    Ok((StatusCode::ACCEPTED, Json(outcome)))
}

/// The ingest run deadline: a run older than `--ingest-run-max-age` is refused with 409,
/// so a CronJob that would run for 27 hours stops at the first hour, loudly. The age is
/// exported per source whether or not it is refused, for an alert rule.
async fn check_run_age(state: &ApiState, source: &str, run_id: &str, now: Millis) -> Result<(), ApiError> {
    let started = state.store.ingest_run(run_id).await.map_err(store_error)?.map(|r| r.started_at).unwrap_or(now);
    let age_ms = (now - started).max(0);
    state.metrics.ingest_run_age(source, age_ms / 1000);
    let max = state.limits.ingest_run_max_age;
    if age_ms as u128 > max.as_millis() {
        tracing::warn!(%source, %run_id, age_s = age_ms / 1000, max_s = max.as_secs(), "ingest run past its deadline: 409");
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "ingest_run_expired",
            format!(
                "run {run_id:?} started {} s ago; a run may last {} s (--ingest-run-max-age). Finish this run and let the next one resume",
                age_ms / 1000,
                max.as_secs()
            ),
        ));
    }
    Ok(())
}
