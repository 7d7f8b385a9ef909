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

    /// `POST /v1/search`.
    pub async fn search(&self, body: &Value) -> anyhow::Result<Value> {
        for _ in 0..20 {
            let r = self.http.post(format!("{}/v1/search", self.url)).bearer_auth(&self.token).json(body).send().await?;
            if r.status().as_u16() == 429 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            return Ok(r.error_for_status()?.json().await?);
        }
        anyhow::bail!("/v1/search: rate limited twenty times")
    }

    /// Of `acknowledged` storm alerts, those a search in `mode` does not find: one search
    /// per alertname and namespace (the storm's alerts of one pair share their text), for
    /// its summary, filtered to the pair, its incidents compared by fingerprint.
    pub async fn unfindable(&self, acknowledged: &BTreeSet<String>, mode: &str) -> anyhow::Result<BTreeSet<String>> {
        let mut groups: std::collections::BTreeMap<(&str, &str), (String, Vec<&String>)> = Default::default();
        for fp in acknowledged {
            if let Some((name, ns, summary)) = crate::traffic::alerts::described(fp) {
                groups.entry((name, ns)).or_insert_with(|| (summary, Vec::new())).1.push(fp);
            }
        }
        let mut missing = BTreeSet::new();
        for ((name, ns), (summary, fps)) in groups {
            let k = fps.len().clamp(1, 50);
            let v = self
                .search(&serde_json::json!({"query": summary, "mode": mode, "k": k, "kinds": ["incident"], "filter": {"alertname": name, "namespace": ns}}))
                .await?;
            let found: BTreeSet<&str> = v["results"].as_array().into_iter().flatten().filter_map(|r| r["incident"]["fingerprint"].as_str()).collect();
            // More than k alerts of one pair cannot all be listed; those are not judged.
            missing.extend(fps.into_iter().take(k).filter(|fp| !found.contains(fp.as_str())).cloned());
        }
        Ok(missing)
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
