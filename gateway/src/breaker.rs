//! Circuit breakers (failsafe) around the gateway's dependencies: the embedder, the vector
//! index and the SQL store.
//!
//! A breaker opens after `--breaker-failures` consecutive faults, and a call slower than
//! its slow-call threshold counts as a fault even when it succeeds: "if response times
//! spike, stop embedding and just log the alert". While open, calls are refused at once
//! (no timeouts piling up on a dead dependency); after an exponentially growing pause
//! (`--breaker-open-ms` doubling to `--breaker-open-max-ms`) calls are let through again
//! (half-open) and the first result closes or reopens it.
//!
//! Only faults count: a bad input, or back-pressure the dependency asked for, says nothing
//! about its health. State and transitions are metrics
//! (`firebreak_breaker_state{dependency}`, `firebreak_breaker_transitions_total`,
//! `firebreak_breaker_rejected_total`) and log lines.

use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use failsafe::failure_policy::{consecutive_failures, ConsecutiveFailures};
use failsafe::{Instrument, StateMachine};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// One breaker's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive faults that open it.
    pub failures: u32,
    /// A call slower than this counts as a fault (`None`: only errors count).
    pub slow_call: Option<Duration>,
    /// First pause while open; doubles on each failed probe…
    pub open_min: Duration,
    /// …up to this.
    pub open_max: Duration,
}

impl BreakerConfig {
    /// Five faults in a row, a pause from 5 s growing to 2 min: a dependency that fails
    /// five times running is down, and probing it every 2 min at worst costs nothing.
    pub fn new(slow_call: Option<Duration>) -> Self {
        BreakerConfig { failures: 5, slow_call, open_min: Duration::from_secs(5), open_max: Duration::from_secs(120) }
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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DependencyLabel {
    dependency: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransitionLabel {
    dependency: &'static str,
    to: &'static str,
}

/// The breakers' shared metric families; one set per registry.
#[derive(Clone)]
pub struct BreakerMetrics {
    state: Family<DependencyLabel, Gauge>,
    transitions: Family<TransitionLabel, Counter>,
    rejected: Family<DependencyLabel, Counter>,
    slow: Family<DependencyLabel, Counter>,
}

impl BreakerMetrics {
    pub fn new(registry: &mut Registry) -> Self {
        let m = BreakerMetrics {
            state: Family::default(),
            transitions: Family::default(),
            rejected: Family::default(),
            slow: Family::default(),
        };
        registry.register("firebreak_breaker_state", "Circuit breaker state by dependency: 0 closed, 1 open, 2 half-open", m.state.clone());
        registry.register("firebreak_breaker_transitions", "Circuit breaker state changes, by dependency and new state", m.transitions.clone());
        registry.register("firebreak_breaker_rejected", "Calls refused at once because the dependency's breaker was open", m.rejected.clone());
        registry.register("firebreak_breaker_slow_calls", "Calls slower than the dependency's slow-call threshold (counted as faults)", m.slow.clone());
        m
    }
}

/// Turns state-machine events into metrics and log lines.
struct Watch {
    dependency: &'static str,
    state: Arc<AtomicU8>,
    metrics: BreakerMetrics,
}

impl Watch {
    fn enter(&self, s: State) {
        self.state.store(s as u8, Ordering::Relaxed);
        let dependency = self.dependency;
        self.metrics.state.get_or_create(&DependencyLabel { dependency }).set(s as i64);
        self.metrics.transitions.get_or_create(&TransitionLabel { dependency, to: s.as_str() }).inc();
    }
}

impl Instrument for Watch {
    fn on_call_rejected(&self) {
        self.metrics.rejected.get_or_create(&DependencyLabel { dependency: self.dependency }).inc();
    }

    fn on_open(&self) {
        tracing::warn!(dependency = self.dependency, "circuit breaker opened: calls refused until a probe succeeds");
        self.enter(State::Open);
    }

    fn on_half_open(&self) {
        tracing::info!(dependency = self.dependency, "circuit breaker half-open: probing");
        self.enter(State::HalfOpen);
    }

    fn on_closed(&self) {
        tracing::info!(dependency = self.dependency, "circuit breaker closed: dependency healthy again");
        self.enter(State::Closed);
    }
}

/// Open pauses: `start`, doubling to `max`. failsafe's own exponential backoff counts in
/// whole seconds; probes and tests need finer steps.
#[derive(Debug, Clone)]
pub struct Doubling {
    next: Duration,
    max: Duration,
}

impl Iterator for Doubling {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        Some(d)
    }
}

/// The call was not made: the breaker is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Open {
    pub dependency: &'static str,
    /// When a probe may next get through (the shortest pause; a good `Retry-After`).
    pub retry_after: Duration,
}

/// A breaker around one dependency. Cheap to clone; clones share the state.
#[derive(Clone)]
pub struct Breaker {
    dependency: &'static str,
    cfg: BreakerConfig,
    machine: StateMachine<ConsecutiveFailures<Doubling>, Watch>,
    state: Arc<AtomicU8>,
    metrics: BreakerMetrics,
}

impl Breaker {
    pub fn new(dependency: &'static str, cfg: BreakerConfig, metrics: &BreakerMetrics) -> Self {
        let state = Arc::new(AtomicU8::new(State::Closed as u8));
        let backoff = Doubling { next: cfg.open_min, max: cfg.open_max.max(cfg.open_min) };
        let policy = consecutive_failures(cfg.failures.max(1), backoff);
        let watch = Watch { dependency, state: state.clone(), metrics: metrics.clone() };
        metrics.state.get_or_create(&DependencyLabel { dependency }).set(State::Closed as i64);
        Breaker { dependency, cfg, machine: StateMachine::new(policy, watch), state, metrics: metrics.clone() }
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

    /// Runs `call` if the breaker allows it, and records how it went: an error for which
    /// `is_fault` holds, or a call slower than the slow-call threshold, is a fault.
    pub async fn call<T, E>(&self, call: impl Future<Output = Result<T, E>>, is_fault: impl Fn(&E) -> bool) -> Result<Result<T, E>, Open> {
        if !self.machine.is_call_permitted() {
            return Err(Open { dependency: self.dependency, retry_after: self.cfg.open_min });
        }
        let started = Instant::now();
        let result = call.await;
        let slow = self.cfg.slow_call.is_some_and(|t| started.elapsed() > t);
        if slow {
            self.metrics.slow.get_or_create(&DependencyLabel { dependency: self.dependency }).inc();
            tracing::warn!(dependency = self.dependency, elapsed = ?started.elapsed(), "slow call counted as a fault");
        }
        match &result {
            Err(e) if is_fault(e) => self.machine.on_error(),
            _ if slow => self.machine.on_error(),
            _ => self.machine.on_success(),
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Breaker, BreakerConfig, BreakerMetrics, State};

    fn breaker(slow_call: Option<Duration>) -> Breaker {
        let cfg = BreakerConfig { failures: 2, slow_call, open_min: Duration::from_millis(50), open_max: Duration::from_millis(50) };
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
}
