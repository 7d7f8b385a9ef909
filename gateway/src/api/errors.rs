//! Failures as HTTP answers. A dependency that cannot be reached is a 503 with
//! `Retry-After`: Alertmanager and the ingest client retry 5xx, so nothing is lost while
//! it is down, and the answer comes at once instead of after a hung request.

use std::time::Duration;

use axum::http::StatusCode;
pub use firebreak_http::ApiError;
use firebreak_intake::Rejection;

use crate::pipeline::embedding::EmbedFailure;
use crate::pipeline::index::IndexError;
use crate::query::incidents::NoteError;
use crate::query::search::SearchError;
use crate::pipeline::store::StoreError;

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

/// Maps an index error: the index down is retryable, a broken one is not.
pub fn index_error(e: IndexError) -> ApiError {
    match e {
        IndexError::Unavailable(d) => {
            tracing::warn!(error = %d, "vector index unavailable: answering 503");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "index_unavailable", d).retry_after(Duration::from_secs(5))
        }
        other => {
            tracing::error!(error = %other, "vector index error");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "index_error", other.to_string())
        }
    }
}

/// Maps a refused note: empty text is the caller's to fix.
pub fn note_error(e: NoteError) -> ApiError {
    match e {
        NoteError::Empty => invalid("empty_note", e.to_string()),
        NoteError::Store(e) => store_error(e),
    }
}

pub fn search_error(e: SearchError) -> ApiError {
    match e {
        SearchError::Index(e) => index_error(e),
        SearchError::Store(e) => store_error(e),
    }
}

/// Maps an embedding failure (for `/v1/embeddings`).
pub fn embed_error(e: EmbedFailure) -> ApiError {
    match e {
        EmbedFailure::Input(d) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", d),
        EmbedFailure::Overloaded { retry_after } => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "the interactive embedding queue is full")
                .retry_after(retry_after)
        }
        EmbedFailure::OverBudget { scope, unit, retry_after } => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "embedding_budget_spent",
            format!("the embedding budget of {scope} ({unit} per minute) is spent"),
        )
        .retry_after(retry_after),
        EmbedFailure::Paused { reason, retry_after } => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "embedding_paused", reason).retry_after(retry_after)
        }
        EmbedFailure::Unavailable(d) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "embedder_unavailable", d).retry_after(Duration::from_secs(5))
        }
    }
}

/// Unknown paths get the same JSON error shape as everything else.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no route for {}", uri.path()))
}

/// A refusal of the request's content as its JSON error answer.
pub fn rejected(r: Rejection) -> ApiError {
    let status = StatusCode::from_u16(r.status.code()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    ApiError::new(status, r.error, r.detail)
}

/// A 422 for a request that parsed but makes no sense.
pub fn invalid(code: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
}
