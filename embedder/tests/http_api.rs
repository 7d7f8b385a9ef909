//! The OpenAI-compatible service, over real HTTP on loopback.

use crate::common;


use base64::Engine as _;
use firebreak_embedder::http::{router, AppState, HttpLimits};
use firebreak_embedder::pooling::cosine;
use firebreak_embedder::{EngineConfig, Embedder};
use prometheus_client::registry::Registry;
use serde_json::{json, Value};

async fn serve(f: impl FnOnce(&mut EngineConfig), limits: HttpLimits) -> String {
    let mut cfg = EngineConfig::new(common::model_dir());
    cfg.cpu_threads = Some(1);
    f(&mut cfg);
    let mut registry = Registry::default();
    let embedder = Embedder::start(cfg, &mut registry).unwrap();
    let state = AppState::new(embedder, None, registry, limits);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(state)).await.unwrap() });
    url
}

async fn post(url: &str, body: impl Into<reqwest::Body>) -> (u16, reqwest::header::HeaderMap, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{url}/v1/embeddings"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let v = resp.json().await.unwrap_or(Value::Null);
    (status, headers, v)
}

fn assert_error(v: &Value, code: &str) {
    assert_eq!(v["error"], code, "{v}");
    assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_endpoint_speaks_openai() {
    let reference = common::reference();
    let fox = &reference.cases[0];
    let url = serve(|_| {}, HttpLimits::default()).await;

    let (status, _, v) = post(&url, json!({"input": fox.text, "model": "x"}).to_string()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["object"], "embedding");
    assert_eq!(v["usage"]["prompt_tokens"], 12);
    let got: Vec<f32> = serde_json::from_value(v["data"][0]["embedding"].clone()).unwrap();
    assert!(cosine(&got, &fox.embedding) >= 0.9999);

    let texts: Vec<&str> = reference.cases.iter().take(4).map(|c| c.text.as_str()).collect();
    let (status, _, v) = post(&url, json!({"input": texts, "encoding_format": "base64"}).to_string()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"].as_array().unwrap().len(), 4);
    for (i, case) in reference.cases.iter().take(4).enumerate() {
        assert_eq!(v["data"][i]["index"], i);
        let bytes = base64::engine::general_purpose::STANDARD.decode(v["data"][i]["embedding"].as_str().unwrap()).unwrap();
        let vec: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        assert!(cosine(&vec, &case.embedding) >= 0.9999);
    }

    let client = reqwest::Client::new();
    assert_eq!(client.get(format!("{url}/healthz")).send().await.unwrap().status(), 200);
    let metrics = client.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
    for m in ["firebreak_embedder_queue_depth", "firebreak_embedder_batch_size", "firebreak_embedder_inference_seconds", "firebreak_embedder_cpu_threads 1"] {
        assert!(metrics.contains(m), "metrics lack {m}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_json_errors_with_the_right_status() {
    let limits = HttpLimits { max_request_bytes: 64 * 1024, max_inputs: 8, ..HttpLimits::default() };
    let url = serve(|c| c.max_queue_texts = 4, limits).await;

    let (s, _, v) = post(&url, "{ nope").await;
    assert_eq!(s, 400);
    assert_error(&v, "invalid_json");
    let (s, _, v) = post(&url, json!({"input": [1, 2, 3]}).to_string()).await;
    assert_eq!(s, 400);
    assert_error(&v, "invalid_json");
    let (s, _, v) = post(&url, json!({"input": ""}).to_string()).await;
    assert_eq!(s, 422);
    assert_error(&v, "empty_input");
    let (s, _, v) = post(&url, json!({"input": []}).to_string()).await;
    assert_eq!(s, 422);
    assert_error(&v, "empty_input");
    let (s, _, v) = post(&url, json!({"input": "a", "encoding_format": "int8"}).to_string()).await;
    assert_eq!(s, 422);
    assert_error(&v, "bad_encoding_format");
    let (s, _, v) = post(&url, json!({"input": vec!["a"; 9]}).to_string()).await;
    assert_eq!(s, 422);
    assert_error(&v, "too_many_inputs");
    let (s, _, v) = post(&url, json!({"input": "x".repeat(100 * 1024)}).to_string()).await;
    assert_eq!(s, 413);
    assert_error(&v, "body_too_large");

    // More texts than the queue holds: refused whole, with a time to come back.
    let (s, h, v) = post(&url, json!({"input": vec!["a"; 5]}).to_string()).await;
    assert_eq!(s, 503);
    assert_error(&v, "overloaded");
    let after: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(after >= 1);

    let resp = reqwest::Client::new()
        .post(format!("{url}/v1/embeddings"))
        .header("x-firebreak-priority", "urgent!!")
        .body(json!({"input": "a"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // The service still answers after all that, and counted every refusal.
    let (s, _, _) = post(&url, json!({"input": "still here"}).to_string()).await;
    assert_eq!(s, 200);
    let metrics = reqwest::get(format!("{url}/metrics")).await.unwrap().text().await.unwrap();
    for reason in ["invalid_json", "too_many_inputs", "body_too_large", "queue_full", "bad_priority"] {
        assert!(metrics.contains(&format!("firebreak_embedder_rejected_total{{reason=\"{reason}\"}}")), "no count for {reason}");
    }
    // And in the RED metrics, by route and status, with the build running.
    for (status, n) in [(200, 1), (400, 3), (413, 1), (422, 4), (503, 1)] {
        let line = format!("firebreak_http_requests_total{{route=\"/v1/embeddings\",method=\"POST\",status=\"{status}\"}} {n}");
        assert!(metrics.lines().any(|l| l == line), "no {line} in:\n{metrics}");
    }
    assert!(metrics.contains(r#"firebreak_http_request_duration_seconds_count{route="/v1/embeddings"} 10"#), "{metrics}");
    assert!(metrics.contains(r#"firebreak_build_info{version=""#), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_in_flight_limit_are_shed_but_probes_still_answer() {
    let limits = HttpLimits { max_concurrent_requests: 1, ..HttpLimits::default() };
    let url = serve(|c| c.cpu_threads = Some(1), limits).await;
    // One slow request holds the only slot: a big batch of long texts.
    let long = "node02 load average 153 on 16 cores, probes failing. ".repeat(30);
    let slow = tokio::spawn({
        let url = url.clone();
        async move { post(&url, json!({"input": vec![long; 16]}).to_string()).await.0 }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (s, h, v) = post(&url, json!({"input": "me too"}).to_string()).await;
    assert_eq!(s, 503, "{v}");
    assert_error(&v, "too_many_requests_in_flight");
    assert!(h.contains_key("retry-after"));
    let health = reqwest::get(format!("{url}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200, "liveness is never shed");
    assert_eq!(slow.await.unwrap(), 200, "the request holding the slot completes");
}
