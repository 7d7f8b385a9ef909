//! HTTP helpers for the in-process API tests: one request with its status, headers and
//! JSON body; the metrics page; waiting for a metric to show a guard acted; a hung peer.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};

/// An answer: status, headers, JSON body (`Null` when there is none).
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// A numeric header (`retry-after`, `x-ratelimit-*`).
    pub fn header(&self, name: &str) -> Option<u64> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
    }
}

/// One JSON request, with a bearer token when given.
pub async fn call(method: reqwest::Method, url: String, token: Option<&str>, body: Option<String>) -> Reply {
    let mut r = reqwest::Client::new().request(method, url).header("content-type", "application/json");
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.body(b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    Reply { status, headers, body: r.json().await.unwrap_or(Value::Null) }
}

pub async fn metrics(url: &str) -> String {
    reqwest::get(format!("{url}/metrics")).await.unwrap().text().await.unwrap()
}

/// Waits (10 s at most) until the metrics page contains `needle`.
pub async fn wait_for_metric(url: &str, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !metrics(url).await.contains(needle) {
        assert!(Instant::now() < deadline, "never saw {needle}: {}", metrics(url).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A TCP server that accepts connections and never answers: the one embedder fault the
/// real engine cannot be made to show on demand. Named for what it is.
pub async fn hung_embedder() -> String {
    HungPeer::hung().await.url
}

/// A loopback peer that holds every connection without answering — a hung server, the
/// one fault a real embedder or LLM cannot be made to show on demand (the fake of these
/// tests, named as such) — until told to forward to a real one.
pub struct HungPeer {
    pub url: String,
    forward: Arc<Mutex<Option<SocketAddr>>>,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl HungPeer {
    pub async fn hung() -> HungPeer {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let forward: Arc<Mutex<Option<SocketAddr>>> = Default::default();
        let held: Arc<Mutex<Vec<TcpStream>>> = Default::default();
        let (f, h) = (forward.clone(), held.clone());
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = l.accept().await {
                let target = *f.lock().unwrap();
                match target {
                    None => h.lock().unwrap().push(sock),
                    Some(addr) => {
                        tokio::spawn(async move {
                            if let Ok(mut up) = TcpStream::connect(addr).await {
                                let _ = tokio::io::copy_bidirectional(&mut sock, &mut up).await;
                            }
                        });
                    }
                }
            }
        });
        HungPeer { url, forward, held }
    }

    /// From now on connections reach `to`; the hung ones are closed.
    pub fn forward_to(&self, to: SocketAddr) {
        *self.forward.lock().unwrap() = Some(to);
        self.held.lock().unwrap().clear();
    }
}
