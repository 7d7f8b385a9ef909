//! What `/openapi.json` says beyond the handlers' own annotations: the answers the guards
//! in front of every API route can give, and the limits this server runs with.
//!
//! A generated client, schemathesis or an agent reads the document to know what the server
//! will refuse before the server refuses it. The handlers' annotations describe what each
//! handler answers; but every `/v1/` route also sits behind the same guards (api/mod.rs:
//! shed → token → rate → body), which answer 401, 403, 429, 503 and, where a body is read,
//! 400, 408 and 413 — and every answer carries the rate headers. Writing those into forty
//! annotations by hand would drift; they are added here, from the one list of what the
//! guard stack does. The flag-driven limits (`--max-search-k`, `--max-documents-per-ingest`,
//! …) are written in as the document is served, so the maxima it states are this server's,
//! not the defaults'.

use firebreak_http::openapi::{chat_request_rules, embeddings_limits, set, spell_links, text_up_to};
use serde_json::{json, Value};

use super::ApiLimits;

/// The paths whose errors are in OpenAI's shape (api/chat.rs).
const OPENAI_PATHS: [&str; 2] = ["/v1/chat/completions", "/v1/models"];

/// Completes the generated document for a server running with `limits` and answering
/// questions of at most `max_question_chars`.
pub fn complete(doc: &mut Value, limits: &ApiLimits, max_question_chars: usize) {
    spell_links(doc);
    add_headers(doc);
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for (path, item) in paths.iter_mut() {
        // /mcp is an MCP endpoint (JSON-RPC over streamable HTTP), described by its own
        // annotation; the probes, /metrics and /openapi.json sit outside the guards.
        if !path.starts_with("/v1/") {
            continue;
        }
        let openai = OPENAI_PATHS.contains(&path.as_str());
        let Some(ops) = item.as_object_mut() else { continue };
        for (method, op) in ops.iter_mut() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            guard_responses(op, openai);
        }
    }
    write_limits(doc, limits, max_question_chars);
}

/// The headers every guarded answer may carry.
fn add_headers(doc: &mut Value) {
    let headers = json!({
        "Retry-After": {"description": "Seconds until a retry may succeed (429, 503)", "schema": {"type": "integer", "minimum": 0}},
        "X-RateLimit-Limit": {"description": "The source's burst on this route class", "schema": {"type": "integer", "minimum": 0}},
        "X-RateLimit-Remaining": {"description": "Requests left in the burst", "schema": {"type": "integer", "minimum": 0}},
        "X-RateLimit-Reset": {"description": "Seconds until the burst is whole again", "schema": {"type": "integer", "minimum": 0}},
        "WWW-Authenticate": {"description": "`Bearer` (401)", "schema": {"type": "string"}},
    });
    let components = doc.as_object_mut().map(|d| d.entry("components").or_insert_with(|| json!({})));
    if let Some(Value::Object(c)) = components {
        let h = c.entry("headers").or_insert_with(|| json!({}));
        if let (Value::Object(h), Value::Object(new)) = (h, headers) {
            h.extend(new);
        }
    }
}

fn header_refs(names: &[&str]) -> Value {
    Value::Object(names.iter().map(|n| ((*n).to_owned(), json!({"$ref": format!("#/components/headers/{n}")}))).collect())
}

/// Adds, where the handler's annotation does not already say it, each answer the guard
/// stack can give on this operation.
fn guard_responses(op: &mut Value, openai: bool) {
    let has_body = op.get("requestBody").is_some();
    let has_params = op.get("parameters").and_then(Value::as_array).is_some_and(|p| !p.is_empty());
    let body = if openai { "OpenAiErrorBody" } else { "ErrorBody" };
    let rate = ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"];
    let mut add: Vec<(&str, &str, Vec<&str>)> = vec![
        ("401", "No token, or an unknown one", vec!["WWW-Authenticate"]),
        ("403", "The token lacks this route's scope", vec![]),
        ("429", "The source is over its rate on this route class (or a budget is spent)", vec!["Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"]),
        ("503", "Shed (too many requests in flight) or a dependency unavailable; retry later", vec!["Retry-After"]),
    ];
    if has_body {
        add.push(("400", "The body is not JSON of the documented shape", vec![]));
        add.push(("408", "The body did not arrive within the read deadline", vec![]));
        add.push(("413", "The body is over the size limit", vec![]));
    } else if has_params {
        add.push(("400", "A path or query parameter is not of the documented type", vec![]));
    }
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else { return };
    for (status, description, headers) in add {
        responses.entry(status.to_owned()).or_insert_with(|| {
            json!({
                "description": description,
                "headers": header_refs(&headers),
                "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{body}")}}}
            })
        });
    }
    // Every answer of a guarded route carries the source's rate.
    for (_, r) in responses.iter_mut() {
        if let Some(r) = r.as_object_mut() {
            let h = r.entry("headers").or_insert_with(|| json!({}));
            if let (Value::Object(h), Value::Object(add)) = (h, header_refs(&rate)) {
                for (k, v) in add {
                    h.entry(k).or_insert(v);
                }
            }
        }
    }
}

/// The flag-driven limits, as the documented maxima, and the rules the types cannot say.
fn write_limits(doc: &mut Value, limits: &ApiLimits, max_question_chars: usize) {
    let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) else { return };
    // Exactly one of `query` (text with something in it) and `alert`; the other absent or
    // null (intake/search.rs).
    if let Some(Value::Object(search)) = schemas.get_mut("SearchRequest") {
        search.insert(
            "oneOf".into(),
            json!([
                {"required": ["query"], "properties": {"query": text_up_to(limits.max_query_chars, Some("\\S")), "alert": {"type": "null"}}},
                {"required": ["alert"], "properties": {"alert": {"type": "object"}, "query": {"type": "null"}}}
            ]),
        );
    }
    set(schemas, "SearchRequest", "k", "maximum", json!(limits.max_search_k));
    set(schemas, "SearchRequest", "query", "maxLength", json!(limits.max_query_chars));
    set(schemas, "IngestRequest", "documents", "maxItems", json!(limits.max_documents_per_ingest));
    set(schemas, "Webhook", "alerts", "maxItems", json!(limits.input.max_alerts_per_webhook));
    // A conversation the answer service reads, answered by one of the two models.
    chat_request_rules(schemas, Some(&[crate::query::answer::GENERATED, crate::query::answer::EXTRACTIVE]));
    // The question is the last user message, which JSON Schema cannot single out.
    if let Some(Value::Object(chat)) = schemas.get_mut("ChatCompletionsRequest") {
        chat.insert(
            "description".into(),
            json!(format!("The question (the last user message) is at most {max_question_chars} characters (400 beyond).")),
        );
    }
    embeddings_limits(schemas, limits.max_embedding_inputs, None);
    // What makes an alert storable (intake/alertmanager.rs Alert::occurrence; the label
    // counts of intake/shape.rs): a whole webhook is refused for one bad alert.
    // A search's alert is only read (its labels and annotations as text): it keeps the
    // loose shape serde takes.
    if let Some(loose) = schemas.get("Alert").cloned() {
        schemas.insert("SearchAlert".into(), loose);
        set(schemas, "SearchRequest", "alert", "oneOf", json!([{"type": "null"}, {"$ref": "#/components/schemas/SearchAlert"}]));
        let read_as = format!("An alert, read as the text of its labels and annotations; that text is held to the query's {} characters (413 beyond).", limits.max_query_chars);
        set(schemas, "SearchRequest", "alert", "description", json!(read_as));
    }
    if let Some(Value::Object(alert)) = schemas.get_mut("Alert") {
        alert.insert("required".into(), json!(["status", "labels", "startsAt", "fingerprint"]));
        let max = limits.input.max_labels;
        let props = alert.entry("properties").or_insert_with(|| json!({}));
        props["status"] = json!({"type": "string", "enum": ["firing", "resolved"]});
        props["fingerprint"] = json!({"type": "string", "pattern": "\\S"});
        props["startsAt"] = json!({"type": "string", "format": "date-time"});
        let (name, value) = (limits.input.max_label_name_chars, limits.input.max_label_value_chars);
        let mut alertname = text_up_to(value, None);
        alertname["minLength"] = json!(1);
        props["labels"] = json!({
            "type": "object", "maxProperties": max,
            "propertyNames": text_up_to(name, None), "additionalProperties": text_up_to(value, None),
            "required": ["alertname"], "properties": {"alertname": alertname}
        });
        props["annotations"] = json!({
            "type": "object", "maxProperties": max,
            "propertyNames": text_up_to(name, None), "additionalProperties": text_up_to(value, None)
        });
    }
    // Alertmanager's truncatedAlerts is a uint64; utoipa calls every u64 `int64`, which
    // would make 2^63 and above invalid though the server takes them.
    if let Some(Value::Object(p)) = schemas.get_mut("Webhook").and_then(|s| s.pointer_mut("/properties/truncatedAlerts")) {
        p.remove("format");
        p.insert("maximum".into(), json!(u64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_guarded_operation_documents_the_guards_answers_and_the_live_limits() {
        let mut doc = json!({
            "paths": {
                "/v1/search": {"post": {"requestBody": {}, "responses": {"200": {"description": "ok"}, "422": {"description": "handler's own"}}}},
                "/v1/incidents/{id}": {"get": {"parameters": [{"name": "id"}], "responses": {"200": {"description": "ok"}}}},
                "/v1/models": {"get": {"responses": {"200": {"description": "ok"}}}},
                "/healthz": {"get": {"responses": {"200": {"description": "ok"}}}},
            },
            "components": {"schemas": {"SearchRequest": {"properties": {"k": {"type": "integer"}}}}}
        });
        let limits = ApiLimits { max_search_k: 7, ..ApiLimits::default() };
        complete(&mut doc, &limits, 100);
        let search = &doc["paths"]["/v1/search"]["post"]["responses"];
        for s in ["400", "401", "403", "408", "413", "429", "503"] {
            assert!(search.get(s).is_some(), "{s}: {search}");
        }
        assert_eq!(search["422"]["description"], "handler's own");
        assert!(search["429"]["headers"]["Retry-After"].is_object());
        assert!(search["200"]["headers"]["X-RateLimit-Remaining"].is_object());
        let get = &doc["paths"]["/v1/incidents/{id}"]["get"]["responses"];
        assert!(get.get("400").is_some() && get.get("413").is_none(), "{get}");
        assert_eq!(doc["paths"]["/v1/models"]["get"]["responses"]["401"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/OpenAiErrorBody");
        assert!(doc["paths"]["/healthz"]["get"]["responses"].get("401").is_none());
        assert_eq!(doc["components"]["schemas"]["SearchRequest"]["properties"]["k"]["maximum"], 7);
        assert!(doc["components"]["headers"]["Retry-After"].is_object());
    }
}
