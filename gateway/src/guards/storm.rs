//! Storm mode: when alerts arrive faster than `--storm-alerts-per-minute`, the gateway
//! stops embedding every new occurrence. During a storm hundreds of pods fire the same
//! alert; each distinct alert text (its gist: name, severity, namespace, annotations,
//! without the labels that differ from pod to pod, [`render::alert_gist`]) is embedded
//! once, the first time it is seen, so search has it at once; the other occurrences with
//! the same text are coalesced: stored, held, and queued when the storm is over.
//!
//! The storm ends when the rate falls below half the threshold (hysteresis, so it does
//! not flap at the edge). A watcher task ([`Storm::watch`]) releases the held occurrences
//! then, and also at start-up (a restart mid-storm leaves nothing held for ever).
//! `firebreak_storm_mode` and `/v1/status` say whether a storm is on.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::alertmanager::Webhook;
use crate::clock::now_millis;
use crate::pipeline::hashing::content_hash;
use crate::pipeline::render;
use crate::pipeline::store::{Hold, SqlStore};

/// Distinct texts remembered per storm; beyond it every new occurrence is held (memory
/// stays bounded however wide the storm).
const MAX_TEXTS: usize = 10_000;

struct Inner {
    threshold: u64,
    /// The rate's window: a minute in production.
    window: Duration,
    on: AtomicBool,
    /// Alerts received, by arrival time, over the last minute.
    arrivals: Mutex<VecDeque<(Instant, u64)>>,
    /// Texts already embedded during this storm.
    seen: Mutex<HashSet<String>>,
    /// Storm-held occurrences may exist that have not been released.
    release_pending: AtomicBool,
    /// The watcher is queueing them right now (`release_pending` is already cleared).
    releasing: AtomicBool,
    mode: Gauge,
    rate: Gauge,
    coalesced: Counter,
    released: Counter,
}

/// The storm detector, shared by the alert handler and the watcher.
#[derive(Clone)]
pub struct Storm {
    inner: Arc<Inner>,
}

/// A snapshot for `/v1/status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StormStatus {
    pub on: bool,
    /// Held occurrences may still wait to be queued for embedding (the watcher queues
    /// them within a tick of the storm's end): until this is false, an empty outbox does
    /// not mean every alert is embedded.
    pub release_pending: bool,
    pub alerts_last_minute: u64,
    pub threshold_per_minute: u64,
}

impl Storm {
    /// `window` is what "per minute" means: a minute, except in tests.
    pub fn new(threshold_per_minute: u64, window: Duration, registry: &mut Registry) -> Self {
        let inner = Inner {
            threshold: threshold_per_minute.max(1),
            window: window.max(Duration::from_millis(100)),
            on: AtomicBool::new(false),
            arrivals: Mutex::new(VecDeque::new()),
            seen: Mutex::new(HashSet::new()),
            release_pending: AtomicBool::new(true),
            releasing: AtomicBool::new(false),
            mode: Gauge::default(),
            rate: Gauge::default(),
            coalesced: Counter::default(),
            released: Counter::default(),
        };
        registry.register("firebreak_storm_mode", "1 while an alert storm is on (alerts/min above --storm-alerts-per-minute)", inner.mode.clone());
        registry.register("firebreak_storm_alerts_per_minute", "Alerts received over the last minute", inner.rate.clone());
        registry.register("firebreak_storm_coalesced", "Occurrences held during a storm because their text was already embedded", inner.coalesced.clone());
        registry.register("firebreak_storm_released", "Storm-held occurrences queued for embedding after the storm", inner.released.clone());
        Storm { inner: Arc::new(inner) }
    }

    fn rate(&self, arrivals: &mut VecDeque<(Instant, u64)>, now: Instant) -> u64 {
        while arrivals.front().is_some_and(|(t, _)| now.duration_since(*t) > self.inner.window) {
            arrivals.pop_front();
        }
        arrivals.iter().map(|(_, n)| n).sum()
    }

    /// Re-evaluates the mode from the rate; returns whether a storm is on. Serialised on
    /// the arrivals lock, so two callers never both act on one transition.
    fn update(&self, now: Instant) -> bool {
        let i = &self.inner;
        let mut arrivals = i.arrivals.lock().unwrap_or_else(|p| p.into_inner());
        let rate = self.rate(&mut arrivals, now);
        i.rate.set(rate as i64);
        let was = i.on.load(Ordering::Relaxed);
        let on = if was { rate * 2 >= i.threshold } else { rate > i.threshold };
        if on != was {
            i.on.store(on, Ordering::Relaxed);
            i.mode.set(on as i64);
            if on {
                tracing::warn!(alerts_last_minute = rate, threshold = i.threshold, "alert storm: identical alert texts are embedded once, the rest held");
            } else {
                tracing::info!(alerts_last_minute = rate, "alert storm over: releasing held occurrences");
                i.seen.lock().unwrap_or_else(|p| p.into_inner()).clear();
                i.release_pending.store(true, Ordering::Relaxed);
            }
        }
        on
    }

    /// Counts a webhook's alerts and decides, for those not already held, which to hold:
    /// during a storm, a firing occurrence whose text was already embedded this storm.
    pub fn holds(&self, hook: &Webhook, holds: &mut [Option<Hold>]) {
        let now = Instant::now();
        {
            // One entry per tenth of the window at most: the window's memory stays a few
            // dozen entries however many webhooks arrive.
            let mut a = self.inner.arrivals.lock().unwrap_or_else(|p| p.into_inner());
            let n = hook.alerts.len() as u64;
            match a.back_mut() {
                Some((t, count)) if now.duration_since(*t) < self.inner.window / 10 => *count += n,
                _ => a.push_back((now, n)),
            }
        }
        if !self.update(now) {
            return;
        }
        let mut seen = self.inner.seen.lock().unwrap_or_else(|p| p.into_inner());
        for (a, hold) in hook.alerts.iter().zip(holds.iter_mut()) {
            if hold.is_some() || a.status != "firing" {
                continue;
            }
            let key = content_hash(&[&render::alert_gist(a)]);
            let first = seen.len() < MAX_TEXTS && seen.insert(key);
            if !first {
                *hold = Some(Hold::Storm);
                self.inner.coalesced.inc();
            }
        }
        // Held storm occurrences exist from now on.
        self.inner.release_pending.store(true, Ordering::Relaxed);
    }

    pub fn status(&self) -> StormStatus {
        let now = Instant::now();
        let on = self.update(now);
        let rate = self.rate(&mut self.inner.arrivals.lock().unwrap_or_else(|p| p.into_inner()), now);
        let release_pending = self.inner.releasing.load(Ordering::SeqCst) || self.inner.release_pending.load(Ordering::SeqCst);
        StormStatus { on, release_pending, alerts_last_minute: rate, threshold_per_minute: self.inner.threshold }
    }

    /// How often the watcher looks: a twelfth of the window (5 s for a minute).
    pub fn tick(&self) -> Duration {
        self.inner.window / 12
    }

    /// Runs until `stop`: every `tick`, re-evaluates the mode (a storm ends when alerts stop
    /// arriving, too) and, outside a storm, releases held occurrences. A failed release
    /// (database down) is tried again at the next tick.
    pub async fn watch(self, store: Arc<dyn SqlStore>, tick: Duration, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let on = self.update(Instant::now());
            self.inner.releasing.store(true, Ordering::SeqCst);
            if !on && self.inner.release_pending.swap(false, Ordering::SeqCst) {
                match store.release_held(Hold::Storm, now_millis()).await {
                    Ok(0) => {}
                    Ok(n) => {
                        self.inner.released.inc_by(n);
                        tracing::info!(released = n, "storm-held occurrences queued for embedding");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "releasing storm-held occurrences failed; retrying");
                        self.inner.release_pending.store(true, Ordering::Relaxed);
                    }
                }
            }
            self.inner.releasing.store(false, Ordering::SeqCst);
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(tick) => {}
            }
        }
    }
}
