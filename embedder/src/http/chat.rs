//! `POST /v1/chat/completions` and `GET /v1/models` on `firebreak-embedder serve
//! --chat-model`: the local chat model behind the OpenAI wire format
//! (`firebreak_http::openai_chat`), streamed or whole. Any `model` name is answered by
//! the one model loaded, as llama.cpp's server does: the gateway's `--llm-model` need not
//! match a file name.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use firebreak_http::openai_chat::{self, ChatChunk, ChatCompletion, ChatRequest, ModelList, OpenAiError, SseItem, Usage};
use futures_util::StreamExt;

use super::AppState;
use crate::chat::{Event, Generate, Generation, Turn};
use crate::error::EmbedError;

impl From<EmbedError> for OpenAiError {
    fn from(e: EmbedError) -> Self {
        let message = e.to_string();
        match e {
            EmbedError::PromptTooLong { .. } => OpenAiError::invalid("context_length_exceeded", message).param("messages"),
            EmbedError::Overloaded { retry_after, .. } => {
                OpenAiError::new(StatusCode::SERVICE_UNAVAILABLE, "server_error", "overloaded", message).retry_after(retry_after)
            }
            EmbedError::ShuttingDown => OpenAiError::new(StatusCode::SERVICE_UNAVAILABLE, "server_error", "shutting_down", message)
                .retry_after(std::time::Duration::from_secs(1)),
            _ => OpenAiError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "generation_failed", message),
        }
    }
}

/// The conversation as the model's turns; at least one user turn with text ("text" as the
/// OpenAPI document's `\S` means it: `firebreak_intake::blank`).
pub fn turns(req: &ChatRequest) -> Result<Vec<Turn>, OpenAiError> {
    let turns: Vec<Turn> = req.turns()?.into_iter().map(|(role, text)| Turn { role, text }).collect();
    if !turns.iter().any(|t| t.role == "user" && !firebreak_intake::blank::is_blank(&t.text)) {
        return Err(OpenAiError::invalid("no_user_message", "the conversation has no user message with text").param("messages"));
    }
    Ok(turns)
}

/// The chat model loaded, under its own name (none without `--chat-model`).
#[utoipa::path(get, path = "/v1/models", tag = "chat", operation_id = "listModels",
    responses((status = 200, description = "`{\"object\": \"list\", \"data\": [{\"id\", \"object\": \"model\", \"created\", \"owned_by\"}]}`", body = Object)))]
pub async fn models(State(state): State<AppState>) -> Response {
    let names: Vec<&str> = state.chat.iter().map(|c| c.name()).collect();
    Json(ModelList::of(&names)).into_response()
}

/// Answers a conversation with the chat model; any `model` name is answered by the one
/// model loaded.
#[utoipa::path(post, path = "/v1/chat/completions", tag = "chat", operation_id = "createChatCompletion",
    request_body(content = firebreak_http::openapi::ChatCompletionsRequest, example = json!({
        "model": "smollm2", "max_tokens": 64,
        "messages": [{"role": "system", "content": "Answer in one sentence."}, {"role": "user", "content": "What does OOMKilled mean?"}]
    })),
    responses((status = 200, description = "A `chat.completion`, or with `stream: true` server-sent `chat.completion.chunk` events ending in `data: [DONE]`"),
              (status = 400, description = "Not a chat request, no user message with text, an unsupported role or content part, a prompt over the context", body = firebreak_http::openapi::OpenAiErrorBody),
              (status = 404, description = "No chat model is loaded (`--chat-model`)", body = firebreak_http::openapi::OpenAiErrorBody),
              (status = 413, description = "The body is over `--max-request-bytes`", body = firebreak_http::openapi::OpenAiErrorBody),
              (status = 503, description = "The model's queue is full, or the server is shutting down; see Retry-After", body = firebreak_http::openapi::OpenAiErrorBody,
                  headers(("Retry-After" = u64, description = "Seconds until a retry may succeed")))))]
pub async fn completions(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    match answer(&state, body).await {
        Ok(r) => r,
        Err(e) => {
            if let Some(chat) = &state.chat {
                if e.status.is_client_error() {
                    chat.metrics().count("refused");
                }
            }
            e.into_response()
        }
    }
}

async fn answer(state: &AppState, body: Result<Bytes, BytesRejection>) -> Result<Response, OpenAiError> {
    let Some(chat) = state.chat.clone() else {
        return Err(OpenAiError::new(StatusCode::NOT_FOUND, "invalid_request_error", "model_not_found", "no chat model is loaded (start with --chat-model)"));
    };
    let req = openai_chat::read_request(body)?;
    let turns = turns(&req)?;
    let generation = chat.generate(Generate {
        turns,
        max_tokens: req.max_new_tokens().map(|n| n as usize),
        temperature: req.temperature,
        seed: req.seed.unwrap_or(0),
    })?;
    let id = openai_chat::completion_id();
    let model = chat.name().to_owned();
    if req.streaming() {
        Ok(stream(generation, id, model, req.include_usage()))
    } else {
        whole(generation, id, model).await
    }
}

async fn whole(mut g: Generation, id: String, model: String) -> Result<Response, OpenAiError> {
    let mut text = String::new();
    while let Some(event) = g.events.recv().await {
        match event {
            Event::Text(t) => text.push_str(&t),
            Event::Done { finish, prompt_tokens, completion_tokens } => {
                let usage = Usage::new(prompt_tokens as u32, completion_tokens as u32);
                return Ok(Json(ChatCompletion::new(id, model, text, finish.as_str(), usage)).into_response());
            }
            Event::Failed(why) => return Err(EmbedError::Inference(why).into()),
        }
    }
    Err(EmbedError::ShuttingDown.into())
}

fn stream(g: Generation, id: String, model: String, include_usage: bool) -> Response {
    let first = futures_util::stream::once({
        let (id, model) = (id.clone(), model.clone());
        async move { vec![SseItem::Chunk(ChatChunk::role(&id, &model))] }
    });
    let rest = futures_util::stream::unfold(Some(g.events), move |events| {
        let (id, model) = (id.clone(), model.clone());
        async move {
            let mut events = events?;
            let items = match events.recv().await {
                Some(Event::Text(t)) => vec![SseItem::Chunk(ChatChunk::text(&id, &model, t))],
                Some(Event::Done { finish, prompt_tokens, completion_tokens }) => {
                    let mut items = vec![SseItem::Chunk(ChatChunk::finish(&id, &model, finish.as_str()))];
                    if include_usage {
                        items.push(SseItem::Chunk(ChatChunk::usage(&id, &model, Usage::new(prompt_tokens as u32, completion_tokens as u32))));
                    }
                    return Some((items, None));
                }
                Some(Event::Failed(why)) => return Some((vec![SseItem::Error(EmbedError::Inference(why).into())], None)),
                None => return Some((vec![SseItem::Error(EmbedError::ShuttingDown.into())], None)),
            };
            Some((items, Some(events)))
        }
    });
    openai_chat::sse_response(first.chain(rest).flat_map(futures_util::stream::iter))
}
