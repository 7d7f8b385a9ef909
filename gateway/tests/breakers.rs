//! The circuit breakers made to act by real faults: the real model made "slow" by a
//! threshold it cannot meet, an embedder that accepts connections and never answers (the
//! one fake here: a hung server cannot be made otherwise), and the real Postgres cut off
//! behind a TCP proxy and given back.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use firebreak_gateway::app::{EmbedderChoice, Gateway};
use firebreak_gateway::pipeline::embedding::remote::RemoteConfig;
use firebreak_gateway::pipeline::store::sql::StoreConfig;
use firebreak_gateway::pipeline::store::SqlxStore;
use common::http::{metrics, wait_for_metric};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

async fn post(url: &str, path: &str, body: String) -> (u16, Value) {
    let r = reqwest::Client::new().post(format!("{url}{path}")).header("content-type", "application/json").body(body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn search(q: &str) -> String {
    json!({"query": q}).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_embedding_batches_open_the_breaker_and_search_goes_keyword_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::one_core_gateway(dir.path());
    // No real batch finishes in a microsecond: every one is "slow".
    cfg.breakers.embed_slow_call = Duration::from_micros(1);
    cfg.breakers.failures = 2;
    cfg.breakers.open_min = Duration::from_secs(60);
    let (url, _gw) = common::serve_gateway(cfg).await;
    for _ in 0..2 {
        let (s, v) = post(&url, "/v1/search", search("disk pressure on node")).await;
        assert_eq!((s, v["degraded"].as_bool()), (200, Some(false)), "a slow result is still used: {v}");
    }
    let t = Instant::now();
    let (s, v) = post(&url, "/v1/search", search("disk pressure on node")).await;
    assert_eq!((s, v["mode"].as_str(), v["degraded"].as_bool()), (200, Some("keyword"), Some(true)), "{v}");
    assert!(v["degraded_reason"].as_str().unwrap().contains("circuit breaker open"), "{v}");
    assert!(t.elapsed() < Duration::from_secs(1), "an open breaker answers at once: {:?}", t.elapsed());
    let m = metrics(&url).await;
    assert!(m.contains(r#"firebreak_breaker_state{dependency="embedder"} 1"#), "{m}");
    assert!(m.contains(r#"firebreak_breaker_slow_calls_total{dependency="embedder"} 2"#), "{m}");
    assert!(m.contains(r#"firebreak_breaker_transitions_total{dependency="embedder",to="open"} 1"#), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_embedder_opens_the_breaker_and_alerts_wait_without_failing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::config(dir.path(), "unused");
    cfg.embedder = EmbedderChoice::Remote {
        cfg: RemoteConfig { url: common::http::hung_embedder().await, model: "hung".into(), dim: 384, timeout: Duration::from_millis(300) },
        tokenizer: None,
        max_seq_length: 256,
    };
    cfg.indexer.poll_interval = Duration::from_millis(50);
    cfg.breakers.failures = 2;
    cfg.breakers.open_min = Duration::from_secs(60);
    let (url, gw) = common::serve_gateway(cfg).await;
    for _ in 0..2 {
        let (_, v) = post(&url, "/v1/search", search("x")).await;
        assert_eq!(v["degraded"], true, "{v}");
    }
    let t = Instant::now();
    let (_, v) = post(&url, "/v1/search", search("x")).await;
    assert!(v["degraded_reason"].as_str().unwrap().contains("circuit breaker open"), "{v}");
    assert!(t.elapsed() < Duration::from_millis(250), "no wait on a known-dead embedder: {:?}", t.elapsed());
    let (s, v) = post(&url, "/v1/embeddings", json!({"input": "x"}).to_string()).await;
    assert_eq!((s, v["error"].as_str()), (503, Some("embedding_paused")), "{v}");

    // Alerts are stored; their jobs are deferred while the breaker is open, never failed.
    let (_, raw) = common::webhook("firing", &[("fp1", "KubePodCrashLooping", "restarting")]);
    assert_eq!(post(&url, "/v1/alerts", raw).await.0, 200);
    wait_for_metric(&url, r#"firebreak_outbox_jobs_deferred_total{kind="incident"}"#).await;
    let b = gw.state.store.backlog(firebreak_gateway::clock::now_millis()).await.unwrap();
    assert_eq!((b.pending, b.failed), (1, 0), "{b:?}");
    let m = metrics(&url).await;
    assert!(m.contains(r#"firebreak_breaker_state{dependency="embedder"} 1"#), "{m}");
    assert!(m.contains(r#"firebreak_breaker_rejected_total{dependency="embedder"}"#), "{m}");
}

/// A TCP proxy to Postgres that can be cut (every connection dropped, new ones closed at
/// once) and restored: a database outage without stopping the shared server.
struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    conns: Arc<Mutex<JoinSet<()>>>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(Mutex::new(JoinSet::new()));
        let (c, set) = (cut.clone(), conns.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = l.accept().await {
                if c.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees its connection closed
                }
                let target = target.clone();
                set.lock().unwrap().spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Proxy { port, cut, conns }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.conns.lock().unwrap().abort_all();
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_opens_the_store_breaker_and_service_resumes_by_itself() {
    let db = common::PgDatabase::create().await;
    let (host_port, rest) = db.url.trim_start_matches("postgres://").split_once('/').unwrap();
    let (userinfo, hp) = host_port.rsplit_once('@').map(|(u, h)| (format!("{u}@"), h)).unwrap_or((String::new(), host_port));
    let proxy = Proxy::start(hp.to_owned()).await;
    let via_proxy = format!("postgres://{userinfo}127.0.0.1:{}/{rest}", proxy.port);
    let mut store_cfg = StoreConfig::new(&via_proxy);
    store_cfg.acquire_timeout = Duration::from_secs(2);
    let store = SqlxStore::open(&store_cfg).await.expect("Postgres through the proxy");

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::config(dir.path(), "unused");
    cfg.embedder = common::nowhere_embedder();
    cfg.database_url = Some(via_proxy);
    cfg.breakers.failures = 2;
    cfg.breakers.open_min = Duration::from_millis(500);
    cfg.breakers.open_max = Duration::from_millis(500);
    let gw = Gateway::start_with_store(cfg, Arc::new(store)).await.unwrap();
    let (url, _gw) = common::serve_router(gw).await;
    let alert = |fp: &str| common::webhook("firing", &[(fp, "PostgresDown", "database unreachable")]).1;
    assert_eq!(post(&url, "/v1/alerts", alert("a")).await.0, 200);

    proxy.cut();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !metrics(&url).await.contains(r#"firebreak_breaker_state{dependency="store"} 1"#) {
        let (s, v) = post(&url, "/v1/alerts", alert("b")).await;
        assert_eq!((s, v["error"].as_str()), (503, Some("store_unavailable")), "{v}");
        assert!(Instant::now() < deadline, "the store breaker never opened: {}", metrics(&url).await);
    }
    let (s, v) = post(&url, "/v1/alerts", alert("b")).await;
    assert_eq!(s, 503, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("circuit breaker open"), "{v}");
    let docs = json!({"source": "chat", "run_id": "r1", "documents": [{"id": "d", "text": "hello"}]}).to_string();
    let (s, v) = post(&url, "/v1/ingest", docs).await;
    assert_eq!((s, v["error"].as_str()), (503, Some("store_unavailable")), "ingest too: {v}");
    assert_eq!(reqwest::get(format!("{url}/readyz")).await.unwrap().status(), 503);
    let status: Value = reqwest::get(format!("{url}/v1/status")).await.unwrap().json().await.unwrap();
    assert_eq!(status["breakers"]["store"], "open", "{status}");
    assert_eq!(reqwest::get(format!("{url}/healthz")).await.unwrap().status(), 200);
    wait_for_metric(&url, "firebreak_outbox_claim_failures_total 1").await;

    // The database comes back: a half-open probe finds it, and intake resumes unaided.
    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, v) = post(&url, "/v1/alerts", alert("b")).await;
        if s == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "service did not resume: {s} {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(reqwest::get(format!("{url}/readyz")).await.unwrap().status(), 200);
    let m = metrics(&url).await;
    assert!(m.contains(r#"firebreak_breaker_state{dependency="store"} 0"#), "{m}");
    assert!(m.contains(r#"firebreak_breaker_transitions_total{dependency="store",to="closed"}"#), "{m}");
}

/// Serves `gateway` until `stop` fires, then lets the router (and with it the gateway's
/// shared state, the index shard included) go: for a test that restarts in-process.
async fn serve_until(gateway: &Gateway, stop: tokio::sync::oneshot::Receiver<()>) -> (String, tokio::task::JoinHandle<()>) {
    use firebreak_gateway::serve::{serve, ConnLimits};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let limits = ConnLimits { header_read_timeout: Duration::from_millis(500), grace: Duration::from_secs(1) };
    let task = tokio::spawn(serve(listener, gateway.router(), limits, async move {
        let _ = stop.await;
    }));
    (url, task)
}

/// Jobs not done yet (waiting or in progress), and jobs given up.
async fn pending_and_failed(gw: &Gateway) -> (i64, i64) {
    let b = gw.state.store.backlog(firebreak_gateway::clock::now_millis()).await.unwrap();
    (b.pending + b.leased, b.failed)
}

/// The real qdrant-edge shard made "slow" by a threshold it cannot meet (as a stuck disk
/// would make it): the index breaker opens, alerts are still stored (200) and their jobs
/// wait without failing, and searches answer 503 at once. Then the index is usable again
/// (the gateway restarts on the same data directory with the default threshold, as after
/// the disk is fixed) and the waiting jobs back-fill the vectors: the alerts are found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_index_opens_its_breaker_and_vectors_are_back_filled_when_it_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::one_core_gateway(dir.path());
    cfg.indexer.poll_interval = Duration::from_millis(50);
    let mut slow = cfg.clone();
    slow.breakers.index_slow_call = Duration::from_micros(1);
    slow.breakers.failures = 2;
    slow.breakers.open_min = Duration::from_secs(60);

    let gw = Gateway::start(slow).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let (url, server) = serve_until(&gw, stopped).await;
    let alert = |fp: &str, summary: &str| common::webhook("firing", &[(fp, "NodeDiskFull", summary)]).1;
    // Each indexed alert costs the index slow calls; the breaker opens after two.
    let mut n = 0;
    while !metrics(&url).await.contains(r#"firebreak_breaker_state{dependency="index"} 1"#) {
        assert!(n < 5, "the index breaker never opened: {}", metrics(&url).await);
        assert_eq!(post(&url, "/v1/alerts", alert(&format!("early{n}"), "disk filling up")).await.0, 200);
        n += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let waiting = ["etcd quorum lost during VLAN migration", "certificate for ingress expired at midnight"];
    for (i, summary) in waiting.iter().enumerate() {
        let (s, v) = post(&url, "/v1/alerts", alert(&format!("late{i}"), summary)).await;
        assert_eq!(s, 200, "alerts are stored while the index is out: {v}");
    }
    wait_for_metric(&url, r#"firebreak_outbox_jobs_deferred_total{kind="incident"}"#).await;
    let (pending, failed) = pending_and_failed(&gw).await;
    assert!(pending >= 2 && failed == 0, "jobs wait, none fail: pending {pending}, failed {failed}");
    let t = Instant::now();
    let (s, v) = post(&url, "/v1/search", search("etcd quorum")).await;
    assert_eq!((s, v["error"].as_str()), (503, Some("index_unavailable")), "{v}");
    assert!(t.elapsed() < Duration::from_millis(500), "an open breaker answers at once: {:?}", t.elapsed());
    let status: Value = reqwest::get(format!("{url}/v1/status")).await.unwrap().json().await.unwrap();
    assert_eq!(status["breakers"]["index"], "open", "{status}");
    let m = metrics(&url).await;
    assert!(m.contains(r#"firebreak_breaker_slow_calls_total{dependency="index"}"#), "{m}");

    // The index is usable again: same data directory, the default threshold.
    let _ = stop.send(());
    server.await.unwrap();
    gw.shutdown(Duration::from_secs(2)).await;
    let gw = Gateway::start(cfg).await.unwrap();
    let (_stop, stopped) = tokio::sync::oneshot::channel();
    let (url, _server) = serve_until(&gw, stopped).await;
    // Deferred jobs come back after the dependency wait (10 s).
    let deadline = Instant::now() + Duration::from_secs(60);
    while pending_and_failed(&gw).await != (0, 0) {
        assert!(Instant::now() < deadline, "the waiting jobs were never back-filled: {:?}", pending_and_failed(&gw).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for summary in waiting {
        let (s, v) = post(&url, "/v1/search", json!({"query": summary, "mode": "dense", "k": 1}).to_string()).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["degraded"], false, "{v}");
        let hit = v["results"][0]["snippet"].as_str().unwrap_or_default();
        assert!(hit.contains(summary), "{summary:?} is found once its vector is back-filled: {v}");
    }
}
