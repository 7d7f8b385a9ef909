//! The gateway's HTTP API. Intake handlers answer 2xx only after the store committed the
//! item together with its embedding job; they never wait for a model.

pub mod alerts;
pub mod errors;
pub mod ingest;
pub mod probes;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

use crate::store::SqlStore;

/// Request limits of the API (each has a flag and `FIREBREAK_*` variable in the binary).
#[derive(Debug, Clone, Copy)]
pub struct ApiLimits {
    /// Largest request body (413 beyond).
    pub max_body_bytes: usize,
    /// Most documents in one ingest call (413 beyond): the client splits larger batches.
    pub max_documents_per_ingest: usize,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits { max_body_bytes: 4 * 1024 * 1024, max_documents_per_ingest: 256 }
    }
}

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub store: Arc<dyn SqlStore>,
    pub limits: ApiLimits,
}

/// All routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/alerts", post(alerts::receive))
        .route("/v1/ingest", post(ingest::receive))
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz))
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .with_state(state)
}
