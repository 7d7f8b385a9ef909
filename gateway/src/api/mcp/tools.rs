//! The tools: what an agent may ask of the incident memory, each a thin adapter over the
//! query services (search, answer, incidents, status), never the store or the index.
//!
//! Every result is structured JSON (the REST route's body, so a script and an agent read
//! the same fields) plus a short text an agent can quote. A call the service could not
//! serve (bad arguments, no such incident, the store down) is a result marked `isError`
//! with the reason, as the protocol asks, so the model can correct itself; a name that is
//! no tool is a protocol error.

use std::sync::Arc;
use std::time::Instant;

use firebreak_intake::search::SearchLimits;
use firebreak_intake::tools::{self, schemas, Access, ToolCall};
use firebreak_intake::Rejection;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{json, Value};

use super::metrics::{Outcome, ToolMetrics};
use crate::auth::{Principal, Scope};
use crate::query::answer::{AnswerError, AnswerEvent, AnswerRequest, Answerer};
use crate::query::incidents::{IncidentDetail, Incidents, NoteError};
use crate::query::search::{Query, SearchError, SearchResponse, Searcher};
use crate::query::status::StatusReport;

/// What each tool does and does not do, for the model choosing among them: an agent wastes
/// calls on a tool it misunderstands.
fn description(tool: &str) -> &'static str {
    match tool {
        tools::SEARCH_INCIDENTS => {
            "Search past incidents (alerts that fired before, with what people noted fixed them) by a text question or an \
             Alertmanager alert. Returns ranked incidents with relevance (0-1; below 0.3 means no good match), why each \
             matched, its notes and its other occurrences. Read-only. Searches incidents only: use search_documents for \
             runbooks. When the embedding model is unavailable the search runs on keywords alone and says so (degraded)."
        }
        tools::SIMILAR_TO_ALERT => {
            "Given a firing alert (its labels, alertname at least, and annotations), find past incidents with the same \
             root cause, including ones that fired under another alertname, and what fixed them (their notes). Read-only. \
             Prefer this to search_incidents when you have the alert itself."
        }
        tools::GET_INCIDENT => {
            "Fetch one past incident by id (as search results give it): its labels, annotations, times, every note \
             (what was wrong, what fixed it) and the other occurrences of the same alert. Read-only; does not search."
        }
        tools::SEARCH_DOCUMENTS => {
            "Search ingested documents (runbooks, postmortems, wiki pages, chat exports) by a text question. Returns \
             ranked passages with relevance (0-1) and where each document came from. Read-only. Does not search incidents."
        }
        tools::ADD_NOTE => {
            "Record on a past incident what was wrong and what fixed it, so the next search for this problem finds the \
             fix. Writes: needs the notes:write scope. Does not change the incident's status or silence any alert."
        }
        tools::STATUS => {
            "Firebreak's own health: embedding queues, the outbox backlog, dependency breakers, node pressure, alert \
             storm mode, and whether searches are degraded right now. Read-only; says nothing about the cluster's alerts."
        }
        tools::ANSWER => {
            "Answer an operations question (or a pasted alert) in prose from past incidents and runbooks, citing them. \
             Slower than search (a language model writes it; up to two minutes on a small node) and may come back \
             extractive (quoted from the search results) when the model is busy. Read-only."
        }
        _ => "",
    }
}

fn scope(access: Access) -> Scope {
    match access {
        Access::Read => Scope::SearchRead,
        Access::WriteNotes => Scope::NotesWrite,
        Access::Answers => Scope::Answers,
    }
}

/// The tool server, one per request (stateless): cheap to clone.
#[derive(Clone)]
pub struct Tools {
    pub searcher: Arc<Searcher>,
    pub answerer: Arc<Answerer>,
    pub incidents: Arc<Incidents>,
    pub status: Arc<StatusReport>,
    pub limits: SearchLimits,
    pub metrics: ToolMetrics,
}

/// Who is calling: the guard in front authenticated the request and put its principal
/// in the HTTP request, which rmcp hands on as the request's parts.
fn principal(ctx: &RequestContext<RoleServer>) -> Principal {
    ctx.extensions
        .get::<axum::http::request::Parts>()
        .and_then(|p| p.extensions.get::<Principal>())
        .cloned()
        .unwrap_or_else(Principal::anonymous)
}

fn tool(name: &'static str, limits: SearchLimits) -> Tool {
    let Value::Object(schema) = schemas::of(name, limits) else { unreachable!("every schema is an object") };
    let mut t = Tool::new(name, description(name), schema);
    let read_only = tools::access(name) != Some(Access::WriteNotes);
    t.annotations = Some(ToolAnnotations::from_raw(None, Some(read_only), Some(false), Some(read_only), Some(false)));
    t
}

/// A refusal of the arguments, as a result the model can read and correct.
fn rejected(r: Rejection) -> CallToolResult {
    error(r.error, &r.detail)
}

fn error(code: &str, detail: &str) -> CallToolResult {
    let mut r = CallToolResult::structured_error(json!({"error": code, "detail": detail}));
    r.content = vec![ContentBlock::text(format!("{code}: {detail}"))];
    r
}

fn ok(structured: Value, text: String) -> CallToolResult {
    let mut r = CallToolResult::structured(structured);
    r.content = vec![ContentBlock::text(text)];
    r
}

fn search_failed(e: SearchError) -> CallToolResult {
    error("search_unavailable", &format!("{e}; try again shortly"))
}

impl Tools {
    /// The tools this caller's token may use: an agent is not shown what it cannot call.
    fn visible(&self, who: &Principal) -> Vec<Tool> {
        tools::ALL
            .into_iter()
            .filter(|t| tools::access(t).is_some_and(|a| who.may(scope(a))))
            .map(|t| tool(t, self.limits))
            .collect()
    }

    async fn run(&self, call: ToolCall, who: &Principal) -> CallToolResult {
        match call {
            ToolCall::SearchIncidents(s) | ToolCall::SearchDocuments(s) => {
                let q = Query { text: s.text, alert: s.alert, k: s.k, filter: s.filter, mode: s.mode, source: who.source.clone() };
                match self.searcher.search(&q).await {
                    Ok(r) => ok(serde_json::to_value(&r).unwrap_or(Value::Null), render::search(&r)),
                    Err(e) => search_failed(e),
                }
            }
            ToolCall::GetIncident { incident_id } => match self.incidents.get(incident_id).await {
                Ok(Some(d)) => ok(serde_json::to_value(&d).unwrap_or(Value::Null), render::incident(&d)),
                Ok(None) => error("not_found", &format!("there is no incident {incident_id}")),
                Err(e) => error("store_unavailable", &format!("{e}; try again shortly")),
            },
            ToolCall::AddNote { incident_id, text, author } => {
                match self.incidents.add_note(&who.source, incident_id, author.as_deref(), &text).await {
                    Ok(n) => ok(
                        json!({"incident_id": incident_id, "note": n}),
                        format!("Note {} added to incident {incident_id}; searches find it once it is indexed (seconds).", n.id),
                    ),
                    Err(NoteError::Empty) => error("empty_note", "a note needs text"),
                    Err(NoteError::Store(crate::pipeline::store::StoreError::NotFound(d))) => error("not_found", &d),
                    Err(NoteError::Store(e)) => error("store_unavailable", &format!("{e}; the note was not stored, try again")),
                }
            }
            ToolCall::Status => {
                let report = self.status.report().await;
                let text = render::status(&report);
                ok(report, text)
            }
            ToolCall::Answer { question } => self.answer(question, who).await,
        }
    }

    async fn answer(&self, question: String, who: &Principal) -> CallToolResult {
        let ask = AnswerRequest {
            turns: vec![("user".into(), question)],
            source: who.source.clone(),
            extractive: false,
            max_tokens: None,
            temperature: None,
        };
        let mut events = match self.answerer.answer(ask).await {
            Ok(ev) => ev,
            Err(AnswerError::Refused(r)) => return error("llm_unavailable", &r.detail),
            Err(e @ (AnswerError::BadRequest(_) | AnswerError::TooLarge { .. })) => return error("bad_question", &e.to_string()),
        };
        let mut text = String::new();
        while let Some(e) = events.recv().await {
            match e {
                AnswerEvent::Text(t) => text.push_str(&t),
                AnswerEvent::End { meta, finish, .. } => {
                    let structured = json!({"answer": text, "finish_reason": finish, "firebreak": *meta});
                    return ok(structured, text);
                }
            }
        }
        error("shutting_down", "the gateway is stopping; ask again")
    }
}

impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("firebreak", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Firebreak is the incident memory of a Kubernetes cluster: every alert that fired, what people noted fixed \
                 it, and ingested runbooks. Ask it \"have we seen this before, and what fixed it?\": similar_to_alert with \
                 the firing alert, or search_incidents with a question; get_incident for the full record; add_note to \
                 record a fix. Results carry a relevance (0-1); below 0.3 nothing matched well.",
            )
    }

    async fn list_tools(&self, _: Option<PaginatedRequestParams>, ctx: RequestContext<RoleServer>) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.visible(&principal(&ctx))))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        tools::ALL.into_iter().find(|t| *t == name).map(|t| tool(t, self.limits))
    }

    async fn call_tool(&self, req: CallToolRequestParams, ctx: RequestContext<RoleServer>) -> Result<CallToolResponse, ErrorData> {
        let name = req.name.to_string();
        let Some(access) = tools::access(&name) else {
            self.metrics.record(&name, Outcome::Error, None);
            return Err(ErrorData::invalid_params(format!("there is no tool {name:?}; the tools are {}", tools::ALL.join(", ")), None));
        };
        let who = principal(&ctx);
        // The guard checked this scope from the same request body; checked again here so
        // a tool can never run on a path that skipped the guard.
        if !who.may(scope(access)) {
            self.metrics.record(&name, Outcome::Refused, None);
            return Err(ErrorData::invalid_request(format!("source {:?} lacks the {} scope for {name}", who.source, scope(access).as_str()), None));
        }
        let started = Instant::now();
        let result = match tools::parse(&name, req.arguments.map(Value::Object), self.limits) {
            Ok(call) => self.run(call, &who).await,
            Err(r) => rejected(r),
        };
        let outcome = if result.is_error == Some(true) { Outcome::Error } else { Outcome::Ok };
        self.metrics.record(&name, outcome, Some(started.elapsed()));
        Ok(result.into())
    }
}

/// The short texts.
mod render {
    use std::fmt::Write;

    use super::*;

    fn first_line(s: &str, max: usize) -> String {
        let line = s.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        match line.char_indices().nth(max) {
            Some((i, _)) => format!("{}…", &line[..i]),
            None => line.to_owned(),
        }
    }

    pub fn search(r: &SearchResponse) -> String {
        let mut out = String::new();
        let _ = write!(out, "{} result(s), {} search", r.results.len(), serde_json::to_value(r.mode).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default());
        if r.degraded {
            let _ = write!(out, ", degraded: {}", r.degraded_reason.as_deref().unwrap_or("the embedder was unavailable"));
        }
        out.push('\n');
        for (i, h) in r.results.iter().enumerate() {
            let title = h.title.as_deref().unwrap_or("(untitled)");
            let _ = write!(out, "{}. [{} {}] {title} (relevance {:.2})", i + 1, h.kind.as_str(), h.id, h.relevance);
            if let Some(inc) = &h.incident {
                let _ = write!(out, " {}, {}", inc.head.status, inc.head.namespace.as_deref().unwrap_or("-"));
                // The latest few notes: what fixed it, and whether it held.
                for n in inc.notes.iter().rev().take(3).rev() {
                    let _ = write!(out, "\n   noted: {}", first_line(&n.text, 200));
                }
            } else {
                let _ = write!(out, "\n   {}", first_line(&h.snippet, 200));
            }
            out.push('\n');
        }
        if r.results.is_empty() {
            out.push_str("Nothing matched.\n");
        }
        out
    }

    pub fn incident(d: &IncidentDetail) -> String {
        let h = &d.incident.head;
        let mut out = format!(
            "Incident {}: {} ({}), namespace {}, {} time(s) notified, {} other occurrence(s)\n",
            h.id,
            h.alertname,
            h.status,
            h.namespace.as_deref().unwrap_or("-"),
            h.times_notified,
            d.history.len()
        );
        if let Some(s) = d.incident.annotations.get("summary").and_then(Value::as_str) {
            let _ = writeln!(out, "summary: {}", first_line(s, 300));
        }
        for n in &d.incident.notes {
            let _ = writeln!(out, "note by {}: {}", n.author.as_deref().unwrap_or("someone"), first_line(&n.text, 300));
        }
        if d.incident.notes.is_empty() {
            out.push_str("No notes: nobody recorded what fixed it.\n");
        }
        out
    }

    pub fn status(report: &Value) -> String {
        let degraded: Vec<&str> = report["degraded"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        let mut out =
            if degraded.is_empty() { "Firebreak is healthy: nothing degraded.\n".to_owned() } else { format!("Degraded: {}\n", degraded.join("; ")) };
        let _ = writeln!(out, "pressure {}, storm {}", report["pressure"].as_str().unwrap_or("?"), report["storm"]["on"].as_bool().unwrap_or(false));
        if let Some(b) = report["breakers"].as_object() {
            let states: Vec<String> = b.iter().map(|(k, v)| format!("{k} {}", v.as_str().unwrap_or("?"))).collect();
            let _ = writeln!(out, "breakers: {}", states.join(", "));
        }
        out
    }
}
