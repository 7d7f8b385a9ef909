//! Reading back what the gateway holds, through its own API: the incidents stored, the
//! outbox drained, the points indexed. What the load sent is compared with this.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

/// An API client with the read token.
pub struct Reader {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Reader {
    pub fn new(url: &str, token: &str) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("an HTTP client");
        Reader { http, url: url.to_owned(), token: token.to_owned() }
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        for _ in 0..20 {
            let r = self.http.get(format!("{}{path}", self.url)).bearer_auth(&self.token).send().await?;
            if r.status().as_u16() == 429 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            return Ok(r.error_for_status()?.json().await?);
        }
        anyhow::bail!("{path}: rate limited twenty times")
    }

    /// `/v1/status`.
    pub async fn status(&self) -> anyhow::Result<Value> {
        self.get("/v1/status").await
    }

    /// Fingerprints of every stored incident, paging through `/v1/incidents`.
    pub async fn stored_fingerprints(&self) -> anyhow::Result<BTreeSet<String>> {
        let mut out = BTreeSet::new();
        let mut cursor = String::new();
        loop {
            let page = self.get(&format!("/v1/incidents?limit=500&cursor={cursor}")).await?;
            for i in page["incidents"].as_array().into_iter().flatten() {
                if let Some(fp) = i["fingerprint"].as_str() {
                    out.insert(fp.to_owned());
                }
            }
            match page["next_cursor"].as_str() {
                Some(c) if !c.is_empty() => cursor = c.to_owned(),
                _ => return Ok(out),
            }
        }
    }
}
