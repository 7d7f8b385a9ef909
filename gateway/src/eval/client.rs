//! The evaluation's HTTP client: the same API Alertmanager, the notes UI and an SRE use,
//! with the bearer token given, and polite about refusals: a 429 or 503 is waited out
//! (its `Retry-After`, else a second) for up to two minutes, as any client should.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Longest a single call keeps retrying refusals.
const PATIENCE: Duration = Duration::from_secs(120);

pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
        Ok(Client { base: base.trim_end_matches('/').to_owned(), token, http })
    }

    /// One call; JSON in and out. Refusals are retried, other errors end the run with
    /// the gateway's own `{"error", "detail"}`.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let started = Instant::now();
        loop {
            let mut req = self.http.request(method.clone(), format!("{}{path}", self.base));
            if let Some(t) = &self.token {
                req = req.bearer_auth(t);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let wait = match req.send().await {
                Ok(r) if r.status().is_success() => return r.json().await.with_context(|| format!("{method} {path}: answer is not JSON")),
                Ok(r) if matches!(r.status(), StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) => {
                    let secs = r.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse::<u64>().ok()).unwrap_or(1);
                    Duration::from_secs(secs.clamp(1, 30))
                }
                Ok(r) => {
                    let status = r.status();
                    bail!("{method} {path}: {status}: {}", r.text().await.unwrap_or_default());
                }
                Err(e) if e.is_connect() => Duration::from_secs(1),
                Err(e) => return Err(e).with_context(|| format!("{method} {path}")),
            };
            if started.elapsed() + wait > PATIENCE {
                bail!("{method} {path}: still refused after {:?}", started.elapsed());
            }
            tokio::time::sleep(wait).await;
        }
    }
}
