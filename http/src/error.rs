//! Errors as the project answers them everywhere: `{"error": code, "detail": text}` with
//! the status that tells a client what to do (fix the request, slow down, retry later).

use std::time::Duration;

use axum::http::{header, header::RETRY_AFTER, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub retry_after: Option<Duration>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    detail: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError { status, code, detail: detail.into(), retry_after: None }
    }

    /// Adds a `Retry-After`.
    pub fn retry_after(self, after: Duration) -> Self {
        ApiError { retry_after: Some(after), ..self }
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(Body { error: self.code, detail: &self.detail })).into_response();
        if let Some(after) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&after.as_secs().max(1).to_string()) {
                resp.headers_mut().insert(RETRY_AFTER, v);
            }
        }
        resp
    }
}

/// Gives an error answer of the shape above another shape, keeping its status and headers
/// (`Retry-After`, the rate-limit headers, `WWW-Authenticate`): for routes whose clients
/// expect their protocol's errors (OpenAI's, JSON-RPC's) from the guards in front of them
/// too, which answer in the project's shape. `reshape(status, code, detail)` is the new
/// body; successes, and bodies not of this shape, pass unchanged.
pub async fn reshape_error(resp: Response, reshape: impl FnOnce(StatusCode, &str, &str) -> serde_json::Value) -> Response {
    let json = resp.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if resp.status().is_success() || !json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    // Our error bodies are a code and a sentence; anything longer is not one of ours.
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return Response::from_parts(parts, axum::body::Body::empty());
    };
    let ours: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    let Some(code) = ours["error"].as_str() else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    let detail = ours["detail"].as_str().unwrap_or(code);
    let body = reshape(parts.status, code, detail).to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}
