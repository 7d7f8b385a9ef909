//! SIGKILL with jobs in the outbox: after a restart every job completes exactly once, and
//! the index holds exactly one point per chunk (retried jobs overwrite, never duplicate).
//! Runs on SQLite and on Postgres.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::server::{model_dir, Server};
use serde_json::json;
use sqlx::Row;

const DOCS: usize = 40;

fn args(data_dir: &Path, database_url: Option<&str>, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = ["--data-dir", &data_dir.display().to_string(), "--model", &model_dir().display().to_string()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.extend(["--cpu-threads", "1", "--outbox-poll-ms", "100", "--job-lease-secs", "2"].iter().map(|s| s.to_string()));
    if let Some(u) = database_url {
        a.extend(["--database-url".to_string(), u.to_owned()]);
    }
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

async fn killed_with_jobs_in_outbox(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    // Small batches and few jobs at a time: the kill lands with most of the outbox waiting
    // and some jobs leased mid-embedding.
    let slow = args(dir.path(), database_url, &["--max-jobs", "2", "--embed-batch-texts", "2"]);
    let s = Server::start(&slow);
    let documents: Vec<_> = (0..DOCS)
        .map(|i| json!({"id": format!("doc-{i}"), "title": format!("Runbook {i}"), "text": format!("Step {i}: drain node-{i} before upgrading its kubelet, then uncordon it.")}))
        .collect();
    let (st, v) = s.post("/v1/ingest", &json!({"source": "runbooks", "run_id": "r1", "documents": documents})).await;
    assert_eq!((st, &v["accepted"]), (202, &json!(DOCS)), "{v}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, status) = s.get("/v1/status").await;
    s.kill();
    let pending = status["outbox"]["pending"].as_i64().unwrap() + status["outbox"]["leased"].as_i64().unwrap();
    assert!(pending > 0, "the kill must land with jobs still in the outbox: {status}");

    let s = Server::start(&args(dir.path(), database_url, &[]));
    let st = s.drained().await;
    let outbox = &st["outbox"];
    assert_eq!((outbox["done"].as_u64(), outbox["failed"].as_u64()), (Some(DOCS as u64), Some(0)), "{st}");
    assert_eq!(st["dependencies"]["index"]["points"].as_u64(), Some(DOCS as u64), "one point per document: {st}");

    // Underneath: every job row done, none twice, none left.
    let url = database_url.map(str::to_owned).unwrap_or_else(|| firebreak_gateway::pipeline::store::Dialect::sqlite_url(dir.path()));
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let rows = sqlx::query("SELECT target_id, state FROM embedding_jobs ORDER BY target_id").fetch_all(&pool).await.unwrap();
    assert_eq!(rows.len(), DOCS);
    let mut targets: Vec<i64> = rows.iter().map(|r| r.get::<i64, _>(0)).collect();
    targets.dedup();
    assert_eq!(targets.len(), DOCS, "one job per document");
    assert!(rows.iter().all(|r| r.get::<String, _>(1) == "done"));
    pool.close().await;

    // And every document is findable, once.
    let (_, v) = s.post("/v1/search", &json!({"query": "drain kubelet uncordon", "mode": "keyword", "k": DOCS})).await;
    let mut found: Vec<&str> = v["results"].as_array().unwrap().iter().filter_map(|r| r["document"]["external_id"].as_str()).collect();
    found.sort();
    found.dedup();
    assert_eq!(found.len(), DOCS, "{v}");
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_on_sqlite() {
    killed_with_jobs_in_outbox(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_on_postgres() {
    let db = common::PgDatabase::create().await;
    killed_with_jobs_in_outbox(Some(&db.url)).await;
}
