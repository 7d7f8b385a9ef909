//! The query API's contract, in-process on the real model: JSON errors with the right
//! status for every kind of bad request, the OpenAI-compatible `/v1/embeddings`, and a
//! search that degrades to keywords (instead of hanging) when the embedder hangs.

use crate::common;

use std::time::{Duration, Instant};

use firebreak_gateway::app::EmbedderChoice;
use firebreak_gateway::pipeline::embedding::remote::RemoteConfig;
use serde_json::{json, Value};

async fn call(method: reqwest::Method, url: String, body: Option<String>) -> (u16, Value) {
    let mut r = reqwest::Client::new().request(method, url).header("content-type", "application/json");
    if let Some(b) = body {
        r = r.body(b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_json_errors_and_embeddings_work() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::one_core_gateway(dir.path());
    let (url, _gw) = common::serve_gateway(cfg).await;
    use reqwest::Method as M;
    let cases: Vec<(M, &str, Option<String>, u16, &str)> = vec![
        (M::POST, "/v1/search", Some("{".into()), 400, "invalid_json"),
        (M::POST, "/v1/search", Some(json!({"k": 3}).to_string()), 422, "bad_query"),
        (M::POST, "/v1/search", Some(json!({"query": "a", "alert": {"status": "firing"}}).to_string()), 422, "bad_query"),
        (M::POST, "/v1/search", Some(json!({"query": "  "}).to_string()), 422, "empty_query"),
        (M::POST, "/v1/search", Some(json!({"query": "x".repeat(9000)}).to_string()), 413, "query_too_large"),
        (M::POST, "/v1/search", Some(json!({"query": "a", "k": 0}).to_string()), 422, "bad_k"),
        (M::POST, "/v1/search", Some(json!({"query": "a", "k": 51}).to_string()), 422, "bad_k"),
        (M::POST, "/v1/search", Some(json!({"query": "a", "mode": "psychic"}).to_string()), 400, "invalid_json"),
        (M::POST, "/v1/search", Some(json!({"query": "a", "kinds": ["email"]}).to_string()), 400, "invalid_json"),
        (M::POST, "/v1/search", Some(json!({"query": "a", "filter": {"since": "last week"}}).to_string()), 422, "bad_since"),
        (M::POST, "/v1/search", Some(json!({"query": "a", "filter": {"colour": "red"}}).to_string()), 400, "invalid_json"),
        (M::GET, "/v1/incidents?limit=0", None, 422, "bad_limit"),
        (M::GET, "/v1/incidents?limit=many", None, 400, "bad_query_string"),
        (M::GET, "/v1/incidents?status=burning", None, 422, "bad_status"),
        (M::GET, "/v1/incidents?cursor=abc", None, 422, "bad_cursor"),
        (M::GET, "/v1/incidents?since=yesterday", None, 422, "bad_since"),
        (M::GET, "/v1/incidents/77", None, 404, "not_found"),
        (M::GET, "/v1/incidents/seven", None, 400, "bad_incident_id"),
        (M::POST, "/v1/incidents/77/notes", Some(json!({"text": "fixed"}).to_string()), 404, "not_found"),
        (M::POST, "/v1/incidents/77/notes", Some(json!({"text": " "}).to_string()), 422, "empty_note"),
        (M::POST, "/v1/embeddings", Some(json!({"input": []}).to_string()), 422, "empty_input"),
        (M::POST, "/v1/embeddings", Some(json!({"input": vec!["a"; 65]}).to_string()), 422, "too_many_inputs"),
        (M::POST, "/v1/embeddings", Some(json!({"input": [""]}).to_string()), 422, "invalid_input"),
        (M::GET, "/v2/nothing", None, 404, "not_found"),
    ];
    for (method, path, body, status, code) in cases {
        let (s, v) = call(method.clone(), format!("{url}{path}"), body).await;
        assert_eq!((s, v["error"].as_str()), (status, Some(code)), "{method} {path}: {v}");
        assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{path}: {v}");
    }

    let (s, v) = call(M::POST, format!("{url}/v1/embeddings"), Some(json!({"input": ["disk full", "node not ready"]}).to_string())).await;
    assert_eq!(s, 200, "{v}");
    let e = v["data"][1]["embedding"].as_array().unwrap();
    assert_eq!(e.len(), 384);
    let norm: f64 = e.iter().map(|x| x.as_f64().unwrap().powi(2)).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3);
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 2);

    // The OpenAPI document covers every route the router serves.
    let (s, v) = call(M::GET, format!("{url}/openapi.json"), None).await;
    assert_eq!(s, 200);
    for path in ["/v1/alerts", "/v1/ingest", "/v1/search", "/v1/incidents", "/v1/incidents/{id}", "/v1/incidents/{id}/notes", "/v1/embeddings", "/v1/status", "/v1/chat/completions", "/v1/models", "/mcp", "/healthz", "/readyz", "/metrics"] {
        assert!(v["paths"][path].is_object(), "{path} missing from /openapi.json");
    }
    assert!(v["components"]["schemas"]["SearchResponse"].is_object());

    let (s, v) = call(M::GET, format!("{url}/v1/status"), None).await;
    assert_eq!(s, 200);
    assert_eq!(v["dependencies"]["index"]["backend"], common::index_backend(), "{v}");
    assert_eq!(v["scheduler"]["concurrency"], 1, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_degrades_to_keywords_when_the_embedder_hangs() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::config(dir.path(), "unused");
    cfg.embedder = EmbedderChoice::Remote {
        cfg: RemoteConfig { url: common::http::hung_embedder().await, model: "hung".into(), dim: 384, timeout: Duration::from_secs(30) },
        tokenizer: None,
        max_seq_length: 256,
    };
    cfg.search_embed_timeout = Duration::from_millis(300);
    cfg.api.max_concurrent_requests = 1;
    let (url, _gw) = common::serve_gateway(cfg).await;
    let (_, raw) = common::webhook("firing", &[("fp1", "KubePodCrashLooping", "restarting")]);
    let t = Instant::now();
    let (s, _) = call(reqwest::Method::POST, format!("{url}/v1/alerts"), Some(raw)).await;
    assert_eq!(s, 200);
    assert!(t.elapsed() < Duration::from_secs(5), "intake waited on the embedder: {:?}", t.elapsed());

    let t = Instant::now();
    let (s, v) = call(reqwest::Method::POST, format!("{url}/v1/search"), Some(json!({"query": "crash looping pod"}).to_string())).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!((v["mode"].as_str(), v["degraded"].as_bool()), (Some("keyword"), Some(true)), "{v}");
    assert!(v["degraded_reason"].as_str().unwrap().contains("no embedding within"), "{v}");
    assert!(t.elapsed() < Duration::from_secs(5), "search waited on a hung embedder: {:?}", t.elapsed());

    let (s, v) = call(reqwest::Method::POST, format!("{url}/v1/search"), Some(json!({"query": "x", "mode": "keyword"}).to_string())).await;
    assert_eq!((s, v["degraded"].as_bool()), (200, Some(false)), "keyword asked for is not degraded: {v}");

    // A request stuck on the hung embedder holds the only in-flight slot: the next one is
    // shed at once with 503 + Retry-After, and the probes still answer.
    let stuck = tokio::spawn(call(reqwest::Method::POST, format!("{url}/v1/embeddings"), Some(json!({"input": "x"}).to_string())));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = reqwest::Client::new().post(format!("{url}/v1/search")).body(json!({"query": "x"}).to_string()).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "too_many_requests_in_flight");
    assert_eq!(reqwest::get(format!("{url}/healthz")).await.unwrap().status(), 200);
    let metrics = reqwest::get(format!("{url}/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("firebreak_http_shed_total 1"), "{metrics}");
    stuck.abort();
}
