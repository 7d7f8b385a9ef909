//! Errors as the project answers them everywhere: `{"error": code, "detail": text}` with
//! the status that tells a client what to do (fix the request, slow down, retry later).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{header::RETRY_AFTER, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::EmbedError;

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

impl From<EmbedError> for ApiError {
    fn from(e: EmbedError) -> Self {
        let detail = e.to_string();
        match e {
            EmbedError::EmptyInput { .. } => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "empty_input", detail),
            EmbedError::InputTooLarge { .. } => Self::new(StatusCode::PAYLOAD_TOO_LARGE, "input_too_large", detail),
            EmbedError::Overloaded { retry_after, .. } => ApiError {
                retry_after: Some(retry_after),
                ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", detail)
            },
            EmbedError::ShuttingDown => ApiError {
                retry_after: Some(Duration::from_secs(1)),
                ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", detail)
            },
            EmbedError::Tokenizer(_) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "tokenizer", detail),
            _ => Self::internal(detail),
        }
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

/// Reads a JSON request body into `T`: 413 when the body exceeded the route's limit, 400
/// with serde's message (which names the field and position) when it is not valid `T`.
/// Handlers take `Result<Bytes, BytesRejection>` and call this, so every failure is a
/// JSON error instead of axum's plain-text rejection. `expected` describes the shape.
pub fn json_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>, limit: usize, expected: &str) -> Result<T, ApiError> {
    json_body_with_raw(body, limit, expected).map(|(v, _)| v)
}

/// As [`json_body`], also handing back the bytes, for callers that keep the payload as
/// received (the gateway's append-only alert events).
pub fn json_body_with_raw<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
    expected: &str,
) -> Result<(T, Bytes), ApiError> {
    let body = body.map_err(|e| {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", format!("{e} (limit {limit} bytes)"))
    })?;
    let value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", format!("expected {expected}: {e}")))?;
    Ok((value, body))
}
