//! Load shedding at the door: at most `--max-concurrent-requests` API requests are in
//! flight (bodies being read, waiting on the store or the embedder). Beyond that, 503 with
//! `Retry-After` at once, before the body is read, so ten thousand simultaneous webhooks
//! cost ten thousand small refusals (that Alertmanager retries), not ten thousand 4 MiB
//! buffers. Probes and metrics are outside it: a saturated gateway still answers them.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::Semaphore;

use crate::api::errors::ApiError;
use crate::log_throttle::Throttle;

/// The permits and their metrics.
#[derive(Clone)]
pub struct Shed {
    permits: Arc<Semaphore>,
    limit: usize,
    in_flight: Gauge,
    shed: Counter,
    log: Arc<Throttle>,
}

impl Shed {
    pub fn new(limit: usize, registry: &mut Registry) -> Self {
        let limit = limit.max(1);
        let s = Shed { permits: Arc::new(Semaphore::new(limit)), limit, in_flight: Gauge::default(), shed: Counter::default(), log: Arc::new(Throttle::default()) };
        registry.register("firebreak_http_in_flight_requests", "API requests in flight", s.in_flight.clone());
        registry.register("firebreak_http_shed", "API requests refused because --max-concurrent-requests were in flight", s.shed.clone());
        s
    }
}

/// The middleware.
pub async fn limit(State(shed): State<Shed>, req: Request, next: Next) -> Response {
    let Ok(_permit) = shed.permits.clone().try_acquire_owned() else {
        shed.shed.inc();
        if let Some(more) = shed.log.due("shed") {
            tracing::warn!(limit = shed.limit, shed_since_last_line = more, "requests shed: --max-concurrent-requests in flight");
        }
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_requests_in_flight",
            format!("{} requests are already in flight", shed.limit),
        )
        .retry_after(Duration::from_secs(1))
        .into_response();
    };
    shed.in_flight.inc();
    let resp = next.run(req).await;
    shed.in_flight.dec();
    resp
}
