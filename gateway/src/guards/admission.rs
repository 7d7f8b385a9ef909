//! Admission of bulk work: ingest is refused (429 + `Retry-After`) while the bulk backlog
//! in the outbox is at `--max-bulk-backlog`, while the node is under pressure
//! ([`crate::guards::pressure`]), or while the embedding budget ([`crate::guards::budget`]) that would pay
//! for it is spent, so a CronJob that sends faster than the
//! embedder drains is slowed down at the door instead of growing a backlog without end.
//! Alerts are never refused here: they are stored and embedded when their turn comes.
//!
//! `Retry-After` comes from the measured drain rate (bulk jobs completed per second over
//! the last refresh intervals): "come back when the excess has drained", so a
//! well-behaved client waits about as long as the backlog needs, not a guessed second.
//!
//! Fed by the outbox worker's backlog refresh (one query per poll interval), and between
//! refreshes by the ingest handler's own count of what it just stored, so a burst of calls
//! inside one poll interval cannot overshoot the limit; the handler only touches atomics.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::guards::budget::{Budget, OverBudget};
use crate::pipeline::embedding::Class;
use crate::log_throttle::Throttle;
use crate::guards::pressure::Pressure;
use crate::pipeline::store::Backlog;

/// How far back the drain rate looks.
const DRAIN_WINDOW: Duration = Duration::from_secs(120);
/// Longest `Retry-After` given: beyond it the estimate says little, and a client asked to
/// come back in an hour may as well be told "later".
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// Why ingest was turned away; the label of `firebreak_ingest_refused_total`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The bulk backlog is full.
    Backlog,
    /// The embedding budget (global or the caller's) is spent.
    Budget(OverBudget),
    /// The node is under CPU or memory pressure: bulk embedding is paused.
    Pressure(String),
}

impl Refusal {
    fn as_str(&self) -> &'static str {
        match self {
            Refusal::Backlog => "backlog",
            Refusal::Budget(_) => "budget",
            Refusal::Pressure(_) => "pressure",
        }
    }
}

/// The shared admission state.
#[derive(Clone)]
pub struct Admission {
    inner: Arc<Inner>,
}

struct Inner {
    max_bulk_backlog: i64,
    budget: Arc<Budget>,
    pressure: Pressure,
    pending_bulk: AtomicI64,
    /// Bulk jobs drained per second × 1000 (integer, for an atomic).
    drain_milli_per_s: AtomicU64,
    samples: Mutex<VecDeque<(Instant, i64)>>,
    pending_gauge: Gauge,
    drain_gauge: Gauge,
    refused: Family<ReasonLabel, Counter>,
    log: Throttle,
}

impl Admission {
    pub fn new(max_bulk_backlog: usize, budget: Arc<Budget>, pressure: Pressure, registry: &mut Registry) -> Self {
        let inner = Inner {
            max_bulk_backlog: max_bulk_backlog.max(1) as i64,
            budget,
            pressure,
            pending_bulk: AtomicI64::new(0),
            drain_milli_per_s: AtomicU64::new(0),
            samples: Mutex::new(VecDeque::new()),
            pending_gauge: Gauge::default(),
            drain_gauge: Gauge::default(),
            refused: Family::default(),
            log: Throttle::default(),
        };
        registry.register("firebreak_bulk_backlog_jobs", "Bulk (document) embedding jobs not done yet", inner.pending_gauge.clone());
        registry.register(
            "firebreak_bulk_drain_jobs_per_minute",
            "Bulk jobs completed per minute over the last two minutes (Retry-After of refused ingest derives from it)",
            inner.drain_gauge.clone(),
        );
        registry.register("firebreak_ingest_refused", "Ingest calls turned away, by reason", inner.refused.clone());
        Admission { inner: Arc::new(inner) }
    }

    /// Takes in a fresh outbox count (from the outbox worker's refresh).
    pub fn observe(&self, b: &Backlog) {
        self.observe_at(b, Instant::now());
    }

    fn observe_at(&self, b: &Backlog, now: Instant) {
        let i = &self.inner;
        i.pending_bulk.store(b.bulk_open, Ordering::Relaxed);
        i.pending_gauge.set(b.bulk_open);
        let mut samples = i.samples.lock().unwrap_or_else(|p| p.into_inner());
        samples.push_back((now, b.done_bulk));
        while samples.len() > 2 && samples.front().is_some_and(|(t, _)| now.duration_since(*t) > DRAIN_WINDOW) {
            samples.pop_front();
        }
        if let (Some(&(t0, d0)), Some(&(t1, d1))) = (samples.front(), samples.back()) {
            let secs = t1.duration_since(t0).as_secs_f64();
            if secs > 0.0 {
                let rate = (d1 - d0).max(0) as f64 / secs;
                i.drain_milli_per_s.store((rate * 1000.0) as u64, Ordering::Relaxed);
                i.drain_gauge.set((rate * 60.0).round() as i64);
            }
        }
    }

    /// Counts `jobs` bulk jobs just stored, until the next refresh brings the true count.
    pub fn admitted(&self, jobs: u64) {
        let i = &self.inner;
        let pending = i.pending_bulk.fetch_add(jobs as i64, Ordering::Relaxed) + jobs as i64;
        i.pending_gauge.set(pending);
    }

    /// Whether `source` may store more bulk work now; the wait to advise if not. Refused
    /// while the bulk backlog is full, or while the embedding budget that would pay for
    /// the documents is spent (storing them would only grow the backlog).
    pub fn admit_ingest(&self, caller: &str) -> Result<(), (Refusal, Duration)> {
        self.admit_ingest_naming(caller, || None)
    }

    /// [`Admission::admit_ingest`], its log line naming the collection too (`collection`
    /// is asked only when a line is written: at most one a minute per reason and caller).
    pub fn admit_ingest_naming(&self, caller: &str, collection: impl FnOnce() -> Option<String>) -> Result<(), (Refusal, Duration)> {
        let i = &self.inner;
        let refusal = if let Some(reason) = i.pressure.holds_back(Class::Bulk) {
            (Refusal::Pressure(reason), Duration::from_secs(30))
        } else if let Some(wait) = self.backlog_wait() {
            (Refusal::Backlog, wait)
        } else if let Some(o) = i.budget.exhausted(caller) {
            let wait = o.retry_after;
            (Refusal::Budget(o), wait)
        } else {
            return Ok(());
        };
        i.refused.get_or_create(&ReasonLabel { reason: refusal.0.as_str() }).inc();
        if let Some(more) = i.log.due(&format!("{}/{caller}", refusal.0.as_str())) {
            let collection = collection().unwrap_or_else(|| "?".to_owned());
            tracing::warn!(%caller, %collection, reason = refusal.0.as_str(), retry_after = ?refusal.1, refused_since_last_line = more, "ingest turned away");
        }
        Err(refusal)
    }

    fn backlog_wait(&self) -> Option<Duration> {
        let i = &self.inner;
        let pending = i.pending_bulk.load(Ordering::Relaxed);
        if pending < i.max_bulk_backlog {
            return None;
        }
        // Come back when a tenth of the backlog has drained, at the rate it drains now.
        let excess = (pending - i.max_bulk_backlog + i.max_bulk_backlog / 10).max(1) as f64;
        let rate = i.drain_milli_per_s.load(Ordering::Relaxed) as f64 / 1000.0;
        let wait = if rate > 0.0 { Duration::from_secs_f64(excess / rate) } else { Duration::from_secs(60) };
        Some(wait.clamp(Duration::from_secs(1), MAX_RETRY_AFTER))
    }

    /// The limit, for messages and `/v1/status`.
    pub fn max_bulk_backlog(&self) -> i64 {
        self.inner.max_bulk_backlog
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use std::sync::Arc;

    use super::Admission;
    use crate::guards::budget::{BudgetLimits, Budget};
    use crate::guards::pressure::Pressure;
    use crate::pipeline::store::Backlog;

    fn admission(max: usize) -> Admission {
        let budget = Arc::new(Budget::new(crate::guards::budget::EMBEDDINGS, BudgetLimits::unlimited(), &mut Default::default()));
        let pressure = Pressure::new(Default::default(), &mut Default::default());
        Admission::new(max, budget, pressure, &mut Default::default())
    }

    fn backlog(pending_bulk: i64, done_bulk: i64) -> Backlog {
        Backlog { bulk_open: pending_bulk, done_bulk, ..Default::default() }
    }

    #[test]
    fn ingest_is_refused_at_the_limit_with_a_wait_from_the_drain_rate() {
        let a = admission(100);
        let t = Instant::now();
        a.observe_at(&backlog(50, 0), t);
        assert!(a.admit_ingest("chat").is_ok());
        // 20 jobs drained in 10 s: 2/s. 110 pending, limit 100: excess 10 + a tenth (10) = 20 → 10 s.
        a.observe_at(&backlog(110, 20), t + Duration::from_secs(10));
        let (_, wait) = a.admit_ingest("chat").unwrap_err();
        assert_eq!(wait, Duration::from_secs(10));
        // Nothing draining: a minute, the honest "later".
        let b = admission(100);
        b.observe_at(&backlog(500, 0), t);
        assert_eq!(b.admit_ingest("chat").unwrap_err().1, Duration::from_secs(60));
    }

    #[test]
    fn what_was_just_stored_counts_before_the_next_refresh() {
        let a = admission(100);
        a.observe_at(&backlog(90, 0), Instant::now());
        assert!(a.admit_ingest("chat").is_ok());
        a.admitted(10);
        assert!(a.admit_ingest("chat").is_err(), "90 seen + 10 stored since reach the limit");
        a.observe_at(&backlog(40, 60), Instant::now());
        assert!(a.admit_ingest("chat").is_ok(), "the refresh brings the true count back");
    }
}
