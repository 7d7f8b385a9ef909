//! The gateway's HTTP API. Intake handlers answer 2xx only after the store committed the
//! item together with its embedding job; they never wait for a model. Query handlers use
//! the embedder only as the interactive class of the scheduler, with a deadline.

pub mod alerts;
pub mod chat;
pub mod contract;
pub mod embeddings;
pub mod errors;
pub mod incidents;
pub mod ingest;
pub mod mcp;
pub mod metrics;
pub mod openapi;
pub mod probes;
pub mod search;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use prometheus_client::registry::Registry;
use tokio::sync::Notify;

use crate::guards::admission::Admission;
use crate::auth::{require, AuthState, Scope};
pub use crate::guards::body::BodyLimits;
pub use firebreak_intake::shape::InputLimits;
pub use metrics::ApiMetrics;
pub use crate::guards::rate::{Rate, RateLimits, RouteClass, Rates};

use crate::pipeline::index::VectorIndex;
use crate::pipeline::scheduler::Scheduler;
use crate::query::answer::Answerer;
use crate::query::search::Searcher;
use crate::guards::self_alerts::SelfAlerts;
use crate::guards::storm::Storm;
use crate::guards::breaker::Breaker;
use crate::guards::pressure::Pressure;
use crate::pipeline::store::SqlStore;

/// Request limits of the API (each has a flag and `FIREBREAK_*` variable in the binary).
#[derive(Debug, Clone, Copy)]
pub struct ApiLimits {
    /// Largest request body (413 beyond).
    pub max_body_bytes: usize,
    /// Most documents in one ingest call (413 beyond): the client splits larger batches.
    pub max_documents_per_ingest: usize,
    /// Most results one search may ask for (422 beyond).
    pub max_search_k: usize,
    /// Largest search query in bytes (413 beyond): a query is a question, not a document.
    pub max_query_chars: usize,
    /// Most inputs in one `/v1/embeddings` call (422 beyond).
    pub max_embedding_inputs: usize,
    /// API requests in flight at once (503 beyond, before the body is read).
    pub max_concurrent_requests: usize,
    /// Time a client has to send its request body (408 beyond).
    pub body_read_timeout: Duration,
    /// Content shape limits (depth, alerts, labels).
    pub input: InputLimits,
    /// Request rates per source and route class.
    pub rates: RateLimits,
    /// An ingest run (`run_id`) older than this is refused with 409.
    pub ingest_run_max_age: Duration,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            max_body_bytes: 4 * 1024 * 1024,
            max_documents_per_ingest: 256,
            max_search_k: 50,
            max_query_chars: 8 * 1024,
            max_embedding_inputs: 64,
            max_concurrent_requests: 64,
            body_read_timeout: Duration::from_secs(10),
            input: InputLimits::default(),
            rates: RateLimits::default(),
            ingest_run_max_age: Duration::from_secs(3600),
        }
    }
}

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub store: Arc<dyn SqlStore>,
    pub index: Arc<dyn VectorIndex>,
    pub scheduler: Scheduler,
    pub searcher: Arc<Searcher>,
    /// Answers (`/v1/chat/completions`), built on the searcher.
    pub answerer: Arc<Answerer>,
    /// Incidents by id and their notes, for the REST routes and the MCP tools.
    pub incidents: Arc<crate::query::incidents::Incidents>,
    /// `/v1/status` and the MCP `status` tool.
    pub status: Arc<crate::query::status::StatusReport>,
    /// `/mcp`: its settings and per-tool metrics.
    pub mcp: McpState,
    pub registry: Arc<Registry>,
    /// Rung after an intake commit so the outbox worker picks the job up at once.
    pub wake: Arc<Notify>,
    pub auth: AuthState,
    pub shed: crate::guards::shed::Shed,
    pub rates: Rates,
    pub body: BodyLimits,
    pub admission: Admission,
    pub metrics: ApiMetrics,
    /// Requests by route, method and status, and their durations.
    pub red: firebreak_http::Red,
    pub self_alerts: Arc<SelfAlerts>,
    pub storm: Storm,
    /// The dependencies' breakers and the pressure guard, for `/v1/status`.
    pub breakers: Vec<Breaker>,
    pub pressure: Pressure,
    pub limits: ApiLimits,
}

/// What `/mcp` needs beyond the shared state.
#[derive(Clone)]
pub struct McpState {
    pub settings: mcp::McpSettings,
    pub metrics: mcp::ToolMetrics,
}

/// The MCP endpoint with its guards: shed first, then the per-tool guard (mcp/guard.rs).
fn mcp_route(state: &ApiState) -> MethodRouter<ApiState> {
    let tools = mcp::Tools {
        searcher: state.searcher.clone(),
        answerer: state.answerer.clone(),
        incidents: state.incidents.clone(),
        status: state.status.clone(),
        limits: firebreak_intake::search::SearchLimits { max_k: state.limits.max_search_k, max_query_chars: state.limits.max_query_chars },
        metrics: state.mcp.metrics.clone(),
    };
    let guard = mcp::McpGuard {
        auth: state.auth.clone(),
        rates: state.rates.clone(),
        body: state.body.clone(),
        metrics: state.mcp.metrics.clone(),
        allowed_origins: Arc::new(state.mcp.settings.allowed_origins.clone()),
    };
    let service = mcp::service(tools, &state.mcp.settings, state.auth.open(), state.limits.max_body_bytes);
    axum::routing::any_service(service)
        .layer(from_fn_with_state(guard, mcp::guard::guard))
        .layer(from_fn_with_state(state.shed.clone(), crate::guards::shed::limit))
}

/// All routes. Each API route carries the scope it needs (auth/layer.rs); probes,
/// metrics and the OpenAPI document are open, so kubelet and Prometheus need no token
/// and answer even when every API guard is refusing.
pub fn router(state: ApiState) -> Router {
    // Outermost first: shed before anything is spent, authenticate, charge the source's
    // rate, then read the body under its deadline and size limit.
    let guarded = |route: MethodRouter<ApiState>, scope: Scope, class: RouteClass| {
        route
            .layer(from_fn_with_state(state.body.clone(), crate::guards::body::read))
            .layer(from_fn_with_state(state.rates.route(class), crate::guards::rate::limit))
            .layer(from_fn_with_state((state.auth.clone(), scope), require))
            .layer(from_fn_with_state(state.shed.clone(), crate::guards::shed::limit))
    };
    use RouteClass::{Alerts, Answers, Embeddings, Ingest, Notes, Query};
    // The OpenAI-compatible routes answer every error in OpenAI's shape, their guards'
    // refusals included (chat.rs).
    let openai = |route: MethodRouter<ApiState>, class: RouteClass| guarded(route, Scope::Answers, class).layer(axum::middleware::from_fn(chat::openai_errors));
    Router::new()
        .route("/v1/alerts", guarded(post(alerts::receive), Scope::AlertsWrite, Alerts))
        .route("/v1/ingest", guarded(post(ingest::receive), Scope::IngestWrite, Ingest))
        .route("/v1/search", guarded(post(search::search), Scope::SearchRead, Query))
        .route("/v1/incidents", guarded(get(incidents::list), Scope::SearchRead, Query))
        .route("/v1/incidents/{id}", guarded(get(incidents::get), Scope::SearchRead, Query))
        .route("/v1/incidents/{id}/notes", guarded(post(incidents::add_note), Scope::NotesWrite, Notes))
        .route("/v1/embeddings", guarded(post(embeddings::embeddings), Scope::Embeddings, Embeddings))
        .route("/v1/status", guarded(get(status::status), Scope::SearchRead, Query))
        .route("/v1/chat/completions", openai(post(chat::completions), Answers))
        .route("/v1/models", openai(get(chat::models), Answers))
        .route("/mcp", mcp_route(&state))
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", firebreak_http::openapi::route(&openapi::document(&state)))
        .fallback(errors::not_found)
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        // Outermost of all: every answer is counted, a shed or refused request included.
        .layer(from_fn_with_state(state.red.clone(), firebreak_http::red::record))
        .with_state(state)
}
