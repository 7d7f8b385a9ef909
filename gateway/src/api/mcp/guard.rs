//! The guards in front of `/mcp`: the REST routes' own, applied per tool.
//!
//! One HTTP route carries every tool, so the scope and the rate a request needs are read
//! from its JSON-RPC body: a `tools/call` of `add_note` needs `notes:write` and spends the
//! notes rate, `answer` needs `answers`, every other tool `search:read` and the query rate;
//! anything else (initialize, listing the tools, ping) needs a valid token of any scope
//! and spends the query rate. The body is read under the same size and time limits as
//! every route's, refusals are counted by the same metrics, and carry the same headers
//! (`Retry-After`, `x-ratelimit-*`, `WWW-Authenticate`), with a JSON-RPC error as the body
//! so an MCP client reports the reason: code `-32000 - status` (`-32401` no token,
//! `-32403` a missing scope, `-32429` over the rate, `-32413` too large).
//!
//! JSON-RPC batches are refused: the protocol dropped them (2025-06-18), and one request
//! must need one scope. So is a browser's `Origin` unless listed (`--mcp-allowed-origins`),
//! before anything else is read.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use firebreak_intake::tools::{self, Access};
use serde_json::{json, Value};

use super::metrics::{Outcome, ToolMetrics};
use crate::api::errors::ApiError;
use crate::auth::{AuthState, Scope};
use crate::guards::body::BodyLimits;
use crate::guards::rate::{Rates, RouteClass};

/// What the guard needs: the REST routes' own guards.
#[derive(Clone)]
pub struct McpGuard {
    pub auth: AuthState,
    pub rates: Rates,
    pub body: BodyLimits,
    pub metrics: ToolMetrics,
    /// `--mcp-allowed-origins`.
    pub allowed_origins: std::sync::Arc<Vec<String>>,
}

impl McpGuard {
    /// A browser's `Origin` not listed: a web page must not drive the tools with whatever
    /// the browser can reach (the protocol asks servers to check it). Agents send none.
    /// rmcp checks the same list again behind this guard.
    fn foreign_origin<'a>(&self, req: &'a Request) -> Option<&'a str> {
        let origin = req.headers().get(axum::http::header::ORIGIN)?;
        let origin = origin.to_str().unwrap_or("(not text)");
        let allowed = self.allowed_origins.iter().any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin));
        (!allowed).then_some(origin)
    }
}

/// What one JSON-RPC message asks, as far as the guards are concerned.
#[derive(Debug, PartialEq)]
pub struct Classified {
    /// The request's id, for the error that answers it (`null` for a notification or an
    /// unreadable body).
    pub id: Value,
    /// The tool a `tools/call` names.
    pub tool: Option<String>,
    /// A batch (a JSON array): refused.
    pub batch: bool,
}

impl Classified {
    /// The scope (`None`: any valid token) and rate class the message needs.
    pub fn needs(&self) -> (Option<Scope>, RouteClass) {
        match self.tool.as_deref().and_then(tools::access) {
            Some(Access::Read) => (Some(Scope::SearchRead), RouteClass::Query),
            Some(Access::WriteNotes) => (Some(Scope::NotesWrite), RouteClass::Notes),
            Some(Access::Answers) => (Some(Scope::Answers), RouteClass::Answers),
            None => (None, RouteClass::Query),
        }
    }
}

/// Reads a body as one JSON-RPC message. Total: a body that is not one (empty for a GET,
/// not JSON) classifies as asking for no tool, and the MCP service answers it.
pub fn classify(body: &[u8]) -> Classified {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if v.is_array() {
        return Classified { id: Value::Null, tool: None, batch: true };
    }
    let id = match &v["id"] {
        id @ (Value::String(_) | Value::Number(_)) => id.clone(),
        _ => Value::Null,
    };
    let tool = (v["method"] == "tools/call").then(|| v["params"]["name"].as_str().map(str::to_owned)).flatten();
    Classified { id, tool, batch: false }
}

/// A refusal in the gateway's shape, answered as a JSON-RPC error with its status and
/// headers kept.
async fn refuse(resp: Response, id: Value) -> Response {
    firebreak_http::reshape_error(resp, move |status, code, detail| {
        json!({"jsonrpc": "2.0", "id": id, "error": {
            "code": -32000 - i64::from(status.as_u16()),
            "message": detail,
            "data": {"status": status.as_u16(), "error": code},
        }})
    })
    .await
}

/// The middleware.
pub async fn guard(State(g): State<McpGuard>, req: Request, next: Next) -> Response {
    if let Some(origin) = g.foreign_origin(&req) {
        g.metrics.origin_refused.inc();
        if let Some(more) = g.metrics.log.due("origin") {
            tracing::warn!(origin, refused_since_last_line = more, "/mcp called from a browser origin not in --mcp-allowed-origins: 403");
        }
        let detail = format!("origin {origin:?} may not call /mcp (--mcp-allowed-origins)");
        return refuse(ApiError::new(StatusCode::FORBIDDEN, "origin_refused", detail).into_response(), Value::Null).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = match g.body.buffer(&parts, body).await {
        Ok(b) => b,
        Err(resp) => return refuse(resp, Value::Null).await,
    };
    let call = classify(&bytes);
    let mut req = Request::from_parts(parts, Body::from(bytes));
    let refused = |tool: &Option<String>| {
        if let Some(t) = tool {
            g.metrics.record(t, Outcome::Refused, None);
        }
    };
    let (scope, class) = call.needs();
    if let Err(resp) = g.auth.admit(&mut req, scope) {
        refused(&call.tool);
        return refuse(resp, call.id).await;
    }
    if call.batch {
        let e = ApiError::new(StatusCode::BAD_REQUEST, "batch_refused", "send one JSON-RPC message per request: batches are not accepted");
        return refuse(e.into_response(), Value::Null).await;
    }
    let allowance = match g.rates.route(class).charge(&req) {
        Ok(a) => a,
        Err(resp) => {
            refused(&call.tool);
            return refuse(resp, call.id).await;
        }
    };
    let mut resp = next.run(req).await;
    allowance.stamp(resp.headers_mut());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_call_needs_its_routes_scope_and_everything_else_a_token() {
        let c = classify(br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"add_note","arguments":{}}}"#);
        assert_eq!((c.id.clone(), c.tool.as_deref()), (json!(7), Some("add_note")));
        assert_eq!(c.needs(), (Some(Scope::NotesWrite), RouteClass::Notes));
        let c = classify(br#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"answer"}}"#);
        assert_eq!(c.needs(), (Some(Scope::Answers), RouteClass::Answers));
        let c = classify(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
        assert_eq!(c.needs(), (None, RouteClass::Query));
        for odd in [&b""[..], b"not json", br#"{"method":"tools/call","params":{"name":7}}"#, br#"{"id":{"x":1}}"#] {
            let c = classify(odd);
            assert_eq!((c.id, c.tool, c.batch), (Value::Null, None, false));
        }
        assert!(classify(br#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]"#).batch);
    }
}
