//! `GET /v1/status`: the status report (crate::query::status) over HTTP.

use axum::extract::State;
use axum::Json;
use serde_json::Value;

use super::ApiState;

#[utoipa::path(get, path = "/v1/status", tag = "operations", operation_id = "getStatus", responses((status = 200, description = "Queues, backlog and dependencies", body = Object)))]
pub async fn status(State(state): State<ApiState>) -> Json<Value> {
    Json(state.status.report().await)
}
