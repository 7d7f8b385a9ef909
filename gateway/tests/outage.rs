//! Findable in the outage (issue 19), on the real binary: alerts posted while the embedder
//! is hung or held back are keyword-searchable within a second of their 2xx, searches
//! keep answering within their deadline, a hung embedder's breaker opens within seconds,
//! and when the embedder is back every point gets its dense vector by itself, with no
//! duplicate. On SQLite and on Postgres.
//!
//! Two outages: a TCP peer that accepts and never answers, standing in for a hung remote
//! embedder (the one fault a real embedder cannot be made to show on demand: the fake in
//! this file, named as such), later switched to forward to the real `firebreak-embedder
//! serve` router with the real model; and the in-process embedder held back by node
//! pressure (a PSI file standing in for /proc/pressure/cpu, as in tests/guards.rs).

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::http::HungPeer;
use common::server::{embedder_service, model_dir, Server};
use serde_json::{json, Value};

const ALERTS: usize = 100;
/// `--search-embed-timeout-ms` in these runs: every search must answer within it + 100 ms.
const SEARCH_EMBED_TIMEOUT_MS: u64 = 500;

/// A word no other alert (and no English text) has: letters only, so the keyword
/// tokenizer keeps it whole.
fn tag(i: usize) -> String {
    let mut s = String::from("zq");
    let mut n = i + 1;
    while n > 0 {
        s.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
    }
    s
}

const SUBJECTS: [&str; 10] = [
    "The Postgres primary",
    "The Postfix mail server",
    "The Immich photo library",
    "The ingress controller",
    "CoreDNS",
    "A Longhorn volume",
    "cert-manager",
    "The restic backup job",
    "Prometheus",
    "The kubelet on a worker node",
];
const SYMPTOMS: [&str; 10] = [
    "is out of disk space",
    "is crash looping after an upgrade",
    "answers with very high latency",
    "lost its network connection",
    "ran out of memory and was killed",
    "serves an expired TLS certificate",
    "is stuck pending and never scheduled",
    "reports corrupted data blocks",
    "burns all the CPU it can get",
    "keeps failing its health checks",
];

/// Each alert means something else (subject × symptom: a dense search can tell them
/// apart) and carries its own tag (a keyword search can).
fn summary(i: usize) -> String {
    format!("{} {} ({})", SUBJECTS[i % 10], SYMPTOMS[(i / 10) % 10], tag(i))
}

fn webhook(i: usize) -> Value {
    json!({
        "version": "4", "groupKey": format!("{{}}:{{alertname=\"VolumeFull{i}\"}}"), "status": "firing", "receiver": "firebreak",
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am", "truncatedAlerts": 0,
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": format!("VolumeFull{i}"), "namespace": "storage", "severity": "warning"},
            "annotations": {"summary": summary(i)},
            "startsAt": "2026-12-03T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prom", "fingerprint": format!("{:016x}", 0xf00d_0000u64 + i as u64)
        }]
    })
}

/// Whether a search for alert `i`'s summary in `mode` lists its incident; and the answer.
async fn finds(s: &Server, i: usize, mode: &str) -> (bool, Value, Duration) {
    let t = Instant::now();
    let (st, v) = s.post("/v1/search", &json!({"query": summary(i), "mode": mode, "k": 5})).await;
    let took = t.elapsed();
    assert_eq!(st, 200, "{v}");
    let fp = format!("{:016x}", 0xf00d_0000u64 + i as u64);
    let found = v["results"].as_array().unwrap().iter().any(|r| r["incident"]["fingerprint"] == fp.as_str());
    (found, v, took)
}

fn args(data_dir: &Path, database_url: Option<&str>, extra: &[String]) -> Vec<String> {
    let mut a: Vec<String> = vec!["--data-dir".into(), data_dir.display().to_string()];
    for (k, v) in [
        ("--outbox-poll-ms", "100"),
        ("--search-embed-timeout-ms", &SEARCH_EMBED_TIMEOUT_MS.to_string()),
        ("--breaker-open-ms", "1000"),
        ("--breaker-open-max-ms", "2000"),
        ("--query-rate", "off"),
        ("--alerts-rate", "off"),
    ] {
        a.extend([k.to_string(), v.to_string()]);
    }
    if let Some(u) = database_url {
        a.extend(["--database-url".to_string(), u.to_owned()]);
    }
    a.extend(extra.iter().cloned());
    a
}

async fn status(s: &Server) -> Value {
    s.get("/v1/status").await.1
}

/// Posts the alerts one by one during the outage; each must be found by a keyword search
/// for its summary within 1 s of its 2xx, and a default (hybrid) search every tenth alert
/// must answer within the search deadline + 100 ms.
async fn post_during_outage(s: &Server) {
    let mut slowest = (Duration::ZERO, Duration::ZERO);
    for i in 0..ALERTS {
        let (st, v) = s.post("/v1/alerts", &webhook(i)).await;
        assert_eq!(st, 200, "{v}");
        let accepted = Instant::now();
        loop {
            let (found, v, _) = finds(s, i, "keyword").await;
            if found {
                slowest.0 = slowest.0.max(accepted.elapsed());
                break;
            }
            assert!(accepted.elapsed() < Duration::from_secs(1), "alert {i} not keyword-searchable 1 s after its 2xx: {v}\n{}", s.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if i % 10 == 9 {
            let (found, v, took) = finds(s, i, "hybrid").await;
            slowest.1 = slowest.1.max(took);
            assert!(took < Duration::from_millis(SEARCH_EMBED_TIMEOUT_MS + 100), "a search took {took:?} during the outage: {v}");
            assert!(found, "a hybrid search falls back to keywords and still finds it: {v}");
            assert!(v["keyword_only"].as_u64().unwrap() >= 1, "and says its hits are keyword-only: {v}");
        }
    }
    eprintln!("outage: slowest keyword-searchable after its 2xx {:?}, slowest hybrid search {:?}", slowest.0, slowest.1);
}

/// After the outage: every point gets its dense vector by itself, a dense search finds
/// every alert, and the index holds each incident's points once.
async fn dense_once_drained(s: &Server) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let st = status(s).await;
        let (o, ix) = (&st["outbox"], &st["dependencies"]["index"]);
        if o["pending"] == 0 && o["leased"] == 0 && o["awaiting_dense"] == 0 && ix["keyword_only_points"] == 0 {
            assert_eq!(o["failed"], 0, "{st}");
            break;
        }
        assert!(Instant::now() < deadline, "dense vectors never caught up: {st}\n{}", s.log());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for i in 0..ALERTS {
        let (found, v, _) = finds(s, i, "dense").await;
        assert!(found, "alert {i} not found by a dense search once drained: {v}");
        assert_eq!((v["degraded"].as_bool(), v["keyword_only"].as_u64()), (Some(false), Some(0)), "{v}");
    }
    let ix = status(s).await["dependencies"]["index"].clone();
    // One text chunk per incident (short alerts) plus its cause point (no notes here):
    // nothing twice.
    assert_eq!(ix["notes_points"], 0, "{ix}");
    assert_eq!(ix["points"].as_u64().unwrap(), ALERTS as u64 + ix["cause_points"].as_u64().unwrap(), "{ix}");
    assert!(ix["cause_points"].as_u64().unwrap() <= ALERTS as u64, "{ix}");
}

async fn hung_embedder_then_back(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let peer = HungPeer::hung().await;
    let extra = vec![
        "--embedder-url".to_string(),
        peer.url.clone(),
        "--tokenizer".into(),
        model_dir().join("tokenizer.json").display().to_string(),
    ];
    let s = Server::start(&args(dir.path(), database_url, &extra));
    let first_post = Instant::now();
    let watch = async {
        loop {
            let st = status(&s).await;
            if st["breakers"]["embedder"] == "open" {
                return (first_post.elapsed(), st);
            }
            assert!(first_post.elapsed() < Duration::from_secs(20), "the embedder breaker never opened: {st}\n{}", s.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let ((opened_after, st), ()) = tokio::join!(watch, post_during_outage(&s));
    eprintln!("outage: embedder breaker open {opened_after:?} after the first alert");
    assert!(opened_after < Duration::from_secs(5), "the embedder breaker opened {opened_after:?} after the first stuck call: {st}");
    let st = status(&s).await;
    assert!(st["breakers_open_for_ms"]["embedder"].as_u64().is_some(), "{st}");
    assert!(st["outbox"]["awaiting_dense"].as_u64().unwrap() > 0, "{st}");
    assert!(s.metric(r#"firebreak_breaker_open_duration_seconds{dependency="embedder"}"#).await > 0.0);

    // The embedder comes back: the breaker closes by itself (a one-text probe first).
    peer.forward_to(embedder_service(false).await);
    let deadline = Instant::now() + Duration::from_secs(30);
    while status(&s).await["breakers"]["embedder"] != "closed" {
        assert!(Instant::now() < deadline, "the embedder breaker never closed: {}\n{}", status(&s).await, s.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    dense_once_drained(&s).await;
    s.stop();
}

async fn in_process_embedder_held_by_pressure(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let cpu = dir.path().join("cpu.pressure");
    let psi = |avg10: f64| common::write_psi(&cpu, avg10);
    psi(90.0);
    let extra: Vec<String> = [
        "--model",
        &model_dir().display().to_string(),
        "--cpu-threads",
        "1",
        "--psi-files",
        &cpu.display().to_string(),
        "--pressure-bulk-pause",
        "40",
        "--pressure-alert-pause",
        "80",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let s = Server::start(&args(dir.path(), database_url, &extra));
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&s).await["pressure"] != "alert_paused" {
        assert!(Instant::now() < deadline, "the pressure guard never acted: {}", status(&s).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    post_during_outage(&s).await;
    let st = status(&s).await;
    assert_eq!(st["breakers"]["embedder"], "closed", "held back is not a fault: {st}");
    assert!(st["outbox"]["awaiting_dense"].as_u64().unwrap() > 0, "{st}");
    psi(3.0);
    dense_once_drained(&s).await;
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_hung_embedder_then_back() {
    hung_embedder_then_back(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_hung_embedder_then_back() {
    let db = common::PgDatabase::create().await;
    hung_embedder_then_back(Some(&db.url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_in_process_embedder_held_by_pressure() {
    in_process_embedder_held_by_pressure(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_in_process_embedder_held_by_pressure() {
    let db = common::PgDatabase::create().await;
    in_process_embedder_held_by_pressure(Some(&db.url)).await;
}
