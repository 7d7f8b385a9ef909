//! `POST /v1/alerts`: the Alertmanager webhook receiver.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::Json;
use firebreak_embedder::http::error::json_body_with_raw;

use super::errors::{store_error, ApiError};
use super::ApiState;
use crate::alertmanager::Webhook;
use crate::clock::now_millis;
use crate::store::WebhookOutcome;

/// Stores the notification and answers with what it did. The 200 comes after the commit.
#[utoipa::path(post, path = "/v1/alerts", tag = "intake", request_body = Webhook,
    responses((status = 200, description = "Stored", body = WebhookOutcome),
              (status = 400, body = super::openapi::ErrorBody), (status = 413, body = super::openapi::ErrorBody),
              (status = 422, body = super::openapi::ErrorBody), (status = 503, body = super::openapi::ErrorBody)))]
pub async fn receive(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<WebhookOutcome>, ApiError> {
    let (hook, raw): (Webhook, Bytes) =
        json_body_with_raw(body, state.limits.max_body_bytes, "an Alertmanager webhook payload (version 4)")?;
    let raw = String::from_utf8_lossy(&raw);
    let outcome = state.store.record_webhook(&hook, &raw, now_millis()).await.map_err(store_error)?;
    state.wake.notify_one();
    tracing::info!(
        receiver = %hook.receiver, alerts = outcome.alerts, new = outcome.new,
        repeated = outcome.repeated, resolved = outcome.resolved, "alerts stored"
    );
    Ok(Json(outcome))
}
