//! Probes. Liveness never touches a dependency (a slow database must not get the gateway
//! restarted, which is how crash loops start); readiness is the SQL store, because
//! without it nothing can be accepted.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::errors::{store_error, ApiError};
use super::ApiState;
use crate::pipeline::store::StoreError;

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "healthz", responses((status = 200, description = "The process answers", body = String)))]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: the SQL store answers.
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "readyz", responses((status = 200, body = Object), (status = 503, body = super::openapi::ErrorBody)))]
pub async fn readyz(State(state): State<ApiState>) -> Result<Json<serde_json::Value>, ApiError> {
    match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => Ok(Json(serde_json::json!({"ready": true}))),
        Ok(Err(e)) => Err(store_error(e)),
        Err(_) => Err(store_error(StoreError::Unavailable("no answer within 2 s".into()))),
    }
    .map_err(|e| ApiError { status: StatusCode::SERVICE_UNAVAILABLE, ..e })
}
