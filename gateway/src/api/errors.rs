//! Store failures as HTTP answers. A database that cannot be reached is a 503 with
//! `Retry-After`: Alertmanager and the ingest client retry 5xx, so nothing is lost while
//! it is down, and the answer comes at once instead of after a hung request.

use std::time::Duration;

use axum::http::StatusCode;
pub use firebreak_embedder::http::error::ApiError;

use crate::store::StoreError;

/// Maps a store error to the answer a client can act on.
pub fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Unavailable(d) => {
            tracing::warn!(error = %d, "store unavailable: answering 503");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", d).retry_after(Duration::from_secs(5))
        }
        StoreError::Invalid(d) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", d),
        StoreError::NotFound(d) => ApiError::new(StatusCode::NOT_FOUND, "not_found", d),
        StoreError::Database(d) => {
            tracing::error!(error = %d, "store error");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store_error", d)
        }
    }
}
