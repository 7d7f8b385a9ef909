//! `firebreak-embedder serve`: the engine behind an OpenAI-compatible HTTP API, so the
//! gateway (or anything that speaks `/v1/embeddings`) can use it across the network,
//! e.g. on the GPU node.

pub mod chat;
pub mod error;
pub mod openai;
pub mod openapi;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use firebreak_http::Red;
use prometheus_client::registry::Registry;
use tokio::sync::Semaphore;

use crate::chat::ChatEngine;
use crate::engine::Embedder;

/// Limits of the HTTP front, each with a flag and env var in the binary.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Largest request body (413 beyond).
    pub max_request_bytes: usize,
    /// Most inputs in one request (422 beyond); OpenAI's own limit is 2048.
    pub max_inputs: usize,
    /// Most embedding requests in flight (bodies being read, waiting or embedding);
    /// beyond it, 503 at once. With the body limit this bounds request memory.
    pub max_concurrent_requests: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits { max_request_bytes: 4 * 1024 * 1024, max_inputs: 2048, max_concurrent_requests: 32 }
    }
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    pub embedder: Embedder,
    /// The chat model, when one was loaded (`--chat-model`).
    pub chat: Option<ChatEngine>,
    pub registry: Arc<Registry>,
    pub limits: HttpLimits,
    in_flight: Arc<Semaphore>,
    red: Red,
}

impl AppState {
    /// The service's state; registers the request metrics and build info in `registry`
    /// (the engine's metrics are already in it).
    pub fn new(embedder: Embedder, chat: Option<ChatEngine>, mut registry: Registry, limits: HttpLimits) -> Self {
        let in_flight = Arc::new(Semaphore::new(limits.max_concurrent_requests.max(1)));
        let red = Red::new(&mut registry);
        firebreak_http::build::register(&mut registry, env!("CARGO_PKG_VERSION"));
        AppState { embedder, chat, registry: Arc::new(registry), limits, in_flight, red }
    }

    /// Counts a refusal made by the HTTP layer (the engine counts its own).
    pub(crate) fn refuse(&self, e: error::ApiError) -> error::ApiError {
        self.embedder.metrics().reject(e.code);
        e
    }
}

/// The service's routes: `POST /v1/embeddings`, `POST /v1/chat/completions` and
/// `GET /v1/models` (with a chat model), `GET /healthz`, `GET /metrics`, `GET
/// /openapi.json` (the API as OpenAPI 3.1, [`openapi`]), each counted in
/// the RED request metrics (`firebreak_http::red`). A chat request needs no in-flight
/// limit of its own: the chat model's bounded queue refuses what it cannot take.
pub fn router(state: AppState) -> Router {
    let body_limit = state.limits.max_request_bytes;
    let embeddings = post(openai::embeddings).layer(middleware::from_fn_with_state(state.clone(), limit_in_flight));
    Router::new()
        .route("/v1/embeddings", embeddings)
        .route("/v1/chat/completions", post(chat::completions))
        .route("/v1/models", get(chat::models))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", firebreak_http::openapi::route(&openapi::document(&state)))
        .layer(DefaultBodyLimit::max(body_limit))
        // Outermost: a request shed by the in-flight limit is counted too.
        .layer(middleware::from_fn_with_state(state.red.clone(), firebreak_http::red::record))
        .with_state(state)
}

/// Sheds embedding requests beyond the in-flight limit before their bodies are read.
/// Probes and metrics are not behind it: a saturated service still answers them.
async fn limit_in_flight(State(state): State<AppState>, req: Request, next: Next) -> axum::response::Response {
    let Ok(_permit) = state.in_flight.clone().try_acquire_owned() else {
        let e = error::ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "too_many_requests_in_flight",
            format!("{} embedding requests are already in flight", state.limits.max_concurrent_requests),
        );
        return state.refuse(e.retry_after(std::time::Duration::from_secs(1))).into_response();
    };
    next.run(req).await
}

/// Liveness only: the process answers. It deliberately does not run the model, so a busy
/// embedder is never restarted for being busy.
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "healthz", responses((status = 200, description = "The process answers", body = String)))]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Prometheus metrics (the engine's, the chat model's, the requests').
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "metrics",
    responses((status = 200, description = "Prometheus metrics: OpenMetrics 1.0 text", body = String, content_type = "application/openmetrics-text")))]
pub async fn metrics(State(state): State<AppState>) -> axum::response::Response {
    firebreak_http::render_metrics(&state.registry)
}
