//! Real databases for the gateway's tests: a SQLite file in a temp dir, and a fresh
//! Postgres database per test on the server at `FIREBREAK_TEST_DATABASE_URL` (default:
//! the local trust-auth server, postgres://postgres@127.0.0.1:5432/test), dropped after.
#![allow(dead_code)]

pub mod http;
pub mod server;

use firebreak_gateway::pipeline::store::sql::StoreConfig;
use firebreak_gateway::pipeline::store::SqlxStore;
use sqlx::Connection;

/// Serves a gateway on a loopback port through the production accept loop
/// ([`firebreak_gateway::serve`]); keep the returned handle alive as long as the URL is used.
pub async fn serve_gateway(cfg: firebreak_gateway::app::GatewayConfig) -> (String, firebreak_gateway::app::Gateway) {
    serve_router(firebreak_gateway::app::Gateway::start(cfg).await.expect("gateway starts")).await
}

/// As [`serve_gateway`], for a gateway the test started itself.
pub async fn serve_router(gateway: firebreak_gateway::app::Gateway) -> (String, firebreak_gateway::app::Gateway) {
    use firebreak_gateway::serve::{serve, ConnLimits};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let limits = ConnLimits { header_read_timeout: std::time::Duration::from_millis(500), grace: std::time::Duration::from_secs(1) };
    tokio::spawn(serve(listener, gateway.router(), limits, std::future::pending()));
    (url, gateway)
}

/// The embedded default for an in-process test, with the node pressure guard off: it
/// reads the machine's real PSI, and the test suite itself (tests side by side on two
/// cores) takes CPU pressure past the 40 % that pauses bulk intake, which made unrelated
/// tests' ingest answer 429 on a busy run. The tests of that guard turn it on with a
/// pressure file of their own (tests/guards.rs, tests/outage.rs).
pub fn config(data_dir: &std::path::Path, model_dir: impl Into<std::path::PathBuf>) -> firebreak_gateway::app::GatewayConfig {
    let mut cfg = firebreak_gateway::app::GatewayConfig::embedded(data_dir, model_dir);
    cfg.pressure = firebreak_gateway::guards::pressure::PressureConfig::off();
    if let Some(index) = server_index(data_dir) {
        cfg.index = index;
    }
    cfg
}

/// The index backend the tests' gateways run on, as `/v1/status` names it.
pub fn index_backend() -> &'static str {
    if server_index(std::path::Path::new("")).is_some() { "qdrant" } else { "qdrant-edge" }
}

/// With `FIREBREAK_TEST_INDEX=server` and `FIREBREAK_TEST_QDRANT_URL`, the gateways of the
/// end-to-end tests index into that Qdrant server instead of a qdrant-edge shard: one
/// collection per data directory, so a test that restarts its gateway finds its points
/// again and no two tests share one. Run by hand against a server built by hand
/// (docs/benchmarks.md, Qdrant server); CI has none.
fn server_index(data_dir: &std::path::Path) -> Option<firebreak_gateway::app::IndexChoice> {
    use std::hash::{Hash, Hasher};
    if std::env::var("FIREBREAK_TEST_INDEX").ok()? != "server" {
        return None;
    }
    let url = std::env::var("FIREBREAK_TEST_QDRANT_URL").expect("FIREBREAK_TEST_INDEX=server needs FIREBREAK_TEST_QDRANT_URL");
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data_dir.hash(&mut h);
    let collection = format!("firebreak_e2e_{:016x}", h.finish());
    Some(firebreak_gateway::app::IndexChoice::Server { url, collection, timeout: std::time::Duration::from_secs(10) })
}

/// [`config`] with the real model on one inference thread: tests share two cores, and
/// one test's embedder must leave the other core to the rest.
pub fn one_core_gateway(data_dir: &std::path::Path) -> firebreak_gateway::app::GatewayConfig {
    let mut cfg = config(data_dir, server::model_dir());
    if let firebreak_gateway::app::EmbedderChoice::InProcess(e) = &mut cfg.embedder {
        e.cpu_threads = Some(1);
    }
    cfg
}

/// An embedder where nothing listens: for tests of everything that must not need one.
pub fn nowhere_embedder() -> firebreak_gateway::app::EmbedderChoice {
    use firebreak_gateway::pipeline::embedding::remote::RemoteConfig;
    firebreak_gateway::app::EmbedderChoice::Remote {
        cfg: RemoteConfig {
            url: "http://127.0.0.1:1".into(),
            model: "nowhere".into(),
            dim: 384,
            timeout: std::time::Duration::from_secs(1),
        },
        tokenizer: None,
        max_seq_length: 256,
    }
}

pub fn admin_url() -> String {
    std::env::var("FIREBREAK_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A store on a fresh SQLite file; keep the TempDir alive as long as the store.
pub async fn sqlite() -> (SqlxStore, tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = firebreak_gateway::pipeline::store::Dialect::sqlite_url(dir.path());
    let store = SqlxStore::open(&StoreConfig::new(&url)).await.expect("SQLite store opens");
    (store, dir, url)
}

/// A fresh Postgres database; dropped when the guard is.
pub struct PgDatabase {
    pub url: String,
    name: String,
}

impl PgDatabase {
    pub async fn create() -> Self {
        let admin = admin_url();
        let name = format!("fb_test_{}_{}", std::process::id(), rand_suffix());
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("Postgres at {admin} is required for this test: {e}"));
        // `name` is fb_test_ plus digits: nothing from outside reaches this SQL.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
        let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
        PgDatabase { url: format!("{base}/{name}"), name }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin, name) = (admin_url(), self.name.clone());
        // Drop on a separate thread with its own runtime: Drop cannot await.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&mut c).await;
                }
            });
        })
        .join();
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    h.finish() % 1_000_000_000
}

pub async fn postgres() -> (SqlxStore, PgDatabase) {
    let db = PgDatabase::create().await;
    let store = SqlxStore::open(&StoreConfig::new(&db.url)).await.expect("Postgres store opens");
    (store, db)
}

/// An Alertmanager v4 webhook with one alert per (fingerprint, alertname, summary).
pub fn webhook(status: &str, alerts: &[(&str, &str, &str)]) -> (firebreak_gateway::alertmanager::Webhook, String) {
    let alerts: Vec<serde_json::Value> = alerts
        .iter()
        .map(|(fp, name, summary)| {
            serde_json::json!({
                "status": status,
                "labels": {"alertname": name, "namespace": "cardboard", "severity": "critical", "pod": "web-7d9f8c6b5-x2k4q"},
                "annotations": {"summary": summary},
                "startsAt": "2026-11-20T10:00:00Z",
                "endsAt": if status == "resolved" { "2026-11-20T11:00:00Z" } else { "0001-01-01T00:00:00Z" },
                "generatorURL": "http://prometheus/graph",
                "fingerprint": fp
            })
        })
        .collect();
    let raw = serde_json::json!({
        "version": "4", "groupKey": "{}:{alertname=\"x\"}", "truncatedAlerts": 0, "status": status,
        "receiver": "firebreak", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager", "alerts": alerts
    })
    .to_string();
    (serde_json::from_str(&raw).unwrap(), raw)
}

/// Writes a PSI file. Real node pressure cannot be made on demand on a shared 2-core
/// machine without disturbing every other test, so this file stands in for
/// /proc/pressure/cpu: a fake, named as such, used where a test makes the pressure
/// guard act (tests/guards.rs, tests/outage.rs).
pub fn write_psi(path: &std::path::Path, some_avg10: f64) {
    let text = format!("some avg10={some_avg10:.2} avg60=0.00 avg300=0.00 total=1\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
    std::fs::write(path, text).unwrap();
}
