//! `firebreak-embedder serve`: the engine behind an OpenAI-compatible HTTP API, so the
//! gateway (or anything that speaks `/v1/embeddings`) can use it across the network,
//! e.g. on the GPU node.

pub mod error;
pub mod openai;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use prometheus_client::registry::Registry;

use crate::engine::Embedder;

/// Limits of the HTTP front, each with a flag and env var in the binary.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Largest request body (413 beyond).
    pub max_request_bytes: usize,
    /// Most inputs in one request (422 beyond); OpenAI's own limit is 2048.
    pub max_inputs: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits { max_request_bytes: 4 * 1024 * 1024, max_inputs: 2048 }
    }
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    pub embedder: Embedder,
    pub registry: Arc<Registry>,
    pub limits: HttpLimits,
}

/// The service's routes: `POST /v1/embeddings`, `GET /healthz`, `GET /metrics`.
pub fn router(state: AppState) -> Router {
    let body_limit = state.limits.max_request_bytes;
    Router::new()
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// Liveness only: the process answers. It deliberately does not run the model, so a busy
/// embedder is never restarted for being busy.
async fn healthz() -> &'static str {
    "ok\n"
}

async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> impl IntoResponse {
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &state.registry) {
        return error::ApiError::internal(format!("metrics encoding: {e}")).into_response();
    }
    ([(CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], out).into_response()
}
