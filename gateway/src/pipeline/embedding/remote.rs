//! A remote embedder over the OpenAI-compatible `POST /v1/embeddings` (Firebreak's own
//! `firebreak-embedder serve`, TEI, Ollama). Firebreak's class travels in the
//! `x-firebreak-priority` header; other servers ignore it.
//!
//! Every call has a deadline: a hung embedder must cost a timeout, not a stuck worker.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use serde::Deserialize;

use super::{Class, EmbedBackend, EmbedFailure, Vector};

/// Where and how to reach the remote embedder.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// Base URL; `/v1/embeddings` is appended.
    pub url: String,
    /// Sent as `model` (Ollama needs it) and used as the vector-cache key.
    pub model: String,
    pub dim: usize,
    pub timeout: Duration,
}

/// The client.
pub struct Remote {
    http: reqwest::Client,
    endpoint: String,
    cfg: RemoteConfig,
}

#[derive(Deserialize)]
struct Response {
    data: Vec<Datum>,
}

#[derive(Deserialize)]
struct Datum {
    index: usize,
    embedding: Vec<f32>,
}

impl Remote {
    pub fn new(cfg: RemoteConfig) -> Result<Self, EmbedFailure> {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| EmbedFailure::Unavailable(format!("http client: {e}")))?;
        let endpoint = format!("{}/v1/embeddings", cfg.url.trim_end_matches('/').trim_end_matches("/v1"));
        Ok(Remote { http, endpoint, cfg })
    }
}

fn retry_after(h: &reqwest::header::HeaderMap) -> Duration {
    h.get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1))
}

#[async_trait]
impl EmbedBackend for Remote {
    fn model(&self) -> &str {
        &self.cfg.model
    }

    fn dim(&self) -> usize {
        self.cfg.dim
    }

    fn describe(&self) -> String {
        format!("remote {}", self.endpoint)
    }

    async fn embed(&self, texts: Vec<String>, class: Class) -> Result<Vec<Vector>, EmbedFailure> {
        let n = texts.len();
        let resp = self
            .http
            .post(&self.endpoint)
            .header("x-firebreak-priority", class.as_str())
            .json(&serde_json::json!({"input": texts, "model": self.cfg.model}))
            .send()
            .await
            .map_err(|e| EmbedFailure::Unavailable(format!("{}: {e}", self.endpoint)))?;
        let status = resp.status();
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            return Err(EmbedFailure::Overloaded { retry_after: retry_after(resp.headers()) });
        }
        if status.is_client_error() {
            let body = resp.text().await.unwrap_or_default();
            return Err(EmbedFailure::Input(format!("{status}: {}", body.chars().take(300).collect::<String>())));
        }
        if !status.is_success() {
            return Err(EmbedFailure::Unavailable(format!("{}: HTTP {status}", self.endpoint)));
        }
        let mut body: Response =
            resp.json().await.map_err(|e| EmbedFailure::Unavailable(format!("{}: bad response: {e}", self.endpoint)))?;
        body.data.sort_by_key(|d| d.index);
        if body.data.len() != n || body.data.iter().any(|d| d.embedding.len() != self.cfg.dim) {
            return Err(EmbedFailure::Unavailable(format!(
                "{}: expected {n} vectors of dimension {}, got {} (check --embedding-dim)",
                self.endpoint,
                self.cfg.dim,
                body.data.len()
            )));
        }
        Ok(body.data.into_iter().map(|d| Vector { values: d.embedding, tokens: None }).collect())
    }
}
