//! The gateway on a remote embedder: the real `firebreak-embedder serve` router (real
//! model) on loopback, reached over its OpenAI-compatible API, with token-exact chunking
//! from the model's tokenizer.json. Alerts and documents get indexed through it and are
//! found by meaning, exactly as with the in-process engine.

use crate::common;

use std::time::{Duration, Instant};

use firebreak_embedder::http::{router, AppState, HttpLimits};
use firebreak_embedder::{EngineConfig, Embedder};
use firebreak_gateway::app::{EmbedderChoice, Gateway};
use firebreak_gateway::clock::now_millis;
use firebreak_gateway::pipeline::embedding::remote::RemoteConfig;
use firebreak_gateway::query::search::{Mode, Query};
use firebreak_gateway::pipeline::store::NewDocument;
use prometheus_client::registry::Registry;

async fn embedder_service() -> String {
    let mut cfg = EngineConfig::new(common::server::model_dir());
    cfg.cpu_threads = Some(1);
    let mut registry = Registry::default();
    let embedder = Embedder::start(cfg, &mut registry).unwrap();
    let state = AppState::new(embedder, None, registry, HttpLimits::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(state)).await.unwrap() });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexes_and_searches_through_firebreak_embedder_serve() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::config(dir.path(), "unused");
    cfg.embedder = EmbedderChoice::Remote {
        cfg: RemoteConfig {
            url: embedder_service().await,
            model: "all-MiniLM-L6-v2".into(),
            dim: 384,
            timeout: Duration::from_secs(30),
        },
        tokenizer: Some(common::server::model_dir().join("tokenizer.json")),
        max_seq_length: 256,
    };
    cfg.indexer.poll_interval = Duration::from_millis(50);
    let gw = Gateway::start(cfg).await.unwrap();
    let st = gw.state.clone();
    assert!(st.scheduler.backend().describe().starts_with("remote http://127.0.0.1:"));

    let (hook, raw) = common::webhook("firing", &[("fp9", "CertificateExpiringSoon", "TLS certificate for mail.example.org expires in 2 days")]);
    st.store.record_webhook("alertmanager", &hook, &raw, &[], now_millis()).await.unwrap();
    let doc = NewDocument {
        external_id: "runbook/backups".into(),
        title: Some("Backups".into()),
        text: "Restic snapshots of the photo library run nightly to the NAS; prune keeps 30 days.".into(),
        metadata: serde_json::json!({}),
        updated_at: None,
    };
    st.store.ingest("ingester", "wiki", "r1", &[doc], now_millis()).await.unwrap();
    st.wake.notify_one();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let b = st.store.backlog(now_millis()).await.unwrap();
        if b.pending == 0 && b.leased == 0 {
            assert_eq!((b.done, b.failed), (2, 0));
            break;
        }
        assert!(Instant::now() < deadline, "outbox never drained: {b:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(st.index.count(&Default::default()).await.unwrap(), 2);

    for (text, alertname, external_id) in
        [("https cert about to run out", Some("CertificateExpiringSoon"), None), ("where are the picture backups stored", None, Some("runbook/backups"))]
    {
        let q = Query { text: text.into(), alert: None, k: 1, filter: Default::default(), mode: Mode::Dense, source: "test".into() };
        let r = st.searcher.search(&q).await.unwrap();
        assert_eq!((r.mode, r.degraded), (Mode::Dense, false));
        let hit = &r.results[0];
        assert_eq!(hit.incident.as_ref().map(|i| i.head.alertname.as_str()), alertname, "{text}");
        assert_eq!(hit.document.as_ref().map(|d| d.external_id.as_str()), external_id, "{text}");
    }
    gw.shutdown(Duration::from_secs(5)).await;
}
