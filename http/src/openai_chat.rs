//! The OpenAI chat-completions wire format, as both of Firebreak's services speak it:
//! `firebreak-embedder serve --chat-model` answers it with a local model, and the gateway
//! both answers it (`/v1/chat/completions`, the RAG answer) and sends it (to whichever
//! upstream LLM the operator configured). One set of types, so the three cannot drift.
//!
//! Requests are read leniently where clients differ (LibreChat sends `user`, title
//! requests and `stream_options`; Open WebUI sends its own extras; text may come as a
//! string or as text parts): fields nobody here uses are ignored, and only what would be
//! misread is refused. Errors use OpenAI's shape, `{"error": {"message", "type",
//! "code", "param"}}`, which is what OpenAI clients parse.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// `POST /v1/chat/completions`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ChatRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Whole numbers however written (`256.0`), as the OpenAPI document's integers are.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "firebreak_intake::number::whole_opt")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "firebreak_intake::number::whole_opt")]
    pub max_completion_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl ChatRequest {
    /// Whether the answer is wanted as server-sent events.
    pub fn streaming(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// Whether a streamed answer should end with a usage chunk.
    pub fn include_usage(&self) -> bool {
        self.stream_options.as_ref().and_then(|o| o.include_usage).unwrap_or(false)
    }

    /// The completion length the caller asked for (`max_completion_tokens` is the newer
    /// name of `max_tokens`).
    pub fn max_new_tokens(&self) -> Option<u32> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    /// The conversation as `(role, text)` turns, roles `system` (OpenAI's newer
    /// `developer` too), `user` and `assistant`. Tool turns and parts that are not text
    /// are refused, never silently dropped: answering without them answers another
    /// question.
    pub fn turns(&self) -> Result<Vec<(String, String)>, OpenAiError> {
        self.messages
            .iter()
            .map(|m| {
                let role = match m.role.as_str() {
                    "system" | "developer" => "system",
                    "user" => "user",
                    "assistant" => "assistant",
                    other => {
                        let why = format!("messages with role {other:?} are not supported: system, user, assistant");
                        return Err(OpenAiError::invalid("unsupported_role", why).param("messages"));
                    }
                };
                let text = m.content.text().map_err(|e| OpenAiError::invalid("unsupported_content", e).param("messages"))?;
                Ok((role.to_owned(), text))
            })
            .collect()
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct StreamOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
}

/// One turn of the conversation.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Message {
    pub role: String,
    #[serde(default)]
    pub content: Content,
}

impl Message {
    pub fn new(role: &str, text: impl Into<String>) -> Self {
        Message { role: role.into(), content: Content::Text(text.into()) }
    }
}

/// A message's content: a string, or parts of which the text ones are read.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Part>),
    Null(()),
}

impl Default for Content {
    fn default() -> Self {
        Content::Null(())
    }
}

/// One part of a multi-part content.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Part {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl Content {
    /// The text of the content: a string as it is, text parts joined by blank lines.
    /// `Err` names a part that is not text (an image, audio): nothing here can read it,
    /// and answering as if it were absent would answer another question.
    pub fn text(&self) -> Result<String, String> {
        match self {
            Content::Text(t) => Ok(t.clone()),
            Content::Null(()) => Ok(String::new()),
            Content::Parts(parts) => {
                let mut texts = Vec::with_capacity(parts.len());
                for p in parts {
                    match (p.kind.as_str(), &p.text) {
                        ("text" | "input_text", Some(t)) => texts.push(t.as_str()),
                        (kind, _) => return Err(format!("content parts of type {kind:?} are not supported: send text")),
                    }
                }
                Ok(texts.join("\n\n"))
            }
        }
    }
}

/// Token counts, as OpenAI reports them.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
}

impl Usage {
    pub fn new(prompt_tokens: u32, completion_tokens: u32) -> Self {
        Usage { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens }
    }
}

/// A whole answer (`stream` false).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ChatCompletion {
    pub id: String,
    pub object: String,
    pub created: i64,
    pub model: String,
    pub choices: Vec<Choice>,
    #[serde(default)]
    pub usage: Usage,
    /// Firebreak's own extension (citations, degradation): ignored by OpenAI clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firebreak: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Choice {
    pub index: u32,
    pub message: Message,
    pub finish_reason: Option<String>,
}

impl ChatCompletion {
    pub fn new(id: String, model: String, text: String, finish_reason: &str, usage: Usage) -> Self {
        ChatCompletion {
            id,
            object: "chat.completion".into(),
            created: now(),
            model,
            choices: vec![Choice { index: 0, message: Message::new("assistant", text), finish_reason: Some(finish_reason.into()) }],
            usage,
            firebreak: None,
        }
    }

    /// The answer's text (the first choice's).
    pub fn text(&self) -> String {
        self.choices.first().and_then(|c| c.message.content.text().ok()).unwrap_or_default()
    }
}

/// One server-sent event of a streamed answer (`stream` true).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ChatChunk {
    pub id: String,
    pub object: String,
    pub created: i64,
    pub model: String,
    pub choices: Vec<ChunkChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firebreak: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ChunkChoice {
    pub index: u32,
    pub delta: Delta,
    pub finish_reason: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Delta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

impl ChatChunk {
    fn with(id: &str, model: &str, choices: Vec<ChunkChoice>) -> Self {
        ChatChunk { id: id.into(), object: "chat.completion.chunk".into(), created: now(), model: model.into(), choices, usage: None, firebreak: None }
    }

    /// The first chunk: the assistant's role, no text yet.
    pub fn role(id: &str, model: &str) -> Self {
        let delta = Delta { role: Some("assistant".into()), content: Some(String::new()) };
        Self::with(id, model, vec![ChunkChoice { index: 0, delta, finish_reason: None }])
    }

    /// A piece of the answer's text.
    pub fn text(id: &str, model: &str, text: String) -> Self {
        Self::with(id, model, vec![ChunkChoice { index: 0, delta: Delta { role: None, content: Some(text) }, finish_reason: None }])
    }

    /// The last chunk with a choice: why the answer ended.
    pub fn finish(id: &str, model: &str, finish_reason: &str) -> Self {
        Self::with(id, model, vec![ChunkChoice { index: 0, delta: Delta::default(), finish_reason: Some(finish_reason.into()) }])
    }

    /// The usage chunk (`stream_options.include_usage`): no choices, as OpenAI sends it.
    pub fn usage(id: &str, model: &str, usage: Usage) -> Self {
        let mut c = Self::with(id, model, Vec::new());
        c.usage = Some(usage);
        c
    }

    /// The text this chunk adds, if any.
    pub fn delta_text(&self) -> Option<&str> {
        self.choices.first().and_then(|c| c.delta.content.as_deref())
    }
}

/// `GET /v1/models`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ModelList {
    pub object: String,
    pub data: Vec<ModelCard>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ModelCard {
    pub id: String,
    pub object: String,
    pub created: i64,
    pub owned_by: String,
}

impl ModelList {
    pub fn of(ids: &[&str]) -> Self {
        let data = ids.iter().map(|id| ModelCard { id: (*id).into(), object: "model".into(), created: 0, owned_by: "firebreak".into() }).collect();
        ModelList { object: "list".into(), data }
    }
}

/// An error in OpenAI's shape. `kind` is OpenAI's `type` (`invalid_request_error`,
/// `rate_limit_error`, `server_error`…), `code` a stable machine-readable reason.
#[derive(Debug, Clone)]
pub struct OpenAiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub code: &'static str,
    pub message: String,
    pub param: Option<&'static str>,
    /// `Retry-After`, in whole seconds (rounded up), for 429 and 503.
    pub retry_after: Option<std::time::Duration>,
}

impl OpenAiError {
    pub fn new(status: StatusCode, kind: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        OpenAiError { status, kind, code, message: message.into(), param: None, retry_after: None }
    }

    /// A request that cannot be answered as sent (400).
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", code, message)
    }

    pub fn param(mut self, param: &'static str) -> Self {
        self.param = Some(param);
        self
    }

    pub fn retry_after(mut self, after: std::time::Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": {"message": self.message, "type": self.kind, "code": self.code, "param": self.param}})
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(self.body())).into_response();
        if let Some(after) = self.retry_after {
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            if let Ok(v) = secs.max(1).to_string().parse() {
                r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        r
    }
}

/// One item of a streamed answer.
pub enum SseItem {
    Chunk(ChatChunk),
    /// A failure after the stream began: sent as `data: {"error": …}`, as OpenAI does.
    Error(OpenAiError),
}

/// A streamed answer as OpenAI sends it: each item as a `data:` event, then
/// `data: [DONE]`. A comment line every 15 s keeps proxies and clients from timing out
/// while a busy model reads a long prompt.
pub fn sse_response<S>(items: S) -> Response
where
    S: futures_util::Stream<Item = SseItem> + Send + 'static,
{
    use axum::response::sse::{Event, KeepAlive, Sse};
    use futures_util::StreamExt;
    let events = items
        .map(|item| {
            let data = match item {
                SseItem::Chunk(c) => serde_json::to_string(&c).unwrap_or_default(),
                SseItem::Error(e) => e.body().to_string(),
            };
            Ok::<_, std::convert::Infallible>(Event::default().data(data))
        })
        .chain(futures_util::stream::once(async { Ok(Event::default().data("[DONE]")) }));
    Sse::new(events).keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(15))).into_response()
}

/// Reads a chat request from a body as the handler got it: a body over the route's limit
/// or cut short is an OpenAI error too, never axum's plain-text rejection.
pub fn read_request(body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>) -> Result<ChatRequest, OpenAiError> {
    let body = body.map_err(|e| OpenAiError::new(e.status(), "invalid_request_error", "invalid_body", e.body_text()))?;
    parse_request(&body)
}

/// Reads a chat request from a body, every failure as an OpenAI error: a body that is
/// not JSON, a field of the wrong type (named), no messages.
pub fn parse_request(body: &[u8]) -> Result<ChatRequest, OpenAiError> {
    let req: ChatRequest = serde_json::from_slice(body).map_err(|e| {
        let code = if e.is_syntax() || e.is_eof() { "invalid_json" } else { "invalid_type" };
        OpenAiError::invalid(code, format!("the request body is not a valid chat request: {e}"))
    })?;
    if req.messages.is_empty() {
        return Err(OpenAiError::invalid("empty_messages", "`messages` is empty: send at least one user message").param("messages"));
    }
    Ok(req)
}

/// A fresh `chatcmpl-…` id.
pub fn completion_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("chatcmpl-{:x}{:06x}", now(), n & 0xff_ffff)
}

/// Seconds since the epoch, OpenAI's `created`.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_a_string_or_text_parts_and_other_parts_are_named() {
        let r = parse_request(br#"{"model":"x","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],"user":"u1","stream":true,"stream_options":{"include_usage":true},"frequency_penalty":0}"#).unwrap();
        assert_eq!(r.messages[0].content.text().unwrap(), "a\n\nb");
        assert!(r.streaming() && r.include_usage());
        let r = parse_request(br#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}"#).unwrap();
        assert!(r.messages[0].content.text().unwrap_err().contains("image_url"));
        let r = parse_request(br#"{"messages":[{"role":"assistant","content":null}],"stream":null}"#).unwrap();
        assert_eq!((r.messages[0].content.text().unwrap(), r.streaming()), (String::new(), false));
    }

    #[test]
    fn bad_requests_are_openai_errors() {
        assert_eq!(parse_request(b"{").unwrap_err().code, "invalid_json");
        assert_eq!(parse_request(br#"{"messages":"hi"}"#).unwrap_err().code, "invalid_type");
        assert_eq!(parse_request(br#"{"messages":[{"role":"user","content":1}]}"#).unwrap_err().code, "invalid_type");
        let e = parse_request(br#"{"messages":[]}"#).unwrap_err();
        assert_eq!((e.code, e.body()["error"]["param"].as_str()), ("empty_messages", Some("messages")));
        assert_eq!(e.body()["error"]["type"], "invalid_request_error");
    }

    #[test]
    fn chunks_round_trip_and_usage_chunks_have_no_choices() {
        let c = ChatChunk::usage("id", "m", Usage::new(3, 4));
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["choices"].as_array().unwrap().len(), 0);
        assert_eq!(v["usage"]["total_tokens"], 7);
        let t: ChatChunk = serde_json::from_value(serde_json::to_value(ChatChunk::text("id", "m", "hi".into())).unwrap()).unwrap();
        assert_eq!(t.delta_text(), Some("hi"));
    }
}
