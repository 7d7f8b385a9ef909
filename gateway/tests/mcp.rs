//! `/mcp` on the wire, with the gateway's real HTTP stack and no embedder (the searches run
//! on keywords and say so): the guards of the REST routes per tool — a token for anything,
//! the tool's scope, the tool's rate class with the same headers — refusals as JSON-RPC
//! errors keeping their status, browsers' origins and batches refused, bad arguments a
//! result the model can read. The official MCP Python SDK drives every tool end to end
//! against the real binary (clients/test_mcp.py).

use crate::common;

use std::sync::Arc;

use firebreak_gateway::api::{Rate, RateLimits};
use firebreak_gateway::app::Gateway;
use firebreak_gateway::auth::Tokens;
use serde_json::{json, Value};

const ADMIN: &str = "admin-token-0a1b2c3d4e5f";
const READER: &str = "reader-token-9f8e7d6c5b";

async fn serve(notes_rate: Rate) -> (String, Gateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::config(dir.path(), "unused");
    cfg.embedder = common::nowhere_embedder();
    cfg.tokens = Arc::new(
        Tokens::parse(&format!(
            "admin alerts:write,search:read,notes:write,answers {ADMIN}\nreader search:read {READER}"
        ))
        .unwrap(),
    );
    cfg.api.rates = RateLimits { notes: Some(notes_rate), ..RateLimits::unlimited() };
    let (url, gw) = common::serve_gateway(cfg).await;
    (url, gw, dir)
}

/// One JSON-RPC message to `/mcp`: status, headers, body.
async fn rpc(url: &str, token: Option<&str>, body: Value, extra: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut r = reqwest::Client::new()
        .post(format!("{url}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .body(body.to_string());
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    for (k, v) in extra {
        r = r.header(*k, *v);
    }
    let r = r.send().await.unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    let text = r.text().await.unwrap();
    // A JSON answer, or the first SSE data line.
    let json = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap_or(&text);
    (status, headers, serde_json::from_str(json).unwrap_or(Value::Null))
}

fn call(id: u64, tool: &str, args: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": args}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tool_call_passes_its_routes_guards_and_refusals_are_json_rpc_errors() {
    let (url, _gw, _dir) = serve(Rate::new(60, 2)).await;
    let (_, hook) = common::webhook("firing", &[("fp-mcp", "KubePodCrashLooping", "Pod photos/immich-ml-0: exec format error")]);
    let r = common::http::call(reqwest::Method::POST, format!("{url}/v1/alerts"), Some(ADMIN), Some(hook)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Keyword-indexed within a poll of the outbox, embedder or not.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let search = json!({"query": "exec format error", "mode": "keyword"}).to_string();
    while common::http::call(reqwest::Method::POST, format!("{url}/v1/search"), Some(ADMIN), Some(search.clone())).await.body["results"]
        .as_array()
        .is_none_or(|r| r.is_empty())
    {
        assert!(std::time::Instant::now() < deadline, "the alert was never indexed by its keywords");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // No token: 401 with the challenge, a JSON-RPC error answering the request's id.
    let (s, h, v) = rpc(&url, None, json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}), &[]).await;
    assert_eq!((s, v["id"].clone(), v["error"]["code"].clone()), (401, json!(1), json!(-32401)), "{v}");
    assert!(h.get("www-authenticate").is_some());

    // Listing needs a token of any scope, and shows only what the token may call.
    let (s, _, v) = rpc(&url, Some(READER), json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}), &[]).await;
    assert_eq!(s, 200, "{v}");
    let names: Vec<&str> = v["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"search_incidents") && !names.contains(&"add_note") && !names.contains(&"answer"), "{names:?}");

    // A tool beyond the token's scopes: 403, naming the scope.
    let (s, _, v) = rpc(&url, Some(READER), call(3, "add_note", json!({"incident_id": 1, "text": "x"})), &[]).await;
    assert_eq!((s, v["error"]["code"].clone()), (403, json!(-32403)), "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("notes:write"), "{v}");

    // A search works without an embedder, on keywords, and says so.
    let (s, h, v) = rpc(&url, Some(READER), call(4, "search_incidents", json!({"query": "exec format error"})), &[]).await;
    assert_eq!(s, 200, "{v}");
    let res = &v["result"];
    assert_eq!(res["isError"], false, "{v}");
    assert_eq!(res["structuredContent"]["degraded"], true, "{v}");
    assert_eq!(res["structuredContent"]["results"][0]["kind"], "incident", "{v}");
    assert!(res["content"][0]["text"].as_str().unwrap().contains("degraded"), "{v}");
    assert!(h.get("x-ratelimit-limit").is_none(), "the query rate is unlimited here");

    // Bad arguments: a result marked isError that names the tool; an unknown tool: a protocol error.
    let (_, _, v) = rpc(&url, Some(READER), call(5, "get_incident", json!({"incident_id": "seven"})), &[]).await;
    assert_eq!(v["result"]["isError"], true, "{v}");
    assert!(v["result"]["content"][0]["text"].as_str().unwrap().contains("get_incident"), "{v}");
    let (_, _, v) = rpc(&url, Some(READER), call(6, "drop_tables", json!({})), &[]).await;
    assert!(v["error"]["message"].as_str().unwrap().contains("search_incidents"), "{v}");

    // The notes rate (burst 2) applies to add_note, with the REST headers.
    let id = common::http::call(reqwest::Method::GET, format!("{url}/v1/incidents"), Some(ADMIN), None).await.body["incidents"][0]["id"]
        .as_i64()
        .unwrap();
    let note = |n: u64| call(10 + n, "add_note", json!({"incident_id": id, "text": format!("fix {n}")}));
    for n in 0..2 {
        let (s, h, v) = rpc(&url, Some(ADMIN), note(n), &[]).await;
        assert_eq!((s, v["result"]["isError"].clone()), (200, json!(false)), "{v}");
        assert!(h.get("x-ratelimit-remaining").is_some());
    }
    let (s, h, v) = rpc(&url, Some(ADMIN), note(2), &[]).await;
    assert_eq!((s, v["id"].clone(), v["error"]["data"]["error"].clone()), (429, json!(12), json!("rate_limited")), "{v}");
    assert!(h.get("retry-after").is_some() && h.get("x-ratelimit-reset").is_some());
    let m = common::http::metrics(&url).await;
    for needle in [
        "firebreak_auth_denied_total{reason=\"missing\"} 1",
        "firebreak_auth_denied_total{reason=\"scope\"} 1",
        "firebreak_rate_limited_total{route=\"notes\",source=\"admin\"} 1",
        "firebreak_mcp_tool_calls_total{tool=\"add_note\",outcome=\"refused\"} 2",
        "firebreak_mcp_tool_calls_total{tool=\"add_note\",outcome=\"ok\"} 2",
        "firebreak_mcp_tool_calls_total{tool=\"get_incident\",outcome=\"error\"} 1",
        "firebreak_mcp_tool_duration_seconds_count{tool=\"search_incidents\"} 1",
    ] {
        assert!(m.contains(needle), "{needle} missing from\n{m}");
    }
    let notes = common::http::call(reqwest::Method::GET, format!("{url}/v1/incidents/{id}"), Some(ADMIN), None).await.body;
    assert_eq!(notes["notes"].as_array().unwrap().len(), 2, "{notes}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_and_batches_are_refused() {
    let (url, _gw, _dir) = serve(Rate::new(60, 20)).await;
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let (s, _, _) = rpc(&url, Some(READER), list.clone(), &[("origin", "https://evil.example.com")]).await;
    assert_eq!(s, 403, "a web page must not drive the tools");
    let (s, _, v) = rpc(&url, Some(READER), json!([list]), &[]).await;
    assert_eq!((s, v["error"]["data"]["error"].clone()), (400, json!("batch_refused")), "{v}");
}
