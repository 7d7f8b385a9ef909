//! The arguments of the MCP tools (the gateway's `/mcp`): each tool's name and JSON
//! arguments checked and read into what the query services take, or refused with the
//! same [`Rejection`]s the REST routes give, never a panic.
//!
//! A tool's arguments are the REST route's body where one exists (`search_incidents` takes
//! what `POST /v1/search` takes), so an agent and a script ask the same question the same
//! way and get the same checks. The input schemas the tools advertise are in
//! [`schemas`]; this module is what enforces them.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::kind::JobKind;
use crate::rejection::{Rejection, Status};
use crate::search::{Mode, SearchInput, SearchLimits, SearchRequest};

/// The tools, by the name an agent calls them.
pub const SEARCH_INCIDENTS: &str = "search_incidents";
pub const SIMILAR_TO_ALERT: &str = "similar_to_alert";
pub const GET_INCIDENT: &str = "get_incident";
pub const SEARCH_DOCUMENTS: &str = "search_documents";
pub const ADD_NOTE: &str = "add_note";
pub const STATUS: &str = "status";
pub const ANSWER: &str = "answer";

/// Every tool, in the order they are listed.
pub const ALL: [&str; 7] = [SEARCH_INCIDENTS, SIMILAR_TO_ALERT, GET_INCIDENT, SEARCH_DOCUMENTS, ADD_NOTE, STATUS, ANSWER];

/// Results `similar_to_alert` returns unless asked: an agent reads each one.
const SIMILAR_K: usize = 5;

/// A tool call, checked.
#[derive(Debug, Clone)]
pub enum ToolCall {
    /// `search_incidents` and `similar_to_alert`: past incidents only.
    SearchIncidents(SearchInput),
    /// `search_documents`: runbooks and other ingested documents only.
    SearchDocuments(SearchInput),
    GetIncident { incident_id: i64 },
    AddNote { incident_id: i64, text: String, author: Option<String> },
    Status,
    Answer { question: String },
}

/// What a tool needs of the caller's token and rate, by the REST route it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `search:read`, the query rate (search, incidents, status).
    Read,
    /// `notes:write`, the notes rate.
    WriteNotes,
    /// `answers`, the answers rate.
    Answers,
}

/// The access a tool needs; `None` for a name that is not a tool (refused by the server
/// after authentication, as an unknown tool).
pub fn access(tool: &str) -> Option<Access> {
    match tool {
        SEARCH_INCIDENTS | SIMILAR_TO_ALERT | GET_INCIDENT | SEARCH_DOCUMENTS | STATUS => Some(Access::Read),
        ADD_NOTE => Some(Access::WriteNotes),
        ANSWER => Some(Access::Answers),
        _ => None,
    }
}

fn bad_arguments(tool: &str, detail: impl std::fmt::Display) -> Rejection {
    Rejection::new(Status::BadRequest, "bad_arguments", format!("{tool}: {detail}"))
}

/// Reads `args` (absent means `{}`) as `T`, refusing unknown fields with the tool's name.
fn read<T: for<'de> Deserialize<'de>>(tool: &str, args: Value) -> Result<T, Rejection> {
    serde_json::from_value(args).map_err(|e| bad_arguments(tool, e))
}

/// A search restricted to one kind: the request as `/v1/search` reads it, `kinds` set by
/// the tool (an agent asking for runbooks gets runbooks).
fn search(tool: &str, mut args: Map<String, Value>, kind: JobKind, limits: SearchLimits) -> Result<SearchInput, Rejection> {
    if args.contains_key("kinds") {
        return Err(bad_arguments(tool, "unknown field `kinds`: this tool searches one kind"));
    }
    if let Some(alert) = args.get_mut("alert") {
        default_status(alert);
    }
    args.insert("kinds".into(), json!([kind]));
    let req: SearchRequest = read(tool, Value::Object(args))?;
    req.validate(limits)
}

/// An alert given as its labels and annotations alone is a firing one.
fn default_status(alert: &mut Value) {
    if let Value::Object(a) = alert {
        a.entry("status").or_insert_with(|| json!("firing"));
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SimilarArgs {
    alert: Value,
    #[serde(default)]
    k: Option<usize>,
    #[serde(default)]
    mode: Option<Mode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IncidentArgs {
    incident_id: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteArgs {
    incident_id: i64,
    text: String,
    #[serde(default)]
    author: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerArgs {
    question: String,
}

/// Checks one call. `args` is the call's `arguments` (absent is `{}`; anything but an
/// object is refused).
pub fn parse(tool: &str, args: Option<Value>, limits: SearchLimits) -> Result<ToolCall, Rejection> {
    let args = match args.unwrap_or_else(|| json!({})) {
        Value::Object(m) => m,
        other => return Err(bad_arguments(tool, format!("arguments must be an object, not {}", type_name(&other)))),
    };
    match tool {
        SEARCH_INCIDENTS => Ok(ToolCall::SearchIncidents(search(tool, args, JobKind::Incident, limits)?)),
        SEARCH_DOCUMENTS => {
            if args.contains_key("alert") {
                return Err(bad_arguments(tool, "documents are searched by text: give \"query\", not \"alert\""));
            }
            Ok(ToolCall::SearchDocuments(search(tool, args, JobKind::Document, limits)?))
        }
        SIMILAR_TO_ALERT => {
            let a: SimilarArgs = read(tool, Value::Object(args))?;
            let mut req = Map::new();
            req.insert("alert".into(), a.alert);
            req.insert("k".into(), json!(a.k.unwrap_or(SIMILAR_K.min(limits.max_k))));
            if let Some(mode) = a.mode {
                req.insert("mode".into(), json!(mode));
            }
            let input = search(tool, req, JobKind::Incident, limits)?;
            if input.alert.as_ref().is_none_or(|a| !a.labels.contains_key("alertname")) {
                return Err(Rejection::invalid("no_alertname", format!("{tool}: the alert needs an alertname label")));
            }
            Ok(ToolCall::SearchIncidents(input))
        }
        GET_INCIDENT => {
            let a: IncidentArgs = read(tool, Value::Object(args))?;
            Ok(ToolCall::GetIncident { incident_id: a.incident_id })
        }
        ADD_NOTE => {
            let a: NoteArgs = read(tool, Value::Object(args))?;
            if a.text.trim().is_empty() {
                return Err(Rejection::invalid("empty_note", "a note needs text"));
            }
            Ok(ToolCall::AddNote { incident_id: a.incident_id, text: a.text, author: a.author.filter(|s| !s.trim().is_empty()) })
        }
        STATUS => {
            let NoArgs {} = read(tool, Value::Object(args))?;
            Ok(ToolCall::Status)
        }
        ANSWER => {
            let a: AnswerArgs = read(tool, Value::Object(args))?;
            if a.question.trim().is_empty() {
                return Err(Rejection::invalid("empty_question", "the question is empty"));
            }
            Ok(ToolCall::Answer { question: a.question })
        }
        other => Err(Rejection::new(Status::BadRequest, "unknown_tool", format!("there is no tool {other:?}; the tools are {}", ALL.join(", ")))),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The input schemas the tools advertise (JSON Schema 2020-12 objects), by tool; what
/// [`parse`] enforces, with the limits in force written into them.
pub mod schemas {
    use serde_json::{json, Value};

    use crate::search::SearchLimits;

    fn filter() -> Value {
        json!({
            "type": "object",
            "description": "Only results matching all of these.",
            "properties": {
                "source": {"type": "string", "description": "The ingest source or collection, e.g. \"wiki\"."},
                "namespace": {"type": "string", "description": "Kubernetes namespace label of the incident."},
                "alertname": {"type": "string", "description": "Only incidents of this alert."},
                "since": {"type": "string", "format": "date-time", "description": "RFC 3339; only items from this time on."}
            },
            "additionalProperties": false
        })
    }

    fn alert() -> Value {
        json!({
            "type": "object",
            "description": "An Alertmanager alert: its labels (alertname at least) and annotations (summary, description), as in a webhook's alerts[] or the Alertmanager API.",
            "properties": {
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                "status": {"type": "string", "enum": ["firing", "resolved"]},
                "startsAt": {"type": "string"}, "endsAt": {"type": "string"},
                "generatorURL": {"type": "string"}, "fingerprint": {"type": "string"}
            },
            "required": ["labels"]
        })
    }

    fn k(limits: SearchLimits, default: usize) -> Value {
        json!({"type": "integer", "minimum": 1, "maximum": limits.max_k, "default": default, "description": "How many results."})
    }

    fn mode() -> Value {
        json!({"type": "string", "enum": ["hybrid", "dense", "keyword"], "default": "hybrid",
               "description": "hybrid: meaning and words fused (best); dense: meaning only; keyword: words only (BM25)."})
    }

    fn query(limits: SearchLimits) -> Value {
        json!({"type": "string", "minLength": 1, "maxLength": limits.max_query_chars, "description": "What to look for, in words."})
    }

    /// The schema of `tool`'s arguments.
    pub fn of(tool: &str, limits: SearchLimits) -> Value {
        match tool {
            super::SEARCH_INCIDENTS => json!({
                "type": "object",
                "properties": {"query": query(limits), "alert": alert(), "k": k(limits, 10), "filter": filter(), "mode": mode()},
                "oneOf": [{"required": ["query"]}, {"required": ["alert"]}],
                "additionalProperties": false
            }),
            super::SIMILAR_TO_ALERT => json!({
                "type": "object",
                "properties": {"alert": alert(), "k": k(limits, super::SIMILAR_K.min(limits.max_k)), "mode": mode()},
                "required": ["alert"],
                "additionalProperties": false
            }),
            super::GET_INCIDENT => json!({
                "type": "object",
                "properties": {"incident_id": {"type": "integer", "description": "An incident's id, as search results give it."}},
                "required": ["incident_id"],
                "additionalProperties": false
            }),
            super::SEARCH_DOCUMENTS => json!({
                "type": "object",
                "properties": {"query": query(limits), "k": k(limits, 10), "filter": filter(), "mode": mode()},
                "required": ["query"],
                "additionalProperties": false
            }),
            super::ADD_NOTE => json!({
                "type": "object",
                "properties": {
                    "incident_id": {"type": "integer", "description": "The incident the note is about."},
                    "text": {"type": "string", "minLength": 1, "description": "What was wrong and what fixed it, for whoever meets this next."},
                    "author": {"type": "string", "description": "Who writes it (the token's source is recorded too)."}
                },
                "required": ["incident_id", "text"],
                "additionalProperties": false
            }),
            super::ANSWER => json!({
                "type": "object",
                "properties": {"question": {"type": "string", "minLength": 1, "description": "The question, or a pasted alert."}},
                "required": ["question"],
                "additionalProperties": false
            }),
            _ => json!({"type": "object", "properties": {}, "additionalProperties": false}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: SearchLimits = SearchLimits { max_k: 50, max_query_chars: 8192 };

    #[test]
    fn searches_take_the_rest_body_and_stay_on_their_kind() {
        let ToolCall::SearchIncidents(s) = parse(SEARCH_INCIDENTS, Some(json!({"query": "disk full", "k": 3})), LIMITS).unwrap() else {
            panic!()
        };
        assert_eq!((s.k, s.filter.kinds.clone()), (3, vec![JobKind::Incident]));
        let ToolCall::SearchDocuments(s) = parse(SEARCH_DOCUMENTS, Some(json!({"query": "drain a node"})), LIMITS).unwrap() else {
            panic!()
        };
        assert_eq!(s.filter.kinds, vec![JobKind::Document]);
        for bad in [json!({"query": "x", "kinds": ["document"]}), json!({"query": "x", "k": 0}), json!({"query": "x", "limit": 3}), json!({})] {
            assert!(parse(SEARCH_INCIDENTS, Some(bad.clone()), LIMITS).is_err(), "{bad}");
        }
        assert!(parse(SEARCH_DOCUMENTS, Some(json!({"alert": {"labels": {"alertname": "A"}}})), LIMITS).is_err());
    }

    #[test]
    fn an_alert_of_labels_and_annotations_alone_is_searched_as_an_alert() {
        let args = json!({"alert": {"labels": {"alertname": "KubePodCrashLooping", "namespace": "photos"},
                                    "annotations": {"description": "exec format error"}}});
        let ToolCall::SearchIncidents(s) = parse(SIMILAR_TO_ALERT, Some(args), LIMITS).unwrap() else { panic!() };
        assert_eq!(s.k, SIMILAR_K);
        assert_eq!(s.alert.unwrap().status, "firing");
        assert!(s.text.contains("KubePodCrashLooping"));
        let e = parse(SIMILAR_TO_ALERT, Some(json!({"alert": {"labels": {"severity": "page"}}})), LIMITS).unwrap_err();
        assert_eq!(e.error, "no_alertname");
        assert!(parse(SIMILAR_TO_ALERT, Some(json!({"alert": "KubePodCrashLooping"})), LIMITS).is_err());
    }

    #[test]
    fn wrong_shapes_name_the_tool_and_unknown_tools_list_the_real_ones() {
        let e = parse(GET_INCIDENT, Some(json!({"incident_id": "seven"})), LIMITS).unwrap_err();
        assert!(e.detail.starts_with("get_incident:"), "{e}");
        assert!(parse(GET_INCIDENT, Some(json!([1])), LIMITS).unwrap_err().detail.contains("an array"));
        assert_eq!(parse(ADD_NOTE, Some(json!({"incident_id": 1, "text": "  "})), LIMITS).unwrap_err().error, "empty_note");
        assert!(matches!(parse(STATUS, None, LIMITS), Ok(ToolCall::Status)));
        assert!(parse(STATUS, Some(json!({"verbose": true})), LIMITS).is_err());
        let e = parse("drop_tables", None, LIMITS).unwrap_err();
        assert_eq!(e.error, "unknown_tool");
        assert!(e.detail.contains("search_incidents"));
        assert_eq!(access("drop_tables"), None);
    }

    #[test]
    fn every_tool_has_an_object_schema_and_an_access() {
        for tool in ALL {
            let s = schemas::of(tool, LIMITS);
            assert_eq!(s["type"], "object", "{tool}");
            assert_eq!(s["additionalProperties"], false, "{tool}");
            assert!(access(tool).is_some(), "{tool}");
        }
        assert_eq!(schemas::of(GET_INCIDENT, LIMITS)["required"], json!(["incident_id"]));
    }
}
