//! `POST /v1/chat/completions` and `GET /v1/models`: the answer service
//! ([`crate::query::answer`]) behind the OpenAI chat API, so LibreChat, Open WebUI and any
//! OpenAI client can ask Firebreak. A thin adapter: it reads the request, hands the
//! conversation to the [`Answerer`](crate::query::answer::Answerer) and writes its events as a
//! chat completion or as `chat.completion.chunk` events; the citations and whether the
//! answer is degraded travel in a `firebreak` object on the response (and on the final
//! chunk). Every error on these routes is in OpenAI's shape, the guards' included
//! ([`openai_errors`]).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use firebreak_http::openai_chat::{self, ChatChunk, ChatCompletion, ModelList, OpenAiError, SseItem};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::ApiState;
use crate::query::answer::{AnswerError, AnswerEvent, AnswerRequest, EXTRACTIVE, GENERATED};
use crate::auth::Caller;

/// The models a client may ask for.
#[utoipa::path(get, path = "/v1/models", tag = "answers", operation_id = "listModels",
    responses((status = 200, description = "`firebreak` (the answer through the configured LLM) and `firebreak-extractive` (built from the search results alone)")))]
pub async fn models(State(state): State<ApiState>) -> Response {
    Json(ModelList::of(&state.answerer.models())).into_response()
}

/// Answers a conversation's last question from past incidents and runbooks, citing them.
#[utoipa::path(post, path = "/v1/chat/completions", tag = "answers", operation_id = "createChatCompletion",
    request_body(content = super::openapi::ChatCompletionsRequest, example = json!({
        "model": "firebreak",
        "messages": [{"role": "user", "content": "postfix-0 keeps getting OOMKilled. Have we seen this before, and what fixed it?"}]
    })),
    responses((status = 200, description = "A `chat.completion`, or with `stream: true` server-sent `chat.completion.chunk` events ending in `data: [DONE]`; `firebreak` carries the citations and `degraded`"),
              (status = 400, description = "No user message, wrong types, an unsupported role or content part, a question over the limit", body = super::openapi::OpenAiErrorBody),
              (status = 404, description = "An unknown model", body = super::openapi::OpenAiErrorBody),
              (status = 429, description = "The caller's rate, or (strict mode) the LLM lane refused", body = super::openapi::OpenAiErrorBody)))]
pub async fn completions(State(state): State<ApiState>, Caller(source): Caller, body: Result<Bytes, BytesRejection>) -> Response {
    match answer(&state, source, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn answer(state: &ApiState, source: String, body: Result<Bytes, BytesRejection>) -> Result<Response, OpenAiError> {
    let req = openai_chat::read_request(body)?;
    let extractive = match req.model.as_deref() {
        None | Some(GENERATED) => false,
        Some(EXTRACTIVE) => true,
        Some(other) => {
            return Err(OpenAiError::new(StatusCode::NOT_FOUND, "invalid_request_error", "model_not_found", format!("the model {other:?} does not exist: ask for {GENERATED:?} or {EXTRACTIVE:?}")).param("model"))
        }
    };
    let turns = req.turns()?;
    let ask = AnswerRequest { turns, source, extractive, max_tokens: req.max_new_tokens(), temperature: req.temperature };
    let events = state.answerer.answer(ask).await.map_err(answer_error)?;
    let id = openai_chat::completion_id();
    let model = req.model.clone().unwrap_or_else(|| GENERATED.to_owned());
    Ok(if req.streaming() { stream(events, id, model, req.include_usage()) } else { whole(events, id, model).await })
}

fn answer_error(e: AnswerError) -> OpenAiError {
    let message = e.to_string();
    match e {
        AnswerError::BadRequest(_) => OpenAiError::invalid("no_user_message", message).param("messages"),
        AnswerError::TooLarge { .. } => OpenAiError::invalid("context_length_exceeded", message).param("messages"),
        AnswerError::Refused(r) => {
            let e = OpenAiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", "llm_unavailable", message);
            match r.retry_after {
                Some(after) => e.retry_after(after),
                None => e.retry_after(std::time::Duration::from_secs(5)),
            }
        }
    }
}

fn meta_json(meta: &crate::query::answer::AnswerMeta) -> Value {
    serde_json::to_value(meta).unwrap_or(Value::Null)
}

async fn whole(mut events: mpsc::Receiver<AnswerEvent>, id: String, model: String) -> Response {
    let mut text = String::new();
    while let Some(e) = events.recv().await {
        match e {
            AnswerEvent::Text(t) => text.push_str(&t),
            AnswerEvent::End { meta, finish, usage } => {
                let mut c = ChatCompletion::new(id, model, text, &finish, usage);
                c.firebreak = Some(meta_json(&meta));
                return Json(c).into_response();
            }
        }
    }
    OpenAiError::new(StatusCode::SERVICE_UNAVAILABLE, "server_error", "shutting_down", "the gateway is stopping").into_response()
}

fn stream(events: mpsc::Receiver<AnswerEvent>, id: String, model: String, include_usage: bool) -> Response {
    let first = futures_util::stream::once({
        let (id, model) = (id.clone(), model.clone());
        async move { vec![SseItem::Chunk(ChatChunk::role(&id, &model))] }
    });
    let rest = futures_util::stream::unfold(Some(events), move |events| {
        let (id, model) = (id.clone(), model.clone());
        async move {
            let mut events = events?;
            match events.recv().await {
                Some(AnswerEvent::Text(t)) => Some((vec![SseItem::Chunk(ChatChunk::text(&id, &model, t))], Some(events))),
                Some(AnswerEvent::End { meta, finish, usage }) => {
                    let mut last = ChatChunk::finish(&id, &model, &finish);
                    last.firebreak = Some(meta_json(&meta));
                    let mut items = vec![SseItem::Chunk(last)];
                    if include_usage {
                        items.push(SseItem::Chunk(ChatChunk::usage(&id, &model, usage)));
                    }
                    Some((items, None))
                }
                None => {
                    let e = OpenAiError::new(StatusCode::SERVICE_UNAVAILABLE, "server_error", "shutting_down", "the gateway is stopping");
                    Some((vec![SseItem::Error(e)], None))
                }
            }
        }
    });
    openai_chat::sse_response(first.chain(rest).flat_map(futures_util::stream::iter))
}

/// OpenAI's error `type` for a status.
fn kind(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}

/// Rewrites the gateway's own errors (`{"error": code, "detail": text}`, from the guards in
/// front of these routes: auth, rate, shedding, body limits) into OpenAI's shape, keeping
/// the status and headers (`Retry-After`, the rate-limit headers). OpenAI clients read
/// `error.message`; they would show nothing useful from ours.
pub async fn openai_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    firebreak_http::reshape_error(resp, |status, code, message| {
        json!({"error": {"message": message, "type": kind(status), "code": code, "param": null}})
    })
    .await
}
