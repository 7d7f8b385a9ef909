//! `POST /v1/embeddings`, as OpenAI defines it: `input` is a string or an array of
//! strings, `encoding_format` is `float` (default) or `base64` (little-endian f32), and
//! the answer carries `data[].embedding` and `usage.prompt_tokens`.
//!
//! Firebreak extension: the `x-firebreak-priority` header (`interactive`, `alert`,
//! `bulk`) picks the queue class; plain OpenAI clients get `interactive`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use firebreak_http::json_body;

use super::error::ApiError;
use super::AppState;
use crate::queue::Priority;

#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Request {
    input: Input,
    #[serde(default)]
    encoding_format: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    model: Option<String>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Vector {
    Float(Vec<f32>),
    Base64(String),
}

#[derive(Serialize)]
struct Datum {
    object: &'static str,
    index: usize,
    embedding: Vector,
}

#[derive(Serialize)]
struct Usage {
    prompt_tokens: usize,
    total_tokens: usize,
}

/// The response body.
#[derive(Serialize)]
pub struct Response {
    object: &'static str,
    data: Vec<Datum>,
    model: String,
    usage: Usage,
}

/// The queue class from the `x-firebreak-priority` header (default interactive).
pub fn priority(headers: &HeaderMap) -> Result<Priority, ApiError> {
    match headers.get("x-firebreak-priority").map(|v| v.to_str().unwrap_or("")) {
        None | Some("interactive") => Ok(Priority::Interactive),
        Some("alert") => Ok(Priority::Alert),
        Some("bulk") => Ok(Priority::Bulk),
        Some(other) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_priority",
            format!("x-firebreak-priority must be interactive, alert or bulk, not {other:?}"),
        )),
    }
}

/// A parsed, validated request: the texts and how to encode the answer.
pub struct Parsed {
    pub texts: Vec<String>,
    pub base64: bool,
}

/// Parses and validates a request body. Shared with the gateway's `/v1/embeddings`, so
/// both services accept and refuse exactly the same requests.
pub fn parse(body: Result<Bytes, BytesRejection>, max_bytes: usize, max_inputs: usize) -> Result<Parsed, ApiError> {
    let req: Request = json_body(body, max_bytes, "{\"input\": string | [string]}")?;
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_encoding_format",
                format!("encoding_format must be float or base64, not {other:?}"),
            ))
        }
    };
    let texts = match req.input {
        Input::One(t) => vec![t],
        Input::Many(v) => v,
    };
    if texts.is_empty() {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "empty_input", "input is an empty array"));
    }
    if texts.len() > max_inputs {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_inputs",
            format!("{} inputs; the limit is {max_inputs} per request", texts.len()),
        ));
    }
    Ok(Parsed { texts, base64 })
}

/// Builds the OpenAI-shaped answer from vectors and their token counts.
pub fn respond(vectors: Vec<(Vec<f32>, usize)>, model: String, base64: bool) -> Response {
    let prompt_tokens = vectors.iter().map(|(_, t)| t).sum();
    let data = vectors
        .into_iter()
        .enumerate()
        .map(|(index, (v, _))| Datum {
            object: "embedding",
            index,
            embedding: if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                Vector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                Vector::Float(v)
            },
        })
        .collect();
    Response { object: "list", data, model, usage: Usage { prompt_tokens, total_tokens: prompt_tokens } }
}

/// Embeds the texts, in the queue class `x-firebreak-priority` names.
#[utoipa::path(post, path = "/v1/embeddings", tag = "embeddings", operation_id = "createEmbedding",
    params(("x-firebreak-priority" = Option<String>, Header, description = "The queue class: `interactive` (default), `alert` or `bulk`", nullable = false, pattern = "^(interactive|alert|bulk)$")),
    request_body(content = firebreak_http::openapi::EmbeddingsRequest, example = json!({"input": ["disk pressure on node-3", "Longhorn replica rebuilding"], "model": "all-MiniLM-L6-v2"})),
    responses((status = 200, body = firebreak_http::openapi::EmbeddingsResponse),
              (status = 400, description = "Not JSON of the documented shape, or an unknown priority", body = firebreak_http::openapi::ErrorBody),
              (status = 413, description = "The body is over `--max-request-bytes`, or one input over `--max-input-chars` characters", body = firebreak_http::openapi::ErrorBody),
              (status = 422, description = "An empty input array or a blank text, too many inputs, an unknown encoding_format", body = firebreak_http::openapi::ErrorBody),
              (status = 503, description = "Too many requests in flight, the queue is full, or the server is shutting down; see Retry-After", body = firebreak_http::openapi::ErrorBody,
                  headers(("Retry-After" = u64, description = "Seconds until a retry may succeed")))))]
pub async fn embeddings(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Response>, ApiError> {
    let req = parse(body, state.limits.max_request_bytes, state.limits.max_inputs).map_err(|e| state.refuse(e))?;
    let priority = priority(&headers).map_err(|e| state.refuse(e))?;
    let embedded = state.embedder.embed(req.texts, priority).await?;
    let vectors = embedded.into_iter().map(|e| (e.vector, e.tokens)).collect();
    Ok(Json(respond(vectors, state.embedder.model().name.clone(), req.base64)))
}
