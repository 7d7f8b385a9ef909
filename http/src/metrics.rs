//! The `/metrics` endpoint's body.

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use prometheus_client::registry::Registry;

use crate::ApiError;

/// A registry in the OpenMetrics text format.
pub fn render_metrics(registry: &Registry) -> axum::response::Response {
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, registry) {
        return ApiError::internal(format!("metrics encoding: {e}")).into_response();
    }
    ([(CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], out).into_response()
}
