//! What the scenarios share: a scratch directory with the gateway's tokens, the launch of
//! a gateway, the embedder's measured capacity, the sampler, and the waits on the outbox.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{Options, Tokens};
use crate::report::Invariant;
use crate::sampler::{self, Sample, Target};
use crate::server::{Launch, Server};
use crate::verify::Reader;

/// Async runtime threads given to the gateway (its HTTP and I/O; inference has its own).
pub const RUNTIME_THREADS: usize = 1;

/// Cores the gateway may use beyond its inference threads: HTTP intake, SQLite and index
/// writes at a few hundred alerts a second. The CPU budget checked is
/// `--cpu-threads` + this.
pub const IO_ALLOWANCE: f64 = 0.75;

/// A scenario's scratch space and clients' tokens.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub tokens: Tokens,
    pub node_cores: usize,
}

impl Setup {
    pub fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let tokens = Tokens::new();
        std::fs::write(dir.path().join("tokens"), tokens.file())?;
        Ok(Setup { dir, tokens, node_cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) })
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Flags every gateway of a scenario gets: the clients' tokens, a small runtime.
    pub fn base_args(&self) -> Vec<String> {
        vec![
            "--tokens-file".into(),
            self.dir.path().join("tokens").display().to_string(),
            "--runtime-threads".into(),
            RUNTIME_THREADS.to_string(),
        ]
    }

    pub fn launch(&self, o: &Options, args: &[String]) -> Launch {
        Launch::new(o.firebreak.clone(), o.model.clone(), self.data_dir(), [self.base_args(), args.to_vec()].concat())
    }

    /// What the embedder manages with `cpu_threads`, measured through `/v1/embeddings` on
    /// a gateway of its own with texts like the bulk's (`bulk::document_text`), so the
    /// load and the budgets can be sized to it. Texts like the load's matter: short probe
    /// texts once overstated a fast engine's rate for documents threefold, the bulk was
    /// sized past what the (token) budget could admit in the drain window.
    pub async fn capacity(&self, o: &Options, cpu_threads: usize) -> anyhow::Result<Capacity> {
        let probe = Server::start(&self.launch(o, &["--cpu-threads".into(), cpu_threads.to_string()]))?;
        let http = reqwest::Client::new();
        let texts: Vec<String> = (0..32).map(crate::traffic::bulk::document_text).collect();
        let t = Instant::now();
        let mut tokens = 0u64;
        for _ in 0..3 {
            let answer: Value = http
                .post(format!("{}/v1/embeddings", probe.url))
                .bearer_auth(&self.tokens.sre)
                .json(&json!({"input": texts}))
                .send()
                .await?
                .error_for_status()
                .context("measuring the embedder's capacity")?
                .json()
                .await?;
            tokens += answer["usage"]["prompt_tokens"].as_u64().context("no usage.prompt_tokens in the answer")?;
        }
        let secs = t.elapsed().as_secs_f64();
        probe.stop()?;
        std::fs::remove_dir_all(self.data_dir())?;
        Ok(Capacity { texts_per_s: 96.0 / secs, tokens_per_s: tokens as f64 / secs })
    }
}

/// Starts a gateway again where it was (its data, its port), retrying while the old port
/// is released.
pub fn restart(launch: &Launch) -> anyhow::Result<Server> {
    let mut last = None;
    for _ in 0..10 {
        match Server::start(launch) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no restart")))
}

/// The embedder's measured rate on bulk-like texts.
#[derive(Debug, Clone, Copy)]
pub struct Capacity {
    pub texts_per_s: f64,
    pub tokens_per_s: f64,
}

/// The scenario's alert storm against `url`.
pub fn storm(o: &Options, url: &str, token: &str) -> crate::traffic::alerts::Storm {
    crate::traffic::alerts::Storm {
        to: crate::traffic::Endpoints::one(url),
        token: token.to_owned(),
        alerts_per_second: o.alerts_per_second,
        alerts_per_webhook: o.alerts_per_webhook,
        distinct: o.distinct_alerts,
        duration: o.duration,
        give_up_after: o.drain_timeout,
        max_in_flight: 256,
    }
}

/// The sampler, running until [`Sampling::finish`].
pub struct Sampling {
    pub target: Arc<Target>,
    stop: Arc<AtomicBool>,
    task: JoinHandle<Vec<Sample>>,
}

impl Sampling {
    /// Samples `server`, reading its status with `token` (`search:read`).
    pub fn start(server: &Server, token: &str, started: Instant) -> Self {
        let target = Arc::new(Target::new(token));
        target.set(&server.url, server.pid());
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(sampler::run(target.clone(), started, stop.clone()));
        Sampling { target, stop, task }
    }

    pub async fn finish(self) -> anyhow::Result<Vec<Sample>> {
        self.stop.store(true, Ordering::SeqCst);
        Ok(self.task.await?)
    }
}

/// Waits until the outbox has no open job of alerts (`alerts_only`) or of anything, and no
/// alert storm holds occurrences back (they are queued when it ends), up to `limit`; when
/// that happened, in seconds since `started`.
pub async fn outbox_done(reader: &Reader, started: Instant, limit: Duration, alerts_only: bool) -> Option<f64> {
    let until = Instant::now() + limit;
    loop {
        if let Ok(s) = reader.status().await {
            let o = &s["outbox"];
            // Without figures (the database is down) nothing is known to be done.
            if let Some(pending) = o["pending"].as_i64() {
                let open = pending + o["leased"].as_i64().unwrap_or(0);
                let open = if alerts_only { open - o["bulk_open"].as_i64().unwrap_or(0) } else { open };
                let storm = &s["storm"];
                let held = storm["on"].as_bool() == Some(true) || storm["release_pending"].as_bool() == Some(true);
                if open <= 0 && !held {
                    return Some(started.elapsed().as_secs_f64());
                }
            }
        }
        if Instant::now() > until {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What the gateway holds once its outbox has drained, read back through its API: the
/// evidence that nothing acknowledged was lost and nothing was embedded twice.
pub struct Holdings {
    /// When the outbox drained, in seconds since the start; `None`: not within the limit.
    pub drained_at: Option<f64>,
    /// Fingerprints of the stored incidents.
    pub stored: BTreeSet<String>,
    /// `/v1/status` at the end.
    pub status: Value,
    pub done_bulk: i64,
    pub failed: i64,
    pub points: i64,
    /// Of `points`, the incidents' cause points (at most one each).
    pub cause_points: i64,
    pub notes_points: i64,
}

impl Holdings {
    /// Waits (up to `limit`) for the outbox to drain, then reads.
    pub async fn read(reader: &Reader, started: Instant, limit: Duration) -> anyhow::Result<Self> {
        let drained_at = outbox_done(reader, started, limit, false).await;
        let stored = reader.stored_fingerprints().await?;
        let status = reader.status().await?;
        let outbox = &status["outbox"];
        let (done_bulk, failed) = (outbox["done_bulk"].as_i64().unwrap_or(-1), outbox["failed"].as_i64().unwrap_or(-1));
        let points = status["dependencies"]["index"]["points"].as_i64().unwrap_or(-1);
        let index = &status["dependencies"]["index"];
        let cause_points = index["cause_points"].as_i64().unwrap_or(-1);
        let notes_points = index["notes_points"].as_i64().unwrap_or(-1);
        Ok(Holdings { drained_at, stored, status, done_bulk, failed, points, cause_points, notes_points })
    }

    /// The invariants every scenario shares: each acknowledged alert stored, no job given
    /// up, and exactly one text point per incident and per document (each is one chunk),
    /// plus at most one cause point and one notes point per incident.
    pub fn invariants(&self, acknowledged: &BTreeSet<String>, documents: usize) -> Vec<Invariant> {
        let missing = acknowledged.iter().filter(|fp| !self.stored.contains(*fp)).count();
        let (stored, failed, causes, notes) = (self.stored.len(), self.failed, self.cause_points, self.notes_points);
        let points = self.points - causes.max(0) - notes.max(0);
        vec![
            Invariant::check("every acknowledged alert stored", missing == 0, format!("{} distinct alerts acknowledged, {stored} stored, {missing} missing", acknowledged.len())),
            Invariant::check("nothing failed", failed == 0, format!("{failed} jobs failed")),
            Invariant::check(
                "one point per item: embedded exactly once",
                points == (stored + documents) as i64 && (0..=stored as i64).contains(&causes) && (0..=stored as i64).contains(&notes),
                format!("{points} text points for {stored} incidents + {documents} documents; {causes} cause points, {notes} notes points"),
            ),
        ]
    }
}

/// The chart of a run beside the report (`REPORT-LABEL.png`); `None`, logged, when it
/// cannot be drawn (the report stands without it).
pub fn chart(o: &Options, label: &str, title: &str, samples: &[Sample], calls: &[crate::traffic::Call], cpu_budget: f64) -> Option<String> {
    let stem = o.report.file_stem().and_then(|s| s.to_str()).unwrap_or("report");
    let path = o.report.with_file_name(format!("{stem}-{label}.png"));
    match crate::chart::draw(&path, &crate::chart::Series { title, samples, alert_calls: calls, cpu_budget }) {
        Ok(()) => Some(path.display().to_string()),
        Err(e) => {
            tracing::warn!(error = %e, "no chart");
            None
        }
    }
}
