//! The ingest CronJob client (`firebreak ingest`, crate firebreak-ingest) against a real
//! gateway: every input format, bad inputs named and skipped, nothing sent twice, the
//! gateway's refusals and `Retry-After` obeyed, the deadline kept, and the exit status a
//! CronJob needs.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use firebreak_gateway::app::{Gateway, GatewayConfig};
use firebreak_gateway::auth::Tokens;
use firebreak_ingest::{run, IngestConfig};
use serde_json::Value;

const TOKEN: &str = "ingest-token-0123456789abcdef";

fn config(dir: &Path) -> GatewayConfig {
    let mut cfg = common::config(dir, "unused");
    cfg.embedder = common::nowhere_embedder(); // intake needs no model
    cfg.tokens = Arc::new(Tokens::parse(&format!("cronjob ingest:write {TOKEN}")).unwrap());
    cfg
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
    p
}

/// One input of each format, and three bad ones.
fn inputs(dir: &Path) -> PathBuf {
    let root = dir.join("inputs");
    write(&root, "chats/mail-outage.json", r#"{"conversationId":"conv-1","title":"mail down","endpoint":"openAI","messages":[
        {"messageId":"a","sender":"User","isCreatedByUser":true,"text":"postfix is crash looping","createdAt":"2026-11-20T10:00:00Z"},
        {"messageId":"b","parentMessageId":"a","sender":"GPT-4","text":"the queue PVC is full; delete old queue files","createdAt":"2026-11-20T10:01:00Z"}]}"#);
    write(&root, "chats/broken.json", r#"{"conversationId": "x", "messages": [}"#);
    write(&root, "notes.jsonl", concat!(
        r#"{"id":"n1","text":"etcd quorum lost during VLAN migration","updated_at":"2026-11-01T00:00:00Z"}"#, "\n",
        r#"{"id":"n2","text":"certificate expired: renew with cert-manager","metadata":{"team":"platform"}}"#, "\n",
        "{\"id\": \"n3\", \"text\": \n",
        r#"{"id":"n4","text":"immich OOMKilled, exit code 137: raise the memory limit"}"#, "\n"));
    write(&root, "runbooks/disk-full.md", "# Disk full on a node\n\nRun `df -i`; inodes run out before bytes do.\n");
    write(&root, "status.rss", r#"<rss version="2.0"><channel><title>Status</title>
        <item><guid>s1</guid><title>Postgres failover</title><description>&lt;p&gt;Primary lost its disk&lt;/p&gt;</description></item>
        <item><guid>s2</guid><title>DNS slow</title><description>CoreDNS cache disabled by a bad ConfigMap</description></item>
        </channel></rss>"#);
    write(&root, "photo.jpg", "not read: unknown formats in a directory are skipped");
    write(&root, ".hidden.md", "# not read");
    root
}

async fn external_ids(gw: &Gateway) -> Vec<String> {
    let mut ids = Vec::new();
    for id in 1..100 {
        if let Some(d) = gw.state.store.document(id).await.unwrap() {
            ids.push(d.external_id);
        }
    }
    ids.sort();
    ids
}

fn client(url: &str, dir: &Path, root: &Path) -> IngestConfig {
    let mut c = IngestConfig::new(url, "ops", vec![root.to_owned()]);
    c.token = Some(TOKEN.into());
    c.state = Some(dir.join("state/ops.jsonl"));
    c.batch_documents = 3;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_is_delivered_once_and_bad_inputs_are_named_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let (url, gw) = common::serve_gateway(config(&dir.path().join("gw"))).await;
    let root = inputs(dir.path());

    let s = run(client(&url, dir.path(), &root)).await.unwrap();
    assert!(s.finished(), "{s:?}");
    assert_eq!((s.counts.read, s.counts.sent, s.counts.bad_inputs, s.counts.refused), (7, 7, 2, 0), "{s:?}");
    assert!(s.errors.iter().any(|e| e.contains("broken.json:1: not a LibreChat conversation export")), "{:?}", s.errors);
    assert!(s.errors.iter().any(|e| e.contains("notes.jsonl:3: not a document")), "{:?}", s.errors);
    assert_eq!(external_ids(&gw).await, ["conv-1", "n1", "n2", "n4", "runbooks/disk-full.md", "s1", "s2"]);

    // The next run sends nothing: the state file knows what was delivered.
    let s = run(client(&url, dir.path(), &root)).await.unwrap();
    assert_eq!((s.counts.sent, s.counts.unchanged, s.counts.skipped_delivered), (0, 0, 7), "{s:?}");

    // One changed file: only it is sent.
    write(&root, "runbooks/disk-full.md", "# Disk full on a node\n\nRun `df -i`, then clean /var/lib/containerd.\n");
    let s = run(client(&url, dir.path(), &root)).await.unwrap();
    assert_eq!((s.counts.sent, s.counts.skipped_delivered), (1, 6), "{s:?}");

    // Without a state file everything is offered again, and the gateway keeps it as unchanged.
    let mut c = client(&url, dir.path(), &root);
    c.state = None;
    let s = run(c).await.unwrap();
    assert_eq!((s.counts.sent, s.counts.unchanged), (0, 7), "{s:?}");

    // --since skips what is older.
    let mut c = client(&url, dir.path(), &root);
    c.state = None;
    c.since = Some("2026-11-10T00:00:00Z".parse().unwrap());
    let s = run(c).await.unwrap();
    assert_eq!(s.counts.skipped_since, 1, "n1 is from 2026-11-01: {s:?}");

    // A wrong token is the one thing that ends a run with an error (once there is
    // something to send: a run with nothing new never calls the gateway).
    let mut c = client(&url, dir.path(), &root);
    c.state = None;
    c.token = Some("not-the-token-0123456789".into());
    let e = run(c).await.unwrap_err().to_string();
    assert!(e.contains("401"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_document_is_refused_alone_and_the_rest_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&dir.path().join("gw"));
    cfg.api.max_body_bytes = 4096;
    let (url, gw) = common::serve_gateway(cfg).await;
    let root = dir.path().join("in");
    let mut lines = String::new();
    for i in 0..6 {
        let text = if i == 3 { "x ".repeat(4000) } else { format!("small document {i}") };
        lines.push_str(&serde_json::json!({"id": format!("d{i}"), "text": text}).to_string());
        lines.push('\n');
    }
    write(&root, "docs.jsonl", &lines);
    let mut c = client(&url, dir.path(), &root);
    c.batch_documents = 6;
    let s = run(c).await.unwrap();
    assert!(s.finished(), "{s:?}");
    assert_eq!((s.counts.sent, s.counts.refused), (5, 1), "{s:?}");
    assert!(s.errors.iter().any(|e| e.starts_with("document \"d3\": 413")), "{:?}", s.errors);
    assert_eq!(external_ids(&gw).await, ["d0", "d1", "d2", "d4", "d5"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_waits_as_told_stops_at_its_deadline_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&dir.path().join("gw"));
    // Nothing drains (no embedder): after two documents every call is a 429 with Retry-After.
    cfg.max_bulk_backlog = 2;
    let (url, gw) = common::serve_gateway(cfg).await;
    let root = inputs(dir.path());
    let token_file = write(dir.path(), "token", &format!("{TOKEN}\n"));
    let t = Instant::now();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_firebreak"))
        .args(["ingest", "--url", &url, "--source", "ops", "--deadline", "3s", "--batch-documents", "2"])
        .arg("--token-file")
        .arg(&token_file)
        .arg("--state")
        .arg(dir.path().join("state.jsonl"))
        .arg(&root)
        .output()
        .await
        .unwrap();
    let elapsed = t.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "stopped early with documents left: {stderr}");
    assert!(elapsed >= Duration::from_secs(3) && elapsed < Duration::from_secs(20), "kept its deadline: {elapsed:?}");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(summary["sent"], 2, "{summary}");
    assert_eq!(summary["left"], 5, "every document not delivered is counted: {summary}");
    assert!(summary["stopped"].as_str().unwrap().contains("deadline"), "{summary}");
    assert!(summary["waited_seconds"].as_f64().unwrap() > 2.0, "it waited as the gateway asked: {summary}");
    assert!(stderr.contains("gateway busy: waiting as asked") && stderr.contains("429 bulk_backlog_full"), "{stderr}");
    assert!(stderr.contains("STOPPED") && stderr.contains("Left: 5 documents"), "{stderr}");
    assert_eq!(external_ids(&gw).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_past_the_gateway_run_deadline_stops_and_the_next_run_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&dir.path().join("gw"));
    cfg.api.ingest_run_max_age = Duration::from_secs(1);
    let (url, gw) = common::serve_gateway(cfg).await;
    let root = dir.path().join("in");
    write(&root, "a-first.jsonl", r#"{"id":"n0","text":"the first document of the night"}"#);
    let more: Vec<String> = (1..=6).map(|i| serde_json::json!({"id": format!("n{i}"), "text": format!("document {i}")}).to_string()).collect();
    write(&root, "b-more.jsonl", &more.join("\n"));
    let mut c = client(&url, dir.path(), &root);
    c.run_id = Some("nightly".into());
    c.batch_documents = 1;
    // The first document opens run "nightly"; a second later the gateway ends it.
    let first = run(IngestConfig { inputs: vec![root.join("a-first.jsonl")], ..c.clone() }).await.unwrap();
    assert!(first.finished() && first.counts.sent == 1, "{first:?}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let s = run(c.clone()).await.unwrap();
    assert!(s.stopped.as_deref().unwrap().contains("409 ingest_run_expired"), "{s:?}");
    assert_eq!(s.counts.left, 6, "{s:?}");
    // The next run (a new run id) delivers what was left.
    c.run_id = None;
    let s = run(c).await.unwrap();
    assert!(s.finished(), "{s:?}");
    assert_eq!((s.counts.sent, s.counts.skipped_delivered), (6, 1), "{s:?}");
    assert_eq!(external_ids(&gw).await.len(), 7);
}
