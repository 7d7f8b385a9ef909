//! Request bodies read as JSON, every failure answered as an [`ApiError`] instead of
//! axum's plain-text rejection.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// Reads a JSON request body into `T`: 413 when the body exceeded the route's limit, 400
/// with serde's message (which names the field and position) when it is not valid `T`.
/// Handlers take `Result<Bytes, BytesRejection>` and call this. `expected` describes the
/// shape.
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
