//! Each request guard made to act over real HTTP, on a real SQLite store, through the
//! production accept loop: per-source rate limits, content shape limits, slow clients,
//! the ingest run deadline and bulk admission. Each test checks what a client and an
//! operator see: status, error code, headers, metric.
//!
//! The embedder is an address where nothing listens: none of these guards may need it.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use firebreak_gateway::api::{Rate, RateLimits};
use firebreak_gateway::app::GatewayConfig;
use firebreak_gateway::auth::Tokens;
use firebreak_gateway::guards::budget::{Allowance, BudgetLimits};
use serde_json::{json, Value};
use common::http::{call, metrics, wait_for_metric};
use common::write_psi as psi;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ALICE: &str = "alice-token-0123456789";
const BOB: &str = "bob-token-0123456789ab";

fn config(dir: &std::path::Path) -> GatewayConfig {
    let mut cfg = common::config(dir, "unused");
    cfg.embedder = common::nowhere_embedder();
    cfg.indexer.poll_interval = Duration::from_millis(50);
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_per_source_and_route_with_headers_and_alerts_get_503() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.tokens = Arc::new(
        Tokens::parse(&format!("alice search:read,alerts:write {ALICE}\nbob search:read,alerts:write {BOB}")).unwrap(),
    );
    cfg.api.rates = RateLimits { query: Some(Rate::new(6, 3)), alerts: Some(Rate::new(6, 2)), ..RateLimits::unlimited() };
    let (url, _gw) = common::serve_gateway(cfg).await;
    let search = || call(reqwest::Method::POST, format!("{url}/v1/search"), Some(ALICE), Some(json!({"query": "disk full", "mode": "keyword"}).to_string()));

    for remaining in [2, 1, 0] {
        let r = search().await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!((r.header("x-ratelimit-limit"), r.header("x-ratelimit-remaining")), (Some(3), Some(remaining)));
    }
    let r = search().await;
    assert_eq!((r.status, r.body["error"].as_str()), (429, Some("rate_limited")), "{}", r.body);
    assert_eq!(r.header("x-ratelimit-remaining"), Some(0));
    // 6 per minute: the next request is allowed 10 s after the first of the burst (less
    // the time the burst took on a busy machine).
    let after = r.header("retry-after").expect("Retry-After");
    assert!((1..=10).contains(&after), "Retry-After {after}");
    assert!(r.header("x-ratelimit-reset").unwrap() >= 10);
    // Another route class of the same source has its own allowance …
    let incidents = call(reqwest::Method::GET, format!("{url}/v1/incidents"), Some(ALICE), None).await;
    assert_eq!(incidents.status, 429, "incidents share the query class");
    // … and another source is not touched by alice's use.
    let bob = call(reqwest::Method::POST, format!("{url}/v1/search"), Some(BOB), Some(json!({"query": "x", "mode": "keyword"}).to_string())).await;
    assert_eq!(bob.status, 200, "{}", bob.body);

    // Alerts over their rate: 503 (Alertmanager retries 5xx, drops 4xx), same headers.
    let (_, raw) = common::webhook("firing", &[("fp1", "KubePodCrashLooping", "restarting")]);
    for _ in 0..2 {
        assert_eq!(call(reqwest::Method::POST, format!("{url}/v1/alerts"), Some(ALICE), Some(raw.clone())).await.status, 200);
    }
    let r = call(reqwest::Method::POST, format!("{url}/v1/alerts"), Some(ALICE), Some(raw.clone())).await;
    assert_eq!((r.status, r.body["error"].as_str()), (503, Some("rate_limited")), "{}", r.body);
    assert!(r.header("retry-after").is_some());

    let m = metrics(&url).await;
    assert!(m.contains(r#"firebreak_rate_limited_total{route="query",source="alice"} 2"#), "{m}");
    assert!(m.contains(r#"firebreak_rate_limited_total{route="alerts",source="alice"} 1"#), "{m}");
    assert!(!m.contains(r#"source="bob""#), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_shapes_are_refused_before_anything_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.api.input.max_alerts_per_webhook = 2;
    cfg.api.input.max_labels = 8;
    cfg.api.input.max_label_value_chars = 100;
    let (url, gw) = common::serve_gateway(cfg).await;
    let post = |path: &'static str, body: String| call(reqwest::Method::POST, format!("{url}{path}"), None, Some(body));

    let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
    for path in ["/v1/alerts", "/v1/ingest", "/v1/search"] {
        let r = post(path, deep.clone()).await;
        assert_eq!((r.status, r.body["error"].as_str()), (422, Some("json_too_deep")), "{path}: {}", r.body);
    }
    let (_, three) = common::webhook("firing", &[("a", "A", "a"), ("b", "B", "b"), ("c", "C", "c")]);
    let r = post("/v1/alerts", three).await;
    assert_eq!((r.status, r.body["error"].as_str()), (413, Some("too_many_alerts")), "{}", r.body);
    assert!(r.body["detail"].as_str().unwrap().contains("max_alerts"), "tells the operator the fix: {}", r.body);

    let (_, one) = common::webhook("firing", &[("a", "A", "a")]);
    let mut long: Value = serde_json::from_str(&one).unwrap();
    long["alerts"][0]["annotations"]["description"] = json!("x".repeat(101));
    let r = post("/v1/alerts", long.to_string()).await;
    assert_eq!((r.status, r.body["error"].as_str()), (422, Some("label_limit")), "{}", r.body);
    let mut many: Value = serde_json::from_str(&one).unwrap();
    for i in 0..8 {
        many["alerts"][0]["labels"][format!("l{i}")] = json!("v");
    }
    let r = post("/v1/alerts", many.to_string()).await;
    assert_eq!((r.status, r.body["error"].as_str()), (422, Some("label_limit")), "{}", r.body);

    let b = gw.state.store.backlog(i64::MAX / 2).await.unwrap();
    assert_eq!(b.pending + b.leased + b.done, 0, "nothing refused was stored: {b:?}");
    let m = metrics(&url).await;
    assert!(m.contains(r#"firebreak_alerts_refused_total{reason="label_limit"} 2"#), "{m}");
    assert!(m.contains(r#"firebreak_alerts_refused_total{reason="too_many_alerts"} 1"#), "{m}");
    // Within the limits the same webhook is stored; a value's limit counts characters, as
    // the API document's maxLength does (100 of three bytes each are within 100).
    let mut wide: Value = serde_json::from_str(&one).unwrap();
    wide["alerts"][0]["annotations"]["description"] = json!("監".repeat(100));
    assert_eq!(post("/v1/alerts", wide.to_string()).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_by_header_and_body_deadlines() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.api.body_read_timeout = Duration::from_millis(300);
    let (url, _gw) = common::serve_gateway(cfg).await;
    let addr = url.trim_start_matches("http://").to_owned();

    // Headers sent, body promised and never finished: 408 after the body deadline.
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"POST /v1/alerts HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"status\"").await.unwrap();
    let t = Instant::now();
    let mut answer = String::new();
    let mut buf = [0u8; 4096];
    while !answer.contains("body_timeout") {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await.expect("an answer, not a hang").unwrap();
        assert!(n > 0, "closed without an answer: {answer:?}");
        answer.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());

    // Headers never finished: the connection is closed after the header deadline (500 ms
    // in tests), without a request ever reaching the API.
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"POST /v1/alerts HTTP/1.1\r\nhost: x\r\n").await.unwrap();
    let t = Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "connection with unfinished headers still open after 5 s");
    assert!(t.elapsed() >= Duration::from_millis(400), "closed too early: {:?}", t.elapsed());

    let m = metrics(&url).await;
    assert!(m.contains("firebreak_http_body_timeouts_total 1"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_run_past_its_deadline_gets_409_and_its_age_is_exported() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.api.ingest_run_max_age = Duration::from_millis(1500);
    let (url, _gw) = common::serve_gateway(cfg).await;
    let ingest = |run: &str, id: &str| {
        let body = json!({"source": "chat", "run_id": run, "documents": [{"id": id, "text": format!("message {id}")}]});
        call(reqwest::Method::POST, format!("{url}/v1/ingest"), None, Some(body.to_string()))
    };
    assert_eq!(ingest("run-1", "a").await.status, 202);
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let r = ingest("run-1", "b").await;
    assert_eq!((r.status, r.body["error"].as_str()), (409, Some("ingest_run_expired")), "{}", r.body);
    let m = metrics(&url).await;
    let age: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix(r#"firebreak_ingest_run_age_seconds{source="chat"} "#))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no run age for chat: {m}"));
    assert!(age >= 1, "the refused run's age is exported: {age}");
    // The next run starts afresh.
    assert_eq!(ingest("run-2", "b").await.status, 202);
    assert!(metrics(&url).await.contains(r#"firebreak_ingest_run_age_seconds{source="chat"} 0"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_bulk_backlog_turns_ingest_away_but_never_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_bulk_backlog = 3;
    let (url, _gw) = common::serve_gateway(cfg).await;
    let docs: Vec<Value> = (0..4).map(|i| json!({"id": format!("d{i}"), "text": format!("chat line {i}")})).collect();
    let body = json!({"source": "chat", "run_id": "r1", "documents": docs}).to_string();
    let r = call(reqwest::Method::POST, format!("{url}/v1/ingest"), None, Some(body.clone())).await;
    assert_eq!(r.status, 202, "below the limit: {}", r.body);

    // The embedder is unreachable, so nothing drains; the worker's next count closes the door.
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let r = call(reqwest::Method::POST, format!("{url}/v1/ingest"), None, Some(body.clone())).await;
        if r.status == 429 {
            break r;
        }
        assert!(Instant::now() < deadline, "ingest never refused: {} {}", r.status, r.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(refused.body["error"], "bulk_backlog_full", "{}", refused.body);
    assert_eq!(refused.header("retry-after"), Some(60), "nothing drains: the honest 'later'");

    let (_, raw) = common::webhook("firing", &[("fp1", "KubePodCrashLooping", "restarting")]);
    let r = call(reqwest::Method::POST, format!("{url}/v1/alerts"), None, Some(raw)).await;
    assert_eq!(r.status, 200, "alerts are never refused for backlog: {}", r.body);
    let m = metrics(&url).await;
    assert!(m.contains("firebreak_bulk_backlog_jobs 4"), "{m}");
    assert!(m.contains(r#"firebreak_ingest_refused_total{reason="backlog"}"#), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_embedding_budget_degrades_search_refuses_ingest_and_defers_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.budget = BudgetLimits {
        global: Allowance { texts_per_minute: Some(1000), tokens_per_minute: None },
        per_source: Allowance { texts_per_minute: Some(1), tokens_per_minute: None },
    };
    let (url, gw) = common::serve_gateway(cfg).await;
    let search = || call(reqwest::Method::POST, format!("{url}/v1/search"), None, Some(json!({"query": "disk full"}).to_string()));
    // The one text of this minute is spent on the first query (the embedder is
    // unreachable, so it degrades for that reason); the second is refused by the budget.
    let first = search().await;
    assert_eq!((first.status, first.body["degraded"].as_bool()), (200, Some(true)), "{}", first.body);
    let second = search().await;
    assert_eq!((second.status, second.body["mode"].as_str(), second.body["degraded"].as_bool()), (200, Some("keyword"), Some(true)));
    assert!(second.body["degraded_reason"].as_str().unwrap().contains("budget"), "{}", second.body);

    let r = call(reqwest::Method::POST, format!("{url}/v1/embeddings"), None, Some(json!({"input": "x"}).to_string())).await;
    assert_eq!((r.status, r.body["error"].as_str()), (429, Some("embedding_budget_spent")), "{}", r.body);
    assert!(r.header("retry-after").unwrap() >= 50, "a minute's allowance refills in a minute");

    let body = json!({"source": "chat", "run_id": "r1", "documents": [{"id": "d", "text": "hello"}]}).to_string();
    let r = call(reqwest::Method::POST, format!("{url}/v1/ingest"), None, Some(body)).await;
    assert_eq!((r.status, r.body["error"].as_str()), (429, Some("embedding_budget_spent")), "{}", r.body);
    assert!(r.header("retry-after").is_some());

    // An alert is stored all the same; its embedding waits without spending an attempt.
    let (_, raw) = common::webhook("firing", &[("fp1", "KubePodCrashLooping", "restarting")]);
    assert_eq!(call(reqwest::Method::POST, format!("{url}/v1/alerts"), None, Some(raw)).await.status, 200);
    wait_for_metric(&url, r#"firebreak_outbox_jobs_deferred_total{kind="incident"} 1"#).await;
    let b = gw.state.store.backlog(firebreak_gateway::clock::now_millis()).await.unwrap();
    assert_eq!((b.pending, b.failed), (1, 0), "{b:?}");
    let m = metrics(&url).await;
    assert!(m.contains(r#"firebreak_embed_budget_refused_total{scope="anonymous",unit="texts"}"#), "{m}");
    assert!(m.contains(r#"firebreak_ingest_refused_total{reason="budget"} 1"#), "{m}");
    assert!(m.contains("firebreak_search_degraded_total 2"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_about_firebreak_itself_are_stored_but_not_embedded_while_they_fire() {
    let dir = tempfile::tempdir().unwrap();
    let (url, gw) = common::serve_gateway(config(dir.path())).await;
    let (_, raw) = common::webhook("firing", &[("own", "KubePodCrashLooping", "firebreak restarting")]);
    let mut ours: Value = serde_json::from_str(&raw).unwrap();
    ours["alerts"][0]["labels"]["namespace"] = json!("firebreak");
    let r = call(reqwest::Method::POST, format!("{url}/v1/alerts"), None, Some(ours.to_string())).await;
    assert_eq!((r.status, r.body["held"].as_u64()), (200, Some(1)), "{}", r.body);
    let b = gw.state.store.backlog(i64::MAX / 2).await.unwrap();
    assert_eq!(b.pending + b.leased + b.done, 0, "no embedding work for our own trouble: {b:?}");
    let list = call(reqwest::Method::GET, format!("{url}/v1/incidents"), None, None).await;
    assert_eq!(list.body["incidents"].as_array().map(Vec::len), Some(1), "{}", list.body);
    assert!(metrics(&url).await.contains("firebreak_self_alerts_total 1"));

    // Resolved: embedded now that it is over.
    ours["status"] = json!("resolved");
    ours["alerts"][0]["status"] = json!("resolved");
    ours["alerts"][0]["endsAt"] = json!("2026-11-20T11:00:00Z");
    let r = call(reqwest::Method::POST, format!("{url}/v1/alerts"), None, Some(ours.to_string())).await;
    assert_eq!((r.status, r.body["held"].as_u64()), (200, Some(0)), "{}", r.body);
    let b = gw.state.store.backlog(i64::MAX / 2).await.unwrap();
    assert_eq!(b.pending + b.leased, 1, "{b:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_storm_embeds_each_text_once_and_releases_the_rest_when_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.storm_alerts_per_minute = 3;
    cfg.storm_window = Duration::from_millis(1200); // "a minute", shortened
    let (url, gw) = common::serve_gateway(cfg).await;
    let pending = || async { gw.state.store.backlog(i64::MAX / 2).await.map(|b| b.pending + b.leased).unwrap() };

    // Six pods crash-looping at once: one gist, six occurrences, and a rate above 3.
    let pods: Vec<(String, &str, &str)> = (0..6).map(|i| (format!("fp{i}"), "KubePodCrashLooping", "pod restarting")).collect();
    let pods: Vec<(&str, &str, &str)> = pods.iter().map(|(f, n, s)| (f.as_str(), *n, *s)).collect();
    let (_, raw) = common::webhook("firing", &pods);
    let r = call(reqwest::Method::POST, format!("{url}/v1/alerts"), None, Some(raw)).await;
    assert_eq!((r.status, r.body["new"].as_u64(), r.body["held"].as_u64()), (200, Some(6), Some(5)), "{}", r.body);
    assert_eq!(pending().await, 1, "the text is embedded once");
    let status = call(reqwest::Method::GET, format!("{url}/v1/status"), None, None).await;
    assert_eq!(status.body["storm"]["on"], true, "{}", status.body);
    let m = metrics(&url).await;
    assert!(m.contains("firebreak_storm_mode 1") && m.contains("firebreak_storm_coalesced_total 5"), "{m}");

    // Quiet for a window: the storm ends and the held occurrences are queued.
    wait_for_metric(&url, "firebreak_storm_released_total 5").await;
    wait_for_metric(&url, "firebreak_storm_mode 0").await;
    assert_eq!(pending().await, 6, "every occurrence has its job now");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_pressure_pauses_bulk_then_alerts_but_never_queries() {
    let dir = tempfile::tempdir().unwrap();
    let cpu = dir.path().join("cpu.pressure");
    psi(&cpu, 55.0);
    let mut cfg = config(dir.path());
    cfg.pressure = firebreak_gateway::guards::pressure::PressureConfig {
        sources: vec![cpu.clone(), dir.path().join("absent")],
        interval: Duration::from_millis(50),
        ..Default::default()
    };
    let (url, _gw) = common::serve_gateway(cfg).await;
    let level = |n: u8| format!("firebreak_pressure_level {n}");
    wait_for_metric(&url, &level(1)).await;
    let body = json!({"source": "chat", "run_id": "r1", "documents": [{"id": "d", "text": "hello"}]}).to_string();
    let r = call(reqwest::Method::POST, format!("{url}/v1/ingest"), None, Some(body.clone())).await;
    assert_eq!((r.status, r.body["error"].as_str()), (429, Some("node_under_pressure")), "{}", r.body);
    assert!(r.body["detail"].as_str().unwrap().contains("55"), "{}", r.body);
    assert_eq!(r.header("retry-after"), Some(30));

    // Above the second threshold alerts are stored and their embedding waits; queries are
    // never held back by pressure (this search degrades only because no embedder listens).
    psi(&cpu, 90.0);
    wait_for_metric(&url, &level(2)).await;
    let st = call(reqwest::Method::GET, format!("{url}/v1/status"), None, None).await;
    assert_eq!(st.body["pressure"], "alert_paused", "{}", st.body);
    let detail = &st.body["pressure_detail"];
    assert_eq!((detail["level"].as_str(), detail["measured_by"].as_str()), (Some("alert_paused"), Some("psi")), "{detail}");
    assert!(detail["some_avg10_percent"].as_f64().is_some_and(|p| p >= detail["alert_pause_percent"].as_f64().unwrap()), "{detail}");
    let (_, raw) = common::webhook("firing", &[("fp1", "NodeLoadHigh", "load 153 on 16 cores")]);
    assert_eq!(call(reqwest::Method::POST, format!("{url}/v1/alerts"), None, Some(raw)).await.status, 200);
    wait_for_metric(&url, r#"firebreak_outbox_jobs_deferred_total{kind="incident"}"#).await;
    let s = call(reqwest::Method::POST, format!("{url}/v1/search"), None, Some(json!({"query": "load"}).to_string())).await;
    assert!(!s.body["degraded_reason"].as_str().unwrap_or("").contains("pressure"), "{}", s.body);

    psi(&cpu, 3.0);
    wait_for_metric(&url, &level(0)).await;
    assert_eq!(call(reqwest::Method::POST, format!("{url}/v1/ingest"), None, Some(body)).await.status, 202);
    assert!(metrics(&url).await.contains(r#"firebreak_ingest_refused_total{reason="pressure"} 1"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_psi_bulk_pauses_while_queries_wait_in_the_scheduler() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.pressure = firebreak_gateway::guards::pressure::PressureConfig {
        sources: vec![dir.path().join("no-psi-here")],
        fallback_wait: Duration::from_millis(200),
        interval: Duration::from_millis(50),
        ..Default::default()
    };
    // Two batches in flight (the background slot and the one kept for queries) on an
    // embedder that does not answer within this test (a starving one: its slow-call
    // threshold is set beyond the test, so no batch becomes overdue and gives its slot
    // back): the third query's text waits in the scheduler, which is the fallback's signal.
    cfg.breakers.embed_slow_call = Duration::from_secs(60);
    cfg.breakers.embed_slow_floor = Duration::from_secs(60);
    cfg.embedder = firebreak_gateway::app::EmbedderChoice::Remote {
        cfg: firebreak_gateway::pipeline::embedding::remote::RemoteConfig {
            url: common::http::hung_embedder().await,
            model: "hung".into(),
            dim: 384,
            timeout: Duration::from_secs(60),
        },
        tokenizer: None,
        max_seq_length: 256,
    };
    cfg.search_embed_timeout = Duration::from_secs(30);
    let (url, _gw) = common::serve_gateway(cfg).await;
    let searches: Vec<_> = (0..3)
        .map(|i| {
            let body = json!({"query": format!("waiting query {i}")}).to_string();
            tokio::spawn(call(reqwest::Method::POST, format!("{url}/v1/search"), None, Some(body)))
        })
        .collect();
    wait_for_metric(&url, "firebreak_pressure_level 1").await;
    let body = json!({"source": "chat", "run_id": "r1", "documents": [{"id": "d", "text": "hello"}]}).to_string();
    let r = call(reqwest::Method::POST, format!("{url}/v1/ingest"), None, Some(body)).await;
    assert_eq!((r.status, r.body["error"].as_str()), (429, Some("node_under_pressure")), "{}", r.body);
    assert!(r.body["detail"].as_str().unwrap().contains("PSI unavailable"), "{}", r.body);
    searches.iter().for_each(|s| s.abort());
}
