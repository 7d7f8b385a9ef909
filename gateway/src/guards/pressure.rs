//! The pressure guard: embedding backs off when the node is short of CPU or memory.
//!
//! The seed incident's node sat at load 153 on 16 cores while the gateway kept embedding.
//! Linux PSI says how much of the time runnable tasks were stalled waiting for a CPU
//! (`/proc/pressure/cpu`, the node) or for memory, and the container's own
//! `cpu.pressure` under cgroup v2. The guard reads the worst `some avg10` of those every
//! couple of seconds:
//!
//! - at or above `--pressure-bulk-pause` (default 40 %): bulk embedding pauses and ingest
//!   gets 429; alerts and queries go on;
//! - at or above `--pressure-alert-pause` (default 80 %): alert embedding waits too (the
//!   alerts are stored; their jobs are deferred). Queries still run: they are one short
//!   text each, and answering people is what the gateway is for during an incident.
//!
//! Where PSI cannot be read (old kernels, PSI off, gVisor…) the guard says so once at
//! start-up and falls back to queue latency: bulk pauses while alerts or queries have
//! waited longer than `--pressure-fallback-wait-ms` in the scheduler.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::pipeline::embedding::Class;
use crate::pipeline::scheduler::SchedulerStatus;

/// Where to read PSI and what the thresholds are.
#[derive(Debug, Clone)]
pub struct PressureConfig {
    /// PSI files; the worst `some avg10` among those readable counts.
    pub sources: Vec<PathBuf>,
    /// `some avg10` percentage at which bulk embedding pauses.
    pub bulk_pause: f64,
    /// `some avg10` percentage at which alert embedding waits too.
    pub alert_pause: f64,
    /// Without PSI: bulk pauses while alerts or queries waited longer than this.
    pub fallback_wait: Duration,
    pub interval: Duration,
}

impl Default for PressureConfig {
    /// 40 %: tasks on the node are stalled for a CPU 40 % of the time, the point where
    /// latency-sensitive neighbours (probes, mail, the database) start to suffer; 80 %: the
    /// node is saturated and even alert embedding must wait.
    fn default() -> Self {
        PressureConfig {
            sources: vec![
                "/proc/pressure/cpu".into(),
                "/proc/pressure/memory".into(),
                "/sys/fs/cgroup/cpu.pressure".into(),
                "/sys/fs/cgroup/memory.pressure".into(),
            ],
            bulk_pause: 40.0,
            alert_pause: 80.0,
            fallback_wait: Duration::from_secs(10),
            interval: Duration::from_secs(2),
        }
    }
}

impl PressureConfig {
    /// A guard that never pauses: for tests whose subject is not the node's load (a busy
    /// CI machine must not make them wait), and for nodes where embedding has the node to
    /// itself.
    pub fn off() -> Self {
        PressureConfig { sources: Vec::new(), bulk_pause: f64::INFINITY, alert_pause: f64::INFINITY, fallback_wait: Duration::MAX, ..Default::default() }
    }
}

/// What the guard currently allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Normal = 0,
    BulkPaused = 1,
    AlertPaused = 2,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Normal => "normal",
            Level::BulkPaused => "bulk_paused",
            Level::AlertPaused => "alert_paused",
        }
    }
}

/// `some avg10` of a PSI file's text.
pub fn some_avg10(text: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix("some "))
        .and_then(|l| l.split_whitespace().find_map(|f| f.strip_prefix("avg10=")))
        .and_then(|v| v.parse().ok())
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

/// The shared guard: the scheduler asks it before each request, a task keeps it fresh.
#[derive(Clone)]
pub struct Pressure {
    cfg: Arc<PressureConfig>,
    level: Arc<AtomicU8>,
    /// Worst `some avg10` seen at the last sample, ×100, for messages.
    worst: Arc<Gauge>,
    /// PSI could not be read: the level comes from queue latency.
    fallback: Arc<std::sync::atomic::AtomicBool>,
    level_gauge: Gauge,
    psi: Family<SourceLabel, Gauge>,
}

impl Pressure {
    pub fn new(cfg: PressureConfig, registry: &mut Registry) -> Self {
        let p = Pressure {
            cfg: Arc::new(cfg),
            level: Arc::new(AtomicU8::new(Level::Normal as u8)),
            worst: Arc::new(Gauge::default()),
            fallback: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            level_gauge: Gauge::default(),
            psi: Family::default(),
        };
        registry.register("firebreak_pressure_level", "Pressure guard: 0 normal, 1 bulk paused, 2 alert embedding paused too", p.level_gauge.clone());
        registry.register("firebreak_pressure_some_avg10_percent", "PSI some avg10 by source file", p.psi.clone());
        p
    }

    pub fn level(&self) -> Level {
        match self.level.load(Ordering::Relaxed) {
            1 => Level::BulkPaused,
            2 => Level::AlertPaused,
            _ => Level::Normal,
        }
    }

    /// What `/v1/status` shows beside the level: the figure it was decided on (the worst
    /// `some avg10` at the last sample) and the thresholds, or that PSI could not be read
    /// and the scheduler's waits decide.
    pub fn status(&self) -> serde_json::Value {
        let psi = !self.fallback.load(Ordering::Relaxed);
        serde_json::json!({
            "level": self.level().as_str(),
            "measured_by": if psi { "psi" } else { "scheduler_wait" },
            "some_avg10_percent": psi.then(|| self.worst.get() as f64 / 100.0),
            "bulk_pause_percent": self.cfg.bulk_pause,
            "alert_pause_percent": self.cfg.alert_pause,
            "fallback_wait_ms": (!psi).then(|| self.cfg.fallback_wait.as_millis() as u64),
        })
    }

    /// Why `class` may not embed now, if it may not.
    pub fn holds_back(&self, class: Class) -> Option<String> {
        let level = self.level();
        let paused = match class {
            Class::Interactive => false,
            Class::Alert => level >= Level::AlertPaused,
            Class::Bulk => level >= Level::BulkPaused,
        };
        paused.then(|| {
            if self.fallback.load(Ordering::Relaxed) {
                format!("queries or alerts waited over {:?} for the embedder (PSI unavailable)", self.cfg.fallback_wait)
            } else {
                format!("node pressure {}% (some avg10)", self.worst.get() as f64 / 100.0)
            }
        })
    }

    fn set(&self, level: Level, worst: f64) {
        let before = self.level();
        self.level.store(level as u8, Ordering::Relaxed);
        self.level_gauge.set(level as i64);
        self.worst.set((worst * 100.0) as i64);
        if level != before {
            tracing::warn!(?before, now = ?level, worst_some_avg10 = worst, "pressure guard changed level");
        }
    }

    /// Reads every source once: the worst `some avg10`, or `None` if none is readable.
    fn sample(&self) -> Option<f64> {
        let mut worst: Option<f64> = None;
        for path in &self.cfg.sources {
            if let Some(v) = std::fs::read_to_string(path).ok().as_deref().and_then(some_avg10) {
                self.psi.get_or_create(&SourceLabel { source: path.display().to_string() }).set(v.round() as i64);
                worst = Some(worst.map_or(v, |w: f64| w.max(v)));
            }
        }
        worst
    }

    fn level_for(&self, worst: f64) -> Level {
        if worst >= self.cfg.alert_pause {
            Level::AlertPaused
        } else if worst >= self.cfg.bulk_pause {
            Level::BulkPaused
        } else {
            Level::Normal
        }
    }

    /// Keeps the level fresh until `stop`. `queues` gives the scheduler's state for the
    /// fallback when PSI cannot be read.
    pub async fn watch<F, Fut>(self, queues: F, stop: impl std::future::Future<Output = ()>)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Option<SchedulerStatus>>,
    {
        tokio::pin!(stop);
        let mut said_fallback = false;
        loop {
            match self.sample() {
                Some(worst) => {
                    self.fallback.store(false, Ordering::Relaxed);
                    self.set(self.level_for(worst), worst)
                }
                None => {
                    self.fallback.store(true, Ordering::Relaxed);
                    if !said_fallback {
                        tracing::warn!(sources = ?self.cfg.sources, "PSI unavailable: the pressure guard falls back to queue latency (bulk pauses while alerts or queries wait)");
                        said_fallback = true;
                    }
                    let waited = queues().await.map(|s| {
                        let w = s.oldest_wait_ms[Class::Interactive as usize].max(s.oldest_wait_ms[Class::Alert as usize]);
                        Duration::from_millis(w)
                    });
                    let level = if waited.is_some_and(|w| w > self.cfg.fallback_wait) { Level::BulkPaused } else { Level::Normal };
                    if self.cfg.sources.is_empty() {
                        said_fallback = true; // switched off on purpose: nothing to say
                    }
                    self.set(level, 0.0);
                }
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(self.cfg.interval) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{some_avg10, Level, Pressure, PressureConfig};
    use crate::pipeline::embedding::Class;

    #[test]
    fn psi_lines_parse() {
        let text = "some avg10=41.50 avg60=10.52 avg300=13.35 total=324289830\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(some_avg10(text), Some(41.5));
        assert_eq!(some_avg10("full avg10=3.00"), None);
        assert_eq!(some_avg10(""), None);
    }

    #[test]
    fn levels_pause_bulk_then_alerts_never_queries() {
        let p = Pressure::new(PressureConfig::default(), &mut Default::default());
        assert_eq!(p.level_for(39.9), Level::Normal);
        p.set(p.level_for(40.0), 40.0);
        assert!(p.holds_back(Class::Bulk).unwrap().contains("40%"));
        assert!(p.holds_back(Class::Alert).is_none() && p.holds_back(Class::Interactive).is_none());
        p.set(p.level_for(95.0), 95.0);
        assert!(p.holds_back(Class::Alert).is_some() && p.holds_back(Class::Interactive).is_none());
    }
}
