//! The traffic of the scenarios, each kind as its own generator: an Alertmanager that
//! retries like the real one ([`alerts`]), people searching ([`searches`]) and asking
//! ([`chats`]), and the real ingest client on a bulk export ([`bulk`]).

pub mod alerts;
pub mod bulk;
pub mod chats;
pub mod searches;

use std::sync::{Arc, Mutex};

use tokio::time::Instant;

/// Where a client's requests go: one gateway, or several replicas behind what a Kubernetes
/// Service does — each request to the next in turn, a retry to another, a replica taken
/// out when it is stopped for good. Shared, so a scenario can change it while traffic runs.
#[derive(Debug, Clone)]
pub struct Endpoints(Arc<Mutex<Vec<String>>>);

impl Endpoints {
    pub fn new(urls: Vec<String>) -> Self {
        Endpoints(Arc::new(Mutex::new(urls)))
    }

    pub fn one(url: &str) -> Self {
        Self::new(vec![url.to_owned()])
    }

    /// Request number `n`'s gateway (`n` counts retries too, so a retry goes elsewhere).
    pub fn pick(&self, n: usize) -> String {
        let urls = self.0.lock().unwrap_or_else(|p| p.into_inner());
        urls.get(n % urls.len().max(1)).cloned().unwrap_or_default()
    }

    /// Takes `url` out, as a Service drops a pod that is terminating.
    pub fn remove(&self, url: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).retain(|u| u != url);
    }
}

/// One request's outcome, for the latency series and the charts.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Call {
    /// Seconds since the scenario started, when the request was sent.
    pub t: f64,
    pub ms: f64,
    pub status: u16,
}

impl Call {
    pub fn new(started: Instant, sent: Instant, status: u16) -> Self {
        Call { t: sent.duration_since(started).as_secs_f64(), ms: sent.elapsed().as_secs_f64() * 1000.0, status }
    }
}
