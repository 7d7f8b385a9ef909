//! The intake API over real HTTP on loopback, on real SQLite and real Postgres: a 2xx
//! only once stored, resends deduplicated, ingest idempotent, JSON errors with the right
//! status, and a 503 (never a hang or a crash) when the database is gone.
//!
//! The embedder here is a remote one at an address where nothing listens: intake must not
//! depend on it (the webhook never waits for a model).

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use firebreak_gateway::api::ApiLimits;
use firebreak_gateway::app::{EmbedderChoice, Gateway};
use firebreak_gateway::pipeline::embedding::remote::RemoteConfig;
use firebreak_gateway::pipeline::store::{SqlStore, SqlxStore};
use serde_json::{json, Value};

/// Serves the gateway; keep the returned handle alive as long as the URL is used.
async fn serve(store: SqlxStore, data_dir: &std::path::Path) -> (String, Gateway) {
    let mut cfg = common::config(data_dir, "no-model-needed");
    cfg.embedder = EmbedderChoice::Remote {
        cfg: RemoteConfig { url: "http://127.0.0.1:1".into(), model: "nowhere".into(), dim: 384, timeout: Duration::from_secs(1) },
        tokenizer: None,
        max_seq_length: 256,
    };
    cfg.api = ApiLimits { max_body_bytes: 256 * 1024, max_documents_per_ingest: 4, ..ApiLimits::default() };
    let gateway = Gateway::start_with_store(cfg, Arc::new(store)).await.expect("gateway starts without its embedder");
    let app = gateway.router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, gateway)
}

async fn post(url: &str, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn intake_stores_dedups_and_explains_errors(store: SqlxStore) {
    let dir = tempfile::tempdir().unwrap();
    let (url, _gateway) = serve(store.clone(), dir.path()).await;
    let (_, raw) = common::webhook("firing", &[("fp1", "KubePodCrashLooping", "restarting"), ("fp2", "NodeLoad", "load 153")]);
    let (s, v) = post(&url, "/v1/alerts", raw.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v, json!({"alerts": 2, "new": 2, "repeated": 0, "resolved": 0, "held": 0}));
    for _ in 0..9 {
        let (s, v) = post(&url, "/v1/alerts", raw.clone()).await;
        assert_eq!((s, v["new"].as_u64(), v["repeated"].as_u64()), (200, Some(0), Some(2)));
    }
    let backlog = store.backlog(i64::MAX / 2).await.unwrap();
    assert_eq!(backlog.pending + backlog.leased, 2, "ten deliveries of two alerts: two jobs");
    assert_eq!(backlog.done, 0, "the embedder is down: nothing can have been indexed");

    let ingest = json!({"source": "librechat", "run_id": "r1", "documents": [
        {"id": "c1", "text": "the ingest job ran for seven hours", "title": "chat 1", "metadata": {"user": "a"},
         "updated_at": "2026-11-20T10:00:00Z"},
        {"id": "c2", "text": "we should budget the embedder"}
    ]});
    let (s, v) = post(&url, "/v1/ingest", ingest.to_string()).await;
    assert_eq!((s, v.clone()), (202, json!({"accepted": 2, "unchanged": 0, "queued": 2})));
    let (s, v) = post(&url, "/v1/ingest", ingest.to_string()).await;
    assert_eq!((s, v), (202, json!({"accepted": 0, "unchanged": 2, "queued": 0})));

    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("/v1/alerts", "{ nope".into(), 400, "invalid_json"),
        ("/v1/alerts", json!({"status": "firing"}).to_string(), 400, "invalid_json"),
        ("/v1/alerts", common::webhook("firing", &[("", "A", "x")]).1, 422, "invalid"),
        ("/v1/alerts", "x".repeat(300 * 1024), 413, "body_too_large"),
        ("/v1/ingest", json!({"source": "", "run_id": "r", "documents": []}).to_string(), 422, "invalid_document"),
        ("/v1/ingest", json!({"source": "s", "run_id": "r", "documents": [{"id": "a", "text": " "}]}).to_string(), 422, "invalid_document"),
        ("/v1/ingest", json!({"source": "s", "run_id": "r", "documents": [{"id": "a", "text": "t", "updated_at": "yesterday"}]}).to_string(), 422, "invalid_document"),
        ("/v1/ingest", json!({"source": "s", "run_id": "r", "documents": vec![json!({"id": "a", "text": "t"}); 5]}).to_string(), 413, "too_many_documents"),
    ];
    for (path, body, status, code) in cases {
        let (s, v) = post(&url, path, body).await;
        assert_eq!(s, status, "{path}: {v}");
        assert_eq!(v["error"], code, "{path}: {v}");
        assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
    let ready = reqwest::get(format!("{url}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);

    // The database goes away: intake answers 503 with Retry-After at once, readiness
    // fails, liveness still passes, and the process keeps serving.
    store.pool().close().await;
    let (_, raw) = common::webhook("firing", &[("fp3", "X", "y")]);
    let r = reqwest::Client::new().post(format!("{url}/v1/alerts")).body(raw).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "store_unavailable");
    assert_eq!(reqwest::get(format!("{url}/readyz")).await.unwrap().status(), 503);
    assert_eq!(reqwest::get(format!("{url}/healthz")).await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_intake() {
    let (store, _dir, _) = common::sqlite().await;
    intake_stores_dedups_and_explains_errors(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_intake() {
    let (store, _db) = common::postgres().await;
    intake_stores_dedups_and_explains_errors(store).await;
}
