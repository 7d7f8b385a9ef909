//! What both services' OpenAPI documents say the same way: the error shapes, the OpenAI
//! request and response bodies (`/v1/embeddings`, `/v1/chat/completions`), the rules of
//! a conversation the types cannot state, text lengths, and the route that serves a
//! document. The gateway's `/openapi.json` and `firebreak-embedder serve`'s are generated
//! from their own handlers; what they share is written once, here, so the two cannot
//! describe one body two ways.

use axum::http::header::CONTENT_TYPE;
use axum::routing::{get, MethodRouter};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// `GET` of a finished document. It is serialized once, when the router is made: the limits
/// it states are the flags', fixed for the life of the process, and the route sits outside
/// the guards (as the probes and `/metrics` do), so a request costs a copy of a reference,
/// not a regeneration.
pub fn route<S: Clone + Send + Sync + 'static>(doc: &Value) -> MethodRouter<S> {
    let body = axum::body::Bytes::from(serde_json::to_vec(doc).unwrap_or_default());
    get(move || std::future::ready(([(CONTENT_TYPE, "application/json")], body.clone())))
}

/// Every error answer of the REST routes: `{"error": code, "detail": text}`; 429/503
/// carry `Retry-After`.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable code (e.g. `body_too_large`, `store_unavailable`).
    pub error: String,
    /// What was wrong, for a person.
    pub detail: String,
}

/// OpenAI's error shape, on the OpenAI-compatible chat routes.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct OpenAiErrorBody {
    /// `{"message", "type", "code", "param"}`
    #[schema(value_type = Object)]
    pub error: serde_json::Value,
}

/// OpenAI's embeddings request (parsed by the embedder's `http/openai.rs`, for both
/// services).
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct EmbeddingsRequest {
    /// A string or a non-empty array of strings; each with something in it.
    #[schema(schema_with = embedding_input)]
    pub input: serde_json::Value,
    /// `float` (default) or `base64`.
    #[schema(pattern = "^(float|base64)$")]
    pub encoding_format: Option<String>,
    pub model: Option<String>,
}

fn embedding_input() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String).pattern(Some(r"\S")))
        .item(ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String).pattern(Some(r"\S"))).min_items(Some(1)))
        .build()
        .into()
}

/// OpenAI's embeddings response.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct EmbeddingsResponse {
    pub object: String,
    /// `[{"object": "embedding", "index", "embedding": [f32] | base64}]`
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<serde_json::Value>,
    pub model: String,
    #[schema(value_type = Object)]
    pub usage: serde_json::Value,
}

/// OpenAI's chat request (read by [`crate::openai_chat`]; other OpenAI fields are
/// accepted and ignored).
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChatCompletionsRequest {
    pub model: Option<String>,
    /// `[{"role": "system"|"developer"|"user"|"assistant", "content": string | [{"type": "text", "text"}]}]`,
    /// at least one user message.
    #[schema(value_type = Vec<Object>, min_items = 1)]
    pub messages: Vec<serde_json::Value>,
    pub stream: Option<bool>,
    /// `{"include_usage": bool}`
    #[schema(value_type = Option<Object>)]
    pub stream_options: Option<serde_json::Value>,
    pub max_tokens: Option<u32>,
    pub max_completion_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub user: Option<String>,
}

/// A string schema of at most `max` characters, with something in it when `pattern` is
/// `\S`. The servers count characters wherever a document states a length
/// (`firebreak_intake::length`), so `maxLength` is exact: a string it accepts is accepted,
/// one it refuses is refused, whatever bytes each character takes.
pub fn text_up_to(max: usize, pattern: Option<&str>) -> Value {
    let mut s = json!({"type": "string", "maxLength": max});
    if let Some(p) = pattern {
        s["pattern"] = json!(p);
    }
    s
}

/// Sets `key` of `schema.properties.property`, where the generated document has it.
pub fn set(schemas: &mut Map<String, Value>, schema: &str, property: &str, key: &str, value: Value) {
    if let Some(Value::Object(p)) = schemas.get_mut(schema).and_then(|s| s.pointer_mut(&format!("/properties/{property}"))) {
        p.insert(key.to_owned(), value);
    }
}

/// The rules of `ChatCompletionsRequest` that its types cannot say, as
/// [`crate::openai_chat`] reads a conversation: known roles, text content, a user message
/// with something in it ("something" is `\S`: `firebreak_intake::blank`). `models`: the
/// names the server answers to (`None`: any, as the embedder's one model answers every
/// name). `max_tokens`: any u32, a larger ask being held to the server's own maximum.
pub fn chat_request_rules(schemas: &mut Map<String, Value>, models: Option<&[&str]>) {
    let Some(Value::Object(chat)) = schemas.get_mut("ChatCompletionsRequest") else { return };
    let text_part = json!({"type": "object", "required": ["type", "text"], "properties": {"type": {"enum": ["text", "input_text"]}, "text": {"type": "string"}}});
    let props = chat.entry("properties").or_insert_with(|| json!({}));
    props["messages"] = json!({
        "type": "array",
        "minItems": 1,
        "items": {"type": "object", "required": ["role"], "properties": {
            "role": {"enum": ["system", "developer", "user", "assistant"]},
            "content": {"oneOf": [{"type": "string"}, {"type": "null"}, {"type": "array", "items": text_part}]}
        }},
        "contains": {"type": "object", "required": ["role", "content"], "properties": {
            "role": {"const": "user"},
            "content": {"anyOf": [
                {"type": "string", "pattern": "\\S"},
                {"type": "array", "contains": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string", "pattern": "\\S"}}}}
            ]}
        }}
    });
    for field in ["max_tokens", "max_completion_tokens"] {
        props[field] = json!({"type": ["integer", "null"], "minimum": 0, "maximum": u32::MAX});
    }
    if let Some(models) = models {
        props["model"] = json!({"oneOf": [{"type": "null"}, {"enum": models}]});
    }
}

/// The limits of `EmbeddingsRequest.input` a server runs with: at most `max_inputs`
/// texts; each at most `max_input_chars` characters when the server states one.
pub fn embeddings_limits(schemas: &mut Map<String, Value>, max_inputs: usize, max_input_chars: Option<usize>) {
    let Some(one_of) = schemas.get_mut("EmbeddingsRequest").and_then(|s| s.pointer_mut("/properties/input/oneOf")).and_then(Value::as_array_mut)
    else {
        return;
    };
    for variant in one_of.iter_mut() {
        if variant["type"] == "array" {
            variant["maxItems"] = json!(max_inputs);
        }
        if let Some(max) = max_input_chars {
            let text = if variant["type"] == "array" { &mut variant["items"] } else { &mut *variant };
            text["maxLength"] = json!(max);
        }
    }
}

/// Spells every response link as OpenAPI does. utoipa 5 serializes its `Link` with the
/// Rust field names (`operation_id`, `request_body`), which no reader knows: a client
/// generator, or schemathesis's stateful phase, would find links that lead nowhere.
pub fn spell_links(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    let responses = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(|op| op.get_mut("responses").and_then(Value::as_object_mut))
        .flat_map(|r| r.values_mut());
    for response in responses {
        let Some(links) = response.get_mut("links").and_then(Value::as_object_mut) else { continue };
        for link in links.values_mut().filter_map(Value::as_object_mut) {
            for (from, to) in [("operation_id", "operationId"), ("operation_ref", "operationRef"), ("request_body", "requestBody")] {
                if let Some(v) = link.remove(from) {
                    link.insert(to.to_owned(), v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_spelled_as_openapi_spells_them() {
        let mut doc = json!({"paths": {"/a": {"post": {"responses": {"200": {"links": {"next": {
            "operation_id": "getA", "request_body": {"x": "$request.body#/x"}, "parameters": {"id": "$response.body#/id"}
        }}}}}}}});
        spell_links(&mut doc);
        let link = &doc["paths"]["/a"]["post"]["responses"]["200"]["links"]["next"];
        assert_eq!(link, &json!({"operationId": "getA", "requestBody": {"x": "$request.body#/x"}, "parameters": {"id": "$response.body#/id"}}));
    }
}
