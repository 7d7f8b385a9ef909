//! People asking "have we seen this before?" during the storm: searches at a steady rate,
//! each answer timed and its `degraded` flag kept (keyword-only is allowed under load; no
//! answer is not).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::Call;

const QUERIES: &[&str] = &[
    "mail server keeps crashing",
    "disk almost full on a node",
    "postgres is down, what fixed it last time",
    "node load very high, probes failing",
    "deployment replicas mismatch after rollout",
    "job failed to complete in monitoring",
];

#[derive(Debug, Clone)]
pub struct Searches {
    pub url: String,
    pub token: String,
    pub per_second: f64,
    pub duration: Duration,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct SearchOutcome {
    pub sent: u64,
    /// Answered 200.
    pub answered: u64,
    /// Of those, keyword-only because the embedder was busy, paused or over budget.
    pub degraded: u64,
    #[serde(skip)]
    pub calls: Vec<Call>,
}

pub async fn run(s: Searches, started: Instant) -> SearchOutcome {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("an HTTP client");
    let out = Arc::new(Mutex::new(SearchOutcome::default()));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / s.per_second.max(0.01)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let end = Instant::now() + s.duration;
    let mut tasks = tokio::task::JoinSet::new();
    let mut n = 0usize;
    while Instant::now() < end {
        tick.tick().await;
        let body = json!({"query": QUERIES[n % QUERIES.len()], "k": 5}).to_string();
        n += 1;
        let (http, s2, out) = (http.clone(), s.clone(), out.clone());
        tasks.spawn(async move {
            let sent = Instant::now();
            let r = http.post(format!("{}/v1/search", s2.url)).bearer_auth(&s2.token).header("content-type", "application/json").body(body).send().await;
            let status = r.as_ref().map(|r| r.status().as_u16()).unwrap_or(0);
            let degraded = match r {
                Ok(r) if status == 200 => r.json::<Value>().await.ok().and_then(|v| v["degraded"].as_bool()).unwrap_or(false),
                _ => false,
            };
            let mut o = out.lock().await;
            o.sent += 1;
            o.calls.push(Call::new(started, sent, status));
            if status == 200 {
                o.answered += 1;
                o.degraded += degraded as u64;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    Arc::try_unwrap(out).map(Mutex::into_inner).unwrap_or_default()
}
