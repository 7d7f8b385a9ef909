//! One ingest call and what its answer means for the run. The gateway says when to come
//! back (`Retry-After` on 429 and 503), when a batch is too big (413), when something in
//! it is refused (422), when the run is over (409); the caller acts on each.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::document::Document;

/// The gateway's answer to a stored batch.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub struct Stored {
    pub accepted: u64,
    pub unchanged: u64,
}

/// What a call came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 2xx: durably stored.
    Stored(Stored),
    /// 429 or 503: come back later (after `after` when the gateway said).
    Wait { after: Option<Duration>, why: String },
    /// 413: more documents or bytes than one call may carry.
    TooLarge(String),
    /// 400 or 422: something in the batch is refused.
    Refused(String),
    /// 409: the run is older than the gateway allows; the next run goes on.
    RunExpired(String),
    /// 401, 403, 404 and the like: retrying changes nothing.
    Fatal(String),
    /// No answer (refused, reset, timed out) or a 5xx without `Retry-After`.
    Unreachable(String),
}

#[derive(Serialize)]
struct Batch<'a> {
    source: &'a str,
    run_id: &'a str,
    documents: &'a [Document],
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    detail: String,
}

/// The gateway's `/v1/ingest`, with the caller's token.
pub struct Client {
    http: reqwest::Client,
    endpoint: String,
    token: Option<String>,
}

impl Client {
    /// `url` is the gateway's base URL; each call gives up after `timeout`.
    pub fn new(url: &str, token: Option<String>, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(timeout).user_agent(concat!("firebreak-ingest/", env!("CARGO_PKG_VERSION"))).build()?;
        Ok(Client { http, endpoint: format!("{}/v1/ingest", url.trim_end_matches('/')), token })
    }

    /// Sends one batch.
    pub async fn send(&self, source: &str, run_id: &str, documents: &[Document]) -> Answer {
        let mut req = self.http.post(&self.endpoint).json(&Batch { source, run_id, documents });
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Answer::Unreachable(format!("{}: {e}", self.endpoint)),
        };
        let status = resp.status().as_u16();
        let after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if (200..300).contains(&status) {
            return match resp.json::<Stored>().await {
                Ok(s) => Answer::Stored(s),
                // Stored, but the answer was cut: the gateway has the batch; sending it
                // again costs nothing but the call.
                Err(e) => Answer::Unreachable(format!("reading the answer: {e}")),
            };
        }
        let body = resp.text().await.unwrap_or_default();
        let why = match serde_json::from_str::<ErrorBody>(&body) {
            Ok(e) if e.detail.is_empty() => format!("{status} {}", e.error),
            Ok(e) => format!("{status} {}: {}", e.error, e.detail),
            Err(_) => format!("{status} {}", body.chars().take(200).collect::<String>()),
        };
        match status {
            429 => Answer::Wait { after, why },
            502..=504 if after.is_some() => Answer::Wait { after, why },
            413 => Answer::TooLarge(why),
            400 | 422 => Answer::Refused(why),
            409 => Answer::RunExpired(why),
            s if s >= 500 => Answer::Unreachable(why),
            _ => Answer::Fatal(why),
        }
    }
}
