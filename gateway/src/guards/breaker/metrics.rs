//! The breakers' metric families, shared by every breaker of one registry.

use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct DependencyLabel {
    pub dependency: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct TransitionLabel {
    pub dependency: &'static str,
    pub to: &'static str,
}

/// When each breaker last left `closed` (`None` while closed), read at every scrape.
pub(super) type OpenSince = Arc<Mutex<Option<Instant>>>;

/// The breakers' shared metric families; one set per registry.
#[derive(Clone)]
pub struct BreakerMetrics {
    pub(super) state: Family<DependencyLabel, Gauge>,
    pub(super) transitions: Family<TransitionLabel, Counter>,
    pub(super) rejected: Family<DependencyLabel, Counter>,
    pub(super) slow: Family<DependencyLabel, Counter>,
    pub(super) abandoned: Family<DependencyLabel, Counter>,
    clocks: Arc<Mutex<Vec<(&'static str, Weak<Mutex<Option<Instant>>>)>>>,
}

impl BreakerMetrics {
    pub fn new(registry: &mut Registry) -> Self {
        let m = BreakerMetrics {
            state: Family::default(),
            transitions: Family::default(),
            rejected: Family::default(),
            slow: Family::default(),
            abandoned: Family::default(),
            clocks: Default::default(),
        };
        registry.register("firebreak_breaker_state", "Circuit breaker state by dependency: 0 closed, 1 open, 2 half-open", m.state.clone());
        registry.register("firebreak_breaker_transitions", "Circuit breaker state changes, by dependency and new state", m.transitions.clone());
        registry.register("firebreak_breaker_rejected", "Calls refused at once because the dependency's breaker was open", m.rejected.clone());
        registry.register(
            "firebreak_breaker_slow_calls",
            "Calls that ran past the dependency's slow-call threshold, counted as faults when they crossed it",
            m.slow.clone(),
        );
        registry.register(
            "firebreak_breaker_abandoned_calls",
            "Calls given up at their adaptive timeout (the dependency never answered)",
            m.abandoned.clone(),
        );
        registry.register_collector(Box::new(OpenDuration(m.clocks.clone())));
        m
    }

    pub(super) fn watch(&self, dependency: &'static str, since: &OpenSince) {
        self.clocks.lock().unwrap_or_else(|p| p.into_inner()).push((dependency, Arc::downgrade(since)));
    }
}

/// `firebreak_breaker_open_duration_seconds`: how long each breaker has been away from
/// `closed`, computed at scrape time (a gauge set at transitions would stand still).
#[derive(Debug)]
struct OpenDuration(Arc<Mutex<Vec<(&'static str, Weak<Mutex<Option<Instant>>>)>>>);

impl Collector for OpenDuration {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let clocks = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut family = encoder.encode_descriptor(
            "firebreak_breaker_open_duration_seconds",
            "Seconds since the dependency's circuit breaker opened (0 while it is closed)",
            None,
            MetricType::Gauge,
        )?;
        for (dependency, since) in clocks.iter() {
            let Some(since) = since.upgrade() else { continue };
            let secs = since.lock().unwrap_or_else(|p| p.into_inner()).map_or(0.0, |t| t.elapsed().as_secs_f64());
            ConstGauge::new(secs).encode(family.encode_family(&DependencyLabel { dependency })?)?;
        }
        Ok(())
    }
}
