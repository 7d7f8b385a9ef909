//! `POST /v1/embeddings`: OpenAI-compatible, always scheduled as interactive, so agents
//! can embed through the gateway without bypassing its budget.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::Json;
use firebreak_embedder::http::openai::{parse, respond, Response};

use super::errors::{embed_error, ApiError};
use super::ApiState;
use crate::auth::Caller;
use crate::pipeline::embedding::Class;

#[utoipa::path(post, path = "/v1/embeddings", tag = "embeddings", operation_id = "createEmbedding",
    request_body(content = super::openapi::EmbeddingsRequest, example = json!({"input": ["disk pressure on node-3", "Longhorn replica rebuilding"], "model": "all-MiniLM-L6-v2"})),
    responses((status = 200, body = super::openapi::EmbeddingsResponse), (status = 422, body = super::openapi::ErrorBody),
              (status = 429, description = "Rate limit or embedding budget spent; see Retry-After", body = super::openapi::ErrorBody),
              (status = 503, body = super::openapi::ErrorBody)))]
pub async fn embeddings(
    State(state): State<ApiState>,
    Caller(source): Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Response>, ApiError> {
    let req = parse(body, state.limits.max_body_bytes, state.limits.max_embedding_inputs)?;
    let vectors = state.scheduler.embed(Class::Interactive, &source, req.texts).await.map_err(embed_error)?;
    let model = state.scheduler.backend().model().to_owned();
    Ok(Json(respond(vectors.into_iter().map(|v| (v.values, v.tokens.unwrap_or(0))).collect(), model, req.base64)))
}
