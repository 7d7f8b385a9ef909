//! Circuit breakers around the gateway's dependencies: the embedder, the vector index and
//! the SQL store.
//!
//! A breaker opens after `--breaker-failures` consecutive faults. A fault is an error
//! that says the dependency is unwell, or a call still running past its slow-call
//! threshold — counted the moment it crosses the threshold, not when it ends: a hung
//! embedder whose calls end only at their timeout would otherwise take minutes of stuck
//! calls to be noticed. The threshold follows the dependency's measured latency
//! ([`latency`]: p99 × 4 per unit of cost, between a floor and the operator's flag).
//! Until calls were measured it is the floor, and a call counted there that then
//! succeeds under the ceiling has its fault withdrawn: it was the first of its kind on a
//! slow node, not a hung dependency.
//!
//! While open, calls are refused at once (no timeouts piling up on a dead dependency).
//! After a pause (`--breaker-open-ms`, doubling on each failed probe to
//! `--breaker-open-max-ms`) exactly one call is let through as the probe (half-open);
//! the others are still refused until it ends. Its success closes the breaker, its
//! failure (or its crossing the threshold) opens it again. Callers that can make the
//! probe small do ([`crate::pipeline::embedding::guarded`] probes with one text).
//!
//! Only faults count: a bad input, or back-pressure the dependency asked for, says nothing
//! about its health. State, transitions, slow calls and how long a breaker has been open
//! are metrics ([`metrics`]) and log lines.

pub mod latency;
pub mod metrics;

use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use latency::Latency;
pub use metrics::BreakerMetrics;
use metrics::{DependencyLabel, OpenSince, TransitionLabel};

/// One breaker's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive faults that open it.
    pub failures: u32,
    /// The slow-call threshold's ceiling (`None`: only errors count).
    pub slow_call: Option<Duration>,
    /// The slow-call threshold's floor, and the threshold until calls were measured.
    pub slow_floor: Duration,
    /// First pause while open; doubles on each failed probe…
    pub open_min: Duration,
    /// …up to this.
    pub open_max: Duration,
}

impl BreakerConfig {
    /// Five faults in a row, a pause from 5 s growing to 2 min: a dependency that fails
    /// five times running is down, and probing it every 2 min at worst costs nothing.
    pub fn new(slow_call: Option<Duration>, slow_floor: Duration) -> Self {
        BreakerConfig { failures: 5, slow_call, slow_floor, open_min: Duration::from_secs(5), open_max: Duration::from_secs(120) }
    }
}

/// A breaker's state, as the `firebreak_breaker_state` gauge shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }
}

/// The state machine.
#[derive(Debug, Clone, Copy)]
enum Phase {
    Closed { faults: u32 },
    Open { until: Instant, pause: Duration },
    /// One probe is in flight; `pause` is the one that preceded it.
    HalfOpen { pause: Duration },
}

struct Inner {
    phase: Phase,
    latency: Latency,
}

/// The call was not made: the breaker is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Open {
    pub dependency: &'static str,
    /// When a probe may next get through: a good `Retry-After`.
    pub retry_after: Duration,
}

/// A breaker around one dependency. Cheap to clone; clones share the state.
#[derive(Clone)]
pub struct Breaker {
    dependency: &'static str,
    cfg: BreakerConfig,
    inner: Arc<Mutex<Inner>>,
    state: Arc<AtomicU8>,
    open_since: OpenSince,
    metrics: BreakerMetrics,
}

/// A call let through, settled exactly once: by its outcome, by crossing the slow-call
/// threshold, or — a probe whose caller went away — by being dropped.
struct Ticket<'a> {
    breaker: &'a Breaker,
    probe: bool,
    settled: bool,
}

impl Ticket<'_> {
    fn settle(&mut self, fault: bool) {
        if !std::mem::replace(&mut self.settled, true) {
            self.breaker.settle(self.probe, fault);
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        // An abandoned probe proved nothing; the breaker must not stay half-open forever.
        if self.probe {
            self.settle(true);
        }
    }
}

impl Breaker {
    pub fn new(dependency: &'static str, cfg: BreakerConfig, metrics: &BreakerMetrics) -> Self {
        let open_since: OpenSince = Default::default();
        metrics.watch(dependency, &open_since);
        metrics.state.get_or_create(&DependencyLabel { dependency }).set(State::Closed as i64);
        Breaker {
            dependency,
            cfg,
            inner: Arc::new(Mutex::new(Inner { phase: Phase::Closed { faults: 0 }, latency: Latency::default() })),
            state: Arc::new(AtomicU8::new(State::Closed as u8)),
            open_since,
            metrics: metrics.clone(),
        }
    }

    /// The dependency's name, for messages.
    pub fn dependency(&self) -> &'static str {
        self.dependency
    }

    /// The current state.
    pub fn state(&self) -> State {
        match self.state.load(Ordering::Relaxed) {
            1 => State::Open,
            2 => State::HalfOpen,
            _ => State::Closed,
        }
    }

    /// How long the breaker has been away from `closed` (`None` while closed).
    pub fn open_for(&self) -> Option<Duration> {
        self.open_since.lock().unwrap_or_else(|p| p.into_inner()).map(|t| t.elapsed())
    }

    /// When a call of `cost` counts as slow, now (`None`: this breaker counts errors only).
    pub fn slow_after(&self, cost: f64) -> Option<Duration> {
        let ceiling = self.cfg.slow_call?;
        Some(self.lock().latency.slow_after(cost, self.cfg.slow_floor, ceiling))
    }

    /// How long a caller should wait for a call of `cost` before giving up, at most
    /// `ceiling`: the ceiling until calls were measured.
    pub fn timeout_after(&self, cost: f64, ceiling: Duration) -> Duration {
        self.lock().latency.timeout_after(cost, self.cfg.slow_floor, ceiling)
    }

    /// p99 seconds per unit of cost of the recent successful calls, once measured.
    pub fn p99(&self) -> Option<f64> {
        self.lock().latency.p99()
    }

    /// How long until a probe may get through, while open (`None` otherwise).
    pub fn retry_after(&self) -> Option<Duration> {
        match self.lock().phase {
            Phase::Open { until, .. } => Some(until.saturating_duration_since(Instant::now())),
            _ => None,
        }
    }

    /// Counts a fault seen after a call was settled: a stream that broke after its first
    /// piece (the call was its start, and that went well).
    pub fn record_fault(&self) {
        self.settle(false, true);
    }

    /// Counts a call given up by its caller at its timeout (it is already a fault: it
    /// crossed the slow-call threshold first).
    pub fn abandoned(&self) {
        self.metrics.abandoned.get_or_create(&DependencyLabel { dependency: self.dependency }).inc();
    }

    /// [`Breaker::call_costing`] for a call of unit cost.
    pub async fn call<T, E>(&self, call: impl Future<Output = Result<T, E>>, is_fault: impl Fn(&E) -> bool) -> Result<Result<T, E>, Open> {
        self.call_costing(1.0, call, is_fault).await
    }

    /// Runs `call` (of `cost` units: an embedding batch's tokens) if the breaker allows
    /// it, and records how it went: an error for which `is_fault` holds is a fault, and so
    /// is the call's crossing the slow-call threshold (at that moment; the call goes on
    /// and its result is still used).
    pub async fn call_costing<T, E>(
        &self,
        cost: f64,
        call: impl Future<Output = Result<T, E>>,
        is_fault: impl Fn(&E) -> bool,
    ) -> Result<Result<T, E>, Open> {
        let mut ticket = self.admit()?;
        let started = Instant::now();
        let unmeasured = self.p99().is_none();
        let mut crossed = false;
        let result = match self.slow_after(cost) {
            None => call.await,
            Some(threshold) => {
                tokio::pin!(call);
                tokio::select! {
                    biased;
                    r = &mut call => {
                        // The timer may not have been looked at yet when the call ends
                        // (a busy runtime wakes for both at once and the call wins the
                        // tie): a call that took longer than the threshold was slow
                        // however the wake-ups fell.
                        if started.elapsed() >= threshold {
                            self.count_slow(&mut ticket, threshold, "call ended past the slow-call threshold: counted as a fault");
                            crossed = true;
                        }
                        r
                    }
                    _ = tokio::time::sleep(threshold) => {
                        self.count_slow(&mut ticket, threshold, "call still running past the slow-call threshold: counted as a fault");
                        crossed = true;
                        call.await
                    }
                }
            }
        };
        let fault = matches!(&result, Err(e) if is_fault(e));
        ticket.settle(fault);
        if result.is_ok() {
            let took = started.elapsed();
            if crossed && unmeasured && self.cfg.slow_call.is_some_and(|ceiling| took < ceiling) {
                self.withdraw(took);
            }
            self.lock().latency.record(took, cost);
        }
        Ok(result)
    }

    /// Counts a call that crossed its slow-call threshold as a fault.
    fn count_slow(&self, ticket: &mut Ticket<'_>, threshold: Duration, message: &'static str) {
        self.metrics.slow.get_or_create(&DependencyLabel { dependency: self.dependency }).inc();
        tracing::warn!(dependency = self.dependency, ?threshold, probe = ticket.probe, "{message}");
        ticket.settle(true);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lets a call through (as the probe, when the pause is over) or refuses it.
    fn admit(&self) -> Result<Ticket<'_>, Open> {
        let now = Instant::now();
        let mut g = self.lock();
        let probe = match g.phase {
            Phase::Closed { .. } => false,
            Phase::Open { until, pause } if now >= until => {
                g.phase = Phase::HalfOpen { pause };
                self.enter(State::HalfOpen);
                tracing::info!(dependency = self.dependency, "circuit breaker half-open: one probe call let through");
                true
            }
            Phase::Open { until, .. } => return Err(self.refuse(until - now)),
            // A probe is in flight: at most one call tests a dependency that was down.
            Phase::HalfOpen { .. } => return Err(self.refuse(self.cfg.open_min.min(Duration::from_secs(1)))),
        };
        Ok(Ticket { breaker: self, probe, settled: false })
    }

    fn refuse(&self, retry_after: Duration) -> Open {
        self.metrics.rejected.get_or_create(&DependencyLabel { dependency: self.dependency }).inc();
        Open { dependency: self.dependency, retry_after }
    }

    /// Records one call's outcome. A call that began in another state than the breaker is
    /// in now (it started before the breaker opened) says nothing current and is ignored.
    fn settle(&self, probe: bool, fault: bool) {
        let mut g = self.lock();
        match (g.phase, probe) {
            (Phase::HalfOpen { pause }, true) if fault => {
                let pause = (pause * 2).min(self.cfg.open_max.max(self.cfg.open_min));
                g.phase = Phase::Open { until: Instant::now() + pause, pause };
                self.enter(State::Open);
                tracing::warn!(dependency = self.dependency, ?pause, "circuit breaker probe failed: open again");
            }
            (Phase::HalfOpen { .. }, true) => {
                g.phase = Phase::Closed { faults: 0 };
                self.enter(State::Closed);
                tracing::info!(dependency = self.dependency, "circuit breaker closed: dependency healthy again");
            }
            (Phase::Closed { faults }, false) if fault => {
                let faults = faults + 1;
                if faults >= self.cfg.failures.max(1) {
                    let pause = self.cfg.open_min;
                    g.phase = Phase::Open { until: Instant::now() + pause, pause };
                    self.enter(State::Open);
                    tracing::warn!(dependency = self.dependency, faults, ?pause, "circuit breaker opened: calls refused until a probe succeeds");
                } else {
                    g.phase = Phase::Closed { faults };
                }
            }
            (Phase::Closed { .. }, false) => g.phase = Phase::Closed { faults: 0 },
            _ => {}
        }
    }

    /// Takes back the fault a call was counted when it crossed the floor before anything
    /// was measured, now that it succeeded under the ceiling: nothing said yet what
    /// normal is, and on a slow node the first batches are all slower than the floor
    /// (five of them would open the breaker on a healthy embedder and send the searches
    /// of its first minute keyword-only). A hung call never gets here and stays counted.
    fn withdraw(&self, took: Duration) {
        let mut g = self.lock();
        if let Phase::Closed { faults } = g.phase {
            g.phase = Phase::Closed { faults: faults.saturating_sub(1) };
            tracing::info!(dependency = self.dependency, ?took, "slow call succeeded before latency was measured: its fault withdrawn");
        }
    }

    /// Publishes a new state: gauge, transition counter, open clock.
    fn enter(&self, s: State) {
        let previous = self.state.swap(s as u8, Ordering::Relaxed);
        let dependency = self.dependency;
        self.metrics.state.get_or_create(&DependencyLabel { dependency }).set(s as i64);
        self.metrics.transitions.get_or_create(&TransitionLabel { dependency, to: s.as_str() }).inc();
        let mut since = self.open_since.lock().unwrap_or_else(|p| p.into_inner());
        match s {
            State::Closed => *since = None,
            _ if previous == State::Closed as u8 => *since = Some(Instant::now()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Breaker, BreakerConfig, BreakerMetrics, State};

    fn breaker(slow_call: Option<Duration>) -> Breaker {
        let cfg = BreakerConfig {
            failures: 2,
            slow_call,
            slow_floor: Duration::from_millis(20),
            open_min: Duration::from_millis(50),
            open_max: Duration::from_millis(50),
        };
        Breaker::new("test", cfg, &BreakerMetrics::new(&mut Default::default()))
    }

    #[tokio::test]
    async fn opens_on_consecutive_faults_refuses_then_probes_and_closes() {
        let b = breaker(None);
        let fault = |_: &&str| true;
        assert!(b.call(async { Err::<(), _>("down") }, fault).await.is_ok());
        assert_eq!(b.state(), State::Closed, "one fault is not an outage");
        b.call(async { Err::<(), _>("down") }, fault).await.unwrap().unwrap_err();
        assert_eq!(b.state(), State::Open);
        let refused = b.call(async { Ok::<_, &str>(()) }, fault).await.unwrap_err();
        assert_eq!(refused.dependency, "test");
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert!(b.call(async { Ok::<_, &str>(()) }, fault).await.unwrap().is_ok(), "the probe goes through");
        assert_eq!(b.state(), State::Closed);
    }

    #[tokio::test]
    async fn slow_successes_count_and_non_faults_do_not() {
        let b = breaker(Some(Duration::from_millis(20)));
        let not_fault = |_: &&str| false;
        for _ in 0..3 {
            b.call(async { Err::<(), _>("bad input") }, not_fault).await.unwrap().unwrap_err();
        }
        assert_eq!(b.state(), State::Closed, "input errors say nothing about the dependency");
        for _ in 0..2 {
            let r = b.call(async { tokio::time::sleep(Duration::from_millis(30)).await; Ok::<_, &str>(7) }, not_fault).await;
            assert_eq!(r.unwrap().unwrap(), 7, "a slow result is still used");
        }
        assert_eq!(b.state(), State::Open, "two slow calls in a row open it");
    }

    #[tokio::test]
    async fn a_call_that_ends_past_the_threshold_before_the_timer_is_seen_still_counts() {
        // The call holds the runtime's only thread past the threshold, so the timer cannot
        // fire first: the call is ready when the select first looks (a busy CI runtime).
        let b = breaker(Some(Duration::from_millis(20)));
        let not_fault = |_: &&str| false;
        for _ in 0..2 {
            let r = b.call(async { std::thread::sleep(Duration::from_millis(30)); Ok::<_, &str>(()) }, not_fault).await;
            assert!(r.unwrap().is_ok(), "a slow result is still used");
        }
        assert_eq!(b.state(), State::Open, "two slow calls in a row open it, whoever won the race");
    }

    #[tokio::test]
    async fn unmeasured_slow_calls_that_succeed_under_the_ceiling_are_withdrawn_hung_ones_are_not() {
        // Floor 20 ms, ceiling 1 s: a slow node's first batches take 30 ms.
        let b = breaker(Some(Duration::from_secs(1)));
        let not_fault = |_: &&str| false;
        for _ in 0..3 {
            let r = b.call(async { tokio::time::sleep(Duration::from_millis(30)).await; Ok::<_, &str>(()) }, not_fault).await;
            assert!(r.unwrap().is_ok());
        }
        assert_eq!(b.state(), State::Closed, "three slow successes before anything was measured are not an outage");
        let hung = || tokio::time::timeout(Duration::from_millis(100), b.call(std::future::pending::<Result<(), &str>>(), not_fault));
        let (x, y) = tokio::join!(hung(), hung());
        assert!(x.is_err() && y.is_err());
        assert_eq!(b.state(), State::Open, "calls that never end still count when they cross the floor");
    }

    #[tokio::test]
    async fn a_hung_call_is_a_fault_when_it_crosses_the_threshold_not_when_it_ends() {
        let b = breaker(Some(Duration::from_millis(20)));
        let not_fault = |_: &&str| false;
        let hung = || tokio::time::timeout(Duration::from_millis(200), b.call(std::future::pending::<Result<(), &str>>(), not_fault));
        let t = std::time::Instant::now();
        // Two hung calls side by side: both cross at ~20 ms and the breaker opens then,
        // while they are still running (they end only at the caller's 200 ms timeout).
        let (a, c, seen) = tokio::join!(hung(), hung(), async {
            tokio::time::sleep(Duration::from_millis(60)).await;
            (b.state(), t.elapsed())
        });
        assert!(a.is_err() && c.is_err(), "the calls themselves stayed hung");
        assert_eq!(seen.0, State::Open, "opened at the crossing, {:?} in", seen.1);
    }

    #[tokio::test]
    async fn half_open_lets_exactly_one_probe_through_and_a_dropped_probe_reopens() {
        let b = breaker(None);
        let fault = |_: &&str| true;
        for _ in 0..2 {
            let _ = b.call(async { Err::<(), _>("down") }, fault).await;
        }
        assert_eq!(b.state(), State::Open);
        assert!(b.open_for().is_some());
        tokio::time::sleep(Duration::from_millis(60)).await;
        let (probe_tx, probe_rx) = tokio::sync::oneshot::channel::<()>();
        let bb = b.clone();
        let probe = tokio::spawn(async move { bb.call(async { probe_rx.await.map_err(|_| "gone") }, fault).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(b.state(), State::HalfOpen);
        assert!(b.call(async { Ok::<_, &str>(()) }, fault).await.is_err(), "a second call waits for the probe's verdict");
        probe_tx.send(()).unwrap();
        assert!(probe.await.unwrap().unwrap().is_ok());
        assert_eq!(b.state(), State::Closed);
        assert!(b.open_for().is_none());

        for _ in 0..2 {
            let _ = b.call(async { Err::<(), _>("down") }, fault).await;
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
        let abandoned = tokio::time::timeout(Duration::from_millis(10), b.call(std::future::pending::<Result<(), &str>>(), fault)).await;
        assert!(abandoned.is_err());
        assert_eq!(b.state(), State::Open, "a probe whose caller went away counts as failed");
    }
}
