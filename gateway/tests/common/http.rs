//! HTTP helpers for the in-process API tests: one request with its status, headers and
//! JSON body; the metrics page; waiting for a metric to show a guard acted.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use serde_json::Value;

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
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = l.accept().await {
            held.push(sock);
        }
    });
    url
}
