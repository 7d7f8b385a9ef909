//! Slow and hostile clients: a request body must arrive within `--body-read-timeout` (408 beyond) and
//! within `--max-body-bytes` (413 beyond), read here, before the handler runs.
//!
//! Without a deadline, a client trickling one byte a minute holds one of the
//! `--max-concurrent-requests` permits forever, and a handful of them lock everyone out
//! (slowloris). The JSON nesting limit is checked on the buffered bytes too. Header reads have their own deadline in [`crate::serve`].

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::LengthLimitError;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use crate::api::errors::{rejected, ApiError};
use crate::api::InputLimits;
use crate::log_throttle::Throttle;

/// The limits and the slow-client counter.
#[derive(Clone)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub read_timeout: Duration,
    /// Every body is JSON: its depth is checked here, before any parser recurses.
    pub input: InputLimits,
    slow: Counter,
    log: std::sync::Arc<Throttle>,
}

impl BodyLimits {
    pub fn new(max_bytes: usize, read_timeout: Duration, input: InputLimits, registry: &mut Registry) -> Self {
        let slow = Counter::default();
        registry.register(
            "firebreak_http_body_timeouts",
            "Requests whose body did not arrive within --body-read-timeout-ms (408)",
            slow.clone(),
        );
        BodyLimits { max_bytes, read_timeout, input, slow, log: Default::default() }
    }
}

fn too_large(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<LengthLimitError>() {
            return true;
        }
        cur = err.source();
    }
    false
}

impl BodyLimits {
    /// Reads a body under both limits and checks its nesting; the refusal, ready to send,
    /// otherwise. For middleware that must see the body before routing on it (`/mcp`);
    /// every other route gets it from [`read`].
    pub async fn buffer(&self, parts: &axum::http::request::Parts, body: Body) -> Result<axum::body::Bytes, Response> {
        match tokio::time::timeout(self.read_timeout, axum::body::to_bytes(body, self.max_bytes)).await {
            Ok(Ok(bytes)) => match self.input.check_depth(&bytes) {
                Ok(()) => Ok(bytes),
                Err(r) => Err(rejected(r).into_response()),
            },
            Ok(Err(e)) if too_large(&e) => Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("request body exceeds {} bytes", self.max_bytes),
            )
            .into_response()),
            Ok(Err(e)) => Err(ApiError::new(StatusCode::BAD_REQUEST, "body_unreadable", format!("reading the request body: {e}")).into_response()),
            Err(_) => {
                self.slow.inc();
                if let Some(more) = self.log.due("body") {
                    tracing::warn!(path = %parts.uri.path(), timeout = ?self.read_timeout, cut_since_last_line = more, "request body too slow: 408");
                }
                Err(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "body_timeout",
                    format!("the request body did not arrive within {} ms", self.read_timeout.as_millis()),
                )
                .into_response())
            }
        }
    }
}

/// The middleware: buffers the body under both limits, then hands it on.
pub async fn read(State(limits): State<BodyLimits>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    match limits.buffer(&parts, body).await {
        Ok(bytes) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Err(refusal) => refusal,
    }
}
