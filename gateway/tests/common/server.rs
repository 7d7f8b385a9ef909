//! The real `firebreak` binary as a child process: started on an ephemeral port, stopped
//! with SIGTERM or killed with SIGKILL, its log kept for failure messages.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The MiniLM model (scripts/fetch-model.sh), or `FIREBREAK_MODEL_DIR`.
pub fn model_dir() -> PathBuf {
    let dir = std::env::var_os("FIREBREAK_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/all-MiniLM-L6-v2"));
    assert!(dir.join("model.safetensors").is_file(), "no model in {} (run scripts/fetch-model.sh)", dir.display());
    dir
}

/// The chat model: `FIREBREAK_CHAT_MODEL`, or `models/SmolLM2-135M-Instruct` (scripts/fetch-chat-model.sh).
pub fn chat_model_dir() -> PathBuf {
    let dir = std::env::var_os("FIREBREAK_CHAT_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/SmolLM2-135M-Instruct"));
    assert!(dir.exists(), "no chat model in {} (run scripts/fetch-chat-model.sh)", dir.display());
    dir
}

/// The real embedder service in this process (`firebreak-embedder serve`'s router, the
/// real MiniLM on one thread, and with `chat` the real SmolLM2 behind
/// `/v1/chat/completions`), on an ephemeral loopback port.
pub async fn embedder_service(chat: bool) -> std::net::SocketAddr {
    use firebreak_embedder::chat::{ChatConfig, ChatEngine};
    use firebreak_embedder::http::{router, AppState, HttpLimits};
    let mut cfg = firebreak_embedder::EngineConfig::new(model_dir());
    cfg.cpu_threads = Some(1);
    let mut registry = prometheus_client::registry::Registry::default();
    let embedder = firebreak_embedder::Embedder::start(cfg, &mut registry).unwrap();
    let chat = chat.then(|| ChatEngine::start(ChatConfig::new(chat_model_dir()), embedder.budget().clone(), embedder.gate().clone(), &mut registry).unwrap());
    let state = AppState::new(embedder, chat, registry, HttpLimits::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await.unwrap() });
    addr
}

/// A running gateway process.
pub struct Server {
    child: Child,
    pub url: String,
    log: Arc<Mutex<Vec<String>>>,
    http: reqwest::Client,
}

impl Server {
    /// Starts `firebreak serve` with `args` (plus an ephemeral port) and waits until it listens.
    pub fn start(args: &[String]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_firebreak"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("FIREBREAK_LOG", "info")
            // The node's real load must not pause these tests' embedding (tests/guards.rs
            // makes the pressure guard act on purpose).
            .env("FIREBREAK_PRESSURE_BULK_PAUSE", "101")
            .env("FIREBREAK_PRESSURE_ALERT_PAUSE", "101")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("firebreak starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listen=").nth(1).filter(|_| line.contains("firebreak serving")) {
                    let _ = tx.send(addr.split_whitespace().next().unwrap_or("").to_owned());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("firebreak did not start:\n{}", log.lock().unwrap().join("\n"));
            }
        };
        Server { child, url: format!("http://{addr}"), log, http: reqwest::Client::new() }
    }

    /// A field of the process's /proc status in KiB (`VmRSS`, `VmHWM`).
    pub fn memory_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self.http.post(format!("{}{path}", self.url)).json(body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_raw(&self, path: &str, body: String) -> (u16, Value) {
        let r = self.http.post(format!("{}{path}", self.url)).header("content-type", "application/json").body(body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(format!("{}{path}", self.url)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// A metric's value from `/metrics` (0 when absent), e.g.
    /// `firebreak_scheduler_embedded_texts_total{class="alert"}`.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self.http.get(format!("{}/metrics", self.url)).send().await.unwrap().text().await.unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    }

    /// Waits until the outbox has nothing pending or leased.
    pub async fn drained(&self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (_, s) = self.get("/v1/status").await;
            let o = &s["outbox"];
            if o["pending"] == 0 && o["leased"] == 0 {
                return s;
            }
            assert!(Instant::now() < deadline, "outbox never drained: {s}\n{}", self.log());
            // 4 polls a second stay under the default query rate (300/min per source).
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// SIGTERM, then waits for a clean exit, logged as such.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                assert!(st.success(), "firebreak exited with {st}:\n{}", self.log());
                // It says it was asked to stop, and that it did.
                let log = self.log();
                assert!(log.contains("shutting down: finishing accepted requests") && log.contains("firebreak stopped"), "no shutdown lines:\n{log}");
                return;
            }
            assert!(Instant::now() < deadline, "firebreak did not stop on SIGTERM:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
