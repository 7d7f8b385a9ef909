//! The whole path on the real binary, the real MiniLM model, a real qdrant-edge shard and
//! a real SQL store (SQLite file, then Postgres): alert in → found by a differently
//! worded query; a note → returned with the incident and found by its words; resends →
//! one occurrence embedded once; ingest re-run → nothing re-embedded; restart (once with
//! the embedder gone) → everything still there, search degrades to keywords, and no job
//! is lost.

use crate::common;

use std::path::Path;

use common::server::{model_dir, Server};
use serde_json::{json, Value};

fn args(data_dir: &Path, database_url: Option<&str>, extra: &[&str]) -> Vec<String> {
    let mut a = vec!["--data-dir".into(), data_dir.display().to_string(), "--cpu-threads".into(), "1".into(), "--outbox-poll-ms".into(), "100".into()];
    if let Some(u) = database_url {
        a.extend(["--database-url".into(), u.to_owned()]);
    }
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn webhook(fingerprint: &str, alertname: &str, namespace: &str, summary: &str, status: &str) -> Value {
    json!({
        "version": "4", "groupKey": format!("{{}}:{{alertname=\"{alertname}\"}}"), "truncatedAlerts": 0,
        "status": status, "receiver": "firebreak", "groupLabels": {"alertname": alertname},
        "commonLabels": {"alertname": alertname}, "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": status,
            "labels": {"alertname": alertname, "namespace": namespace, "severity": "critical", "pod": format!("{namespace}-0")},
            "annotations": {"summary": summary},
            "startsAt": "2026-11-20T10:00:00Z",
            "endsAt": if status == "resolved" { "2026-11-20T11:00:00Z" } else { "0001-01-01T00:00:00Z" },
            "generatorURL": "http://prometheus:9090/graph",
            "fingerprint": fingerprint
        }]
    })
}

const CRASHLOOP: &str = "Pod mail/postfix-0 is in CrashLoopBackOff: the container restarts over and over";

async fn search(s: &Server, body: Value) -> Value {
    let (status, v) = s.post("/v1/search", &body).await;
    assert_eq!(status, 200, "{v}");
    v
}

fn top(v: &Value) -> &Value {
    &v["results"][0]
}

async fn whole_path(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let model = model_dir().display().to_string();
    let normal = args(dir.path(), database_url, &["--model", &model]);
    let s = Server::start(&normal);

    // An alert, resent ten times by Alertmanager's repeat interval, and a distractor.
    let crash = webhook("a1b2c3", "KubePodCrashLooping", "mail", CRASHLOOP, "firing");
    for i in 0..10 {
        let (st, v) = s.post("/v1/alerts", &crash).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["new"], if i == 0 { 1 } else { 0 });
    }
    let disk = webhook("d4e5f6", "NodeFilesystemAlmostFull", "photos", "Filesystem on node-3 has less than 5% space left", "firing");
    assert_eq!(s.post("/v1/alerts", &disk).await.0, 200);
    s.drained().await;
    assert_eq!(s.metric("firebreak_scheduler_embedded_texts_total{class=\"alert\"}").await, 2.0, "two occurrences, each embedded once");

    let (_, list) = s.get("/v1/incidents?alertname=KubePodCrashLooping").await;
    let incidents = list["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{list}");
    assert_eq!(incidents[0]["times_notified"], 10);
    let id = incidents[0]["id"].as_i64().unwrap();

    // Found by a query that shares almost no words with it.
    for mode in ["hybrid", "dense"] {
        let v = search(&s, json!({"query": "email server container keeps crashing and restarting", "mode": mode, "k": 5})).await;
        assert_eq!((v["mode"].as_str(), v["degraded"].as_bool()), (Some(mode), Some(false)), "{v}");
        assert_eq!(top(&v)["id"], id, "{mode}: {v}");
        assert_eq!(top(&v)["kind"], "incident");
        assert_eq!(top(&v)["incident"]["times_notified"], 10);
    }
    // An alert as the query: "have we seen this before?"
    let v = search(&s, json!({"alert": crash["alerts"][0], "k": 3})).await;
    assert_eq!(top(&v)["id"], id, "{v}");

    // The fix, as a note: returned with the incident, and its words find it.
    let (st, note) = s.post(&format!("/v1/incidents/{id}/notes"), &json!({"text": "Fixed by raising the postfix memory limit to 512Mi; it was OOMKilled", "author": "sre"})).await;
    assert_eq!(st, 201, "{note}");
    s.drained().await;
    let v = search(&s, json!({"query": "out of memory kill fixed by memory limit", "k": 3})).await;
    assert_eq!(top(&v)["id"], id, "{v}");
    assert_eq!(top(&v)["incident"]["notes"][0]["text"], note["text"]);
    let (_, detail) = s.get(&format!("/v1/incidents/{id}")).await;
    assert_eq!(detail["notes"][0]["author"], "sre", "{detail}");

    // Ingest, then the same export again: nothing new is embedded.
    let docs = json!({"source": "wiki", "run_id": "run-1", "documents": [
        {"id": "runbook-dns", "title": "DNS runbook", "text": "When CoreDNS pods fail, name resolution breaks for every service. Restart coredns and check the upstream resolvers."},
        {"id": "postmortem-load", "title": "Postmortem: load 153", "text": "A bulk chat ingest ran for seven hours and embedded synchronously on a shared node until the load average reached 153."},
        {"id": "chat-1", "text": "anyone know why the photo library is slow today?", "metadata": {"namespace": "photos"}}
    ]});
    let (st, v) = s.post("/v1/ingest", &docs).await;
    assert_eq!((st, &v["accepted"]), (202, &json!(3)), "{v}");
    s.drained().await;
    let bulk = s.metric("firebreak_scheduler_embedded_texts_total{class=\"bulk\"}").await;
    assert!(bulk >= 3.0);
    let mut rerun = docs.clone();
    rerun["run_id"] = json!("run-2");
    let (st, v) = s.post("/v1/ingest", &rerun).await;
    assert_eq!((st, v), (202, json!({"accepted": 0, "unchanged": 3, "queued": 0})));
    s.drained().await;
    assert_eq!(s.metric("firebreak_scheduler_embedded_texts_total{class=\"bulk\"}").await, bulk, "a re-run embeds nothing");

    let v = search(&s, json!({"query": "cluster DNS lookups failing", "kinds": ["document"], "k": 3})).await;
    assert_eq!(top(&v)["document"]["external_id"], "runbook-dns", "{v}");
    let v = search(&s, json!({"query": "slow pictures", "filter": {"namespace": "photos"}, "kinds": ["document"]})).await;
    assert_eq!(v["results"].as_array().unwrap().len(), 1, "{v}");

    let (_, before) = s.get("/v1/status").await;
    let points = before["dependencies"]["index"]["points"].as_u64().unwrap();
    s.stop();

    // Restart with the embedder gone: intake still answers 2xx, search runs keyword-only
    // and says so, and the old incident is still found with its note.
    let down = args(dir.path(), database_url, &["--embedder-url", "http://127.0.0.1:1", "--embedder-timeout-secs", "1"]);
    let s = Server::start(&down);
    let v = search(&s, json!({"query": "postfix CrashLoopBackOff", "k": 3})).await;
    assert_eq!((v["mode"].as_str(), v["degraded"].as_bool()), (Some("keyword"), Some(true)), "{v}");
    assert_eq!(top(&v)["id"], id, "{v}");
    assert!(top(&v)["incident"]["notes"][0]["text"].as_str().unwrap().contains("512Mi"));
    let late = webhook("0a0b0c", "KubeJobFailed", "backup", "Job backup/nightly-restic failed to complete", "firing");
    assert_eq!(s.post("/v1/alerts", &late).await.0, 200, "intake does not need the embedder");
    s.stop();

    // Restart with the model: the job queued while the embedder was down completes, and
    // everything from before is still there.
    let s = Server::start(&normal);
    let after = s.drained().await;
    assert_eq!(after["outbox"]["failed"], 0, "{after}");
    assert_eq!(after["dependencies"]["index"]["points"].as_u64().unwrap(), points + 1, "{after}");
    let v = search(&s, json!({"query": "nightly backup job did not finish", "k": 3})).await;
    assert_eq!(top(&v)["incident"]["alertname"], "KubeJobFailed", "{v}");
    let (_, list) = s.get("/v1/incidents").await;
    assert_eq!(list["incidents"].as_array().unwrap().len(), 3, "{list}");
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_path_on_sqlite_and_qdrant_edge() {
    whole_path(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_path_on_postgres_and_qdrant_edge() {
    let db = common::PgDatabase::create().await;
    whole_path(Some(&db.url)).await;
}
