//! The engine's errors as HTTP errors. The error shape itself (`{"error", "detail"}`, its
//! status and `Retry-After`) is shared with the gateway, in `firebreak_http`.

use std::time::Duration;

use axum::http::StatusCode;
pub use firebreak_http::ApiError;

use crate::error::EmbedError;

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
