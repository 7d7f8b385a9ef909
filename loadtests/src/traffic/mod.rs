//! The traffic of the scenarios, each kind as its own generator: an Alertmanager that
//! retries like the real one ([`alerts`]), people searching ([`searches`]) and asking
//! ([`chats`]), and the real ingest client on a bulk export ([`bulk`]).

pub mod alerts;
pub mod bulk;
pub mod chats;
pub mod searches;

use tokio::time::Instant;

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
