//! The scenarios. Each starts the servers it needs, drives them, reads back what they
//! hold, and returns a report whose invariants decide the verdict.

pub mod alertmanager;
pub mod answers;
pub mod crash;
pub mod death_spiral;
pub mod deps;
pub mod harness;
pub mod replicas;
pub mod throughput;

use std::path::PathBuf;
use std::time::Duration;

/// What every scenario is told (the CLI's common flags).
#[derive(Debug, Clone)]
pub struct Options {
    pub duration: Duration,
    pub firebreak: PathBuf,
    pub model: PathBuf,
    /// Report file; the charts go beside it.
    pub report: PathBuf,
    /// Inference threads of the protected gateway.
    pub cpu_threads: usize,
    pub alerts_per_second: u32,
    pub alerts_per_webhook: usize,
    pub distinct_alerts: usize,
    pub searches_per_second: f64,
    /// Bulk documents as a multiple of what the embedder can do in `duration`.
    pub bulk_factor: f64,
    /// How long after the storm the ingest may take to finish and the alerts to be embedded.
    pub drain_timeout: Duration,
    /// `--max-bulk-backlog` of the protected gateway (default: a fifth of the bulk).
    pub max_bulk_backlog: Option<usize>,
    /// Alert accept p99 allowed, in ms.
    pub max_alert_p99_ms: f64,
    /// `firebreak-embedder`, for the drill that runs it remotely.
    pub embedder: PathBuf,
    /// Directory of `initdb` and `pg_ctl` (default: found).
    pub pg_bin: Option<PathBuf>,
    /// Webhooks in flight at once in the throughput scenario.
    pub concurrency: usize,
    /// Prometheus and Alertmanager, for the end-to-end alert path.
    pub prometheus: PathBuf,
    pub alertmanager: PathBuf,
    /// The chat model the `answers` scenario's gateway runs in-process.
    pub chat_model: PathBuf,
    /// A Qdrant server binary, for `replicas`.
    pub qdrant: Option<PathBuf>,
}

/// Bearer tokens, one per client, so each is limited as its own source.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub alertmanager: String,
    pub cronjob: String,
    pub sre: String,
    pub monitor: String,
}

impl Tokens {
    pub fn new() -> Self {
        let t = || (0..40).map(|_| fastrand::alphanumeric()).collect::<String>();
        Tokens { alertmanager: t(), cronjob: t(), sre: t(), monitor: t() }
    }

    /// The gateway's tokens file.
    pub fn file(&self) -> String {
        format!(
            "alertmanager alerts:write {}\ncronjob ingest:write {}\nsre search:read,embeddings,answers {}\nmonitor search:read {}\n",
            self.alertmanager, self.cronjob, self.sre, self.monitor
        )
    }
}

impl Default for Tokens {
    fn default() -> Self {
        Self::new()
    }
}
