//! The embedding budget: a hard cap on texts and tokens embedded per minute, for the whole
//! gateway and for each authenticated source. It is the cap the seed incident lacked: a
//! seven-hour ingest could embed as fast as the CPU allowed, for seven hours. The LLM lane
//! has one of the same kind ([`ANSWERS`]: answers and prompt + completion tokens per
//! minute), so no caller can keep a model generating either.
//!
//! Every embedding passes the [`crate::pipeline::scheduler::Scheduler`], which asks here first.
//! Texts are charged before embedding; tokens are only known after, so they are charged
//! then, and a budget in debt refuses until it has refilled. Each allowance refills
//! continuously (a token bucket of one minute's worth), so the cap holds over any
//! 60-second window, not just per calendar minute.
//!
//! What "refused" means depends on who asked (the callers decide): an alert or document
//! job waits in the outbox and is retried when the budget has refilled, without using
//! up an attempt; ingest intake answers 429 with the refill time as `Retry-After`; a
//! search goes keyword-only with `"degraded": true`; `/v1/embeddings` answers 429.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::log_throttle::Throttle;

/// What a budget meters: the names of its metrics, its log line and its two units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metered {
    /// Metric name prefix (`firebreak_embed_budget`).
    pub prefix: &'static str,
    /// The work, for the log line ("embedding").
    pub work: &'static str,
    /// The counted unit (charged before the work) and the token unit (charged after).
    pub units: (&'static str, &'static str),
}

/// The embedding budget's names.
pub const EMBEDDINGS: Metered = Metered { prefix: "firebreak_embed_budget", work: "embedding", units: ("texts", "tokens") };
/// The LLM lane's.
pub const ANSWERS: Metered = Metered { prefix: "firebreak_llm_budget", work: "LLM answer", units: ("answers", "tokens") };

/// Per-minute caps of one scope (`None`: that unit is not capped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    pub texts_per_minute: Option<u64>,
    pub tokens_per_minute: Option<u64>,
}

/// The caps: for everything together, and for each source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetLimits {
    pub global: Allowance,
    pub per_source: Allowance,
}

impl Default for BudgetLimits {
    /// all-MiniLM-L6-v2 on one core embeds roughly 50 short texts (about 6 000 tokens) a
    /// second flat out. The global cap keeps the embedder at or below about a core's work
    /// averaged over a minute, whatever arrives; one source may use half of it, so a bulk
    /// ingest can never take the share alerts and queries need.
    fn default() -> Self {
        BudgetLimits {
            global: Allowance { texts_per_minute: Some(3_000), tokens_per_minute: Some(360_000) },
            per_source: Allowance { texts_per_minute: Some(1_500), tokens_per_minute: Some(180_000) },
        }
    }
}

impl BudgetLimits {
    /// No caps (tests of other parts; a trusted, dedicated embedder).
    pub fn unlimited() -> Self {
        let none = Allowance { texts_per_minute: None, tokens_per_minute: None };
        BudgetLimits { global: none, per_source: none }
    }
}

/// Why and for how long an embedding was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverBudget {
    /// `global`, or the source's name.
    pub scope: String,
    pub unit: &'static str,
    pub retry_after: Duration,
}

/// A one-minute bucket that may go into debt.
#[derive(Debug, Clone)]
struct Bucket {
    per_minute: f64,
    level: f64,
    at: Instant,
}

impl Bucket {
    fn new(per_minute: u64, now: Instant) -> Self {
        let per_minute = per_minute.max(1) as f64;
        Bucket { per_minute, level: per_minute, at: now }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.level = (self.level + self.per_minute * dt / 60.0).min(self.per_minute);
        self.at = now;
    }

    /// Time until `need` (at most a full bucket) is available.
    fn wait_for(&self, need: f64) -> Duration {
        let need = need.min(self.per_minute);
        if self.level >= need {
            return Duration::ZERO;
        }
        Duration::from_secs_f64((need - self.level) * 60.0 / self.per_minute)
    }
}

/// One scope's buckets.
#[derive(Debug, Clone)]
struct Scope {
    texts: Option<Bucket>,
    tokens: Option<Bucket>,
}

impl Scope {
    fn new(a: Allowance, now: Instant) -> Self {
        Scope { texts: a.texts_per_minute.map(|n| Bucket::new(n, now)), tokens: a.tokens_per_minute.map(|n| Bucket::new(n, now)) }
    }

    fn refill(&mut self, now: Instant) {
        self.texts.iter_mut().chain(self.tokens.iter_mut()).for_each(|b| b.refill(now));
    }

    /// The longest wait among this scope's units for `texts` more texts (tokens: out of debt).
    fn wait(&self, texts: usize, units: (&'static str, &'static str)) -> Option<(&'static str, Duration)> {
        let t = self.texts.as_ref().map(|b| (units.0, b.wait_for(texts as f64)));
        let k = self.tokens.as_ref().map(|b| (units.1, b.wait_for(1.0)));
        [t, k].into_iter().flatten().filter(|(_, w)| !w.is_zero()).max_by_key(|(_, w)| *w)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusedLabel {
    scope: String,
    unit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UnitLabel {
    unit: &'static str,
}

struct State {
    global: Scope,
    sources: HashMap<String, Scope>,
}

/// The shared budget. Its state is two buckets per source: the token table bounds the
/// sources, so it stays small.
pub struct Budget {
    metered: Metered,
    limits: BudgetLimits,
    state: Mutex<State>,
    refused: Family<RefusedLabel, Counter>,
    global_left: Family<UnitLabel, Gauge>,
    log: Throttle,
}

impl Budget {
    pub fn new(metered: Metered, limits: BudgetLimits, registry: &mut Registry) -> Self {
        let b = Budget {
            metered,
            limits,
            state: Mutex::new(State { global: Scope::new(limits.global, Instant::now()), sources: HashMap::new() }),
            refused: Family::default(),
            global_left: Family::default(),
            log: Throttle::default(),
        };
        let (counted, tokens) = metered.units;
        registry.register(
            format!("{}_refused", metered.prefix),
            format!("{} requests refused by the budget, by scope (global or the source) and unit", metered.work),
            b.refused.clone(),
        );
        registry.register(
            format!("{}_remaining", metered.prefix),
            format!("What is left of the global per-minute {} budget (negative: in debt), by unit ({counted}, {tokens})", metered.work),
            b.global_left.clone(),
        );
        b
    }

    fn with_state<T>(&self, now: Instant, f: impl FnOnce(&mut State) -> T) -> T {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.global.refill(now);
        let out = f(&mut st);
        for (unit, b) in [(self.metered.units.0, &st.global.texts), (self.metered.units.1, &st.global.tokens)] {
            if let Some(b) = b {
                self.global_left.get_or_create(&UnitLabel { unit }).set(b.level.floor() as i64);
            }
        }
        out
    }

    fn check(&self, st: &mut State, source: &str, texts: usize, now: Instant) -> Result<(), OverBudget> {
        let per_source = self.limits.per_source;
        let scope = st.sources.entry(source.to_owned()).or_insert_with(|| Scope::new(per_source, now));
        scope.refill(now);
        let units = self.metered.units;
        let refusal = match (st.global.wait(texts, units), scope.wait(texts, units)) {
            (Some((unit, g)), Some((_, s))) if g >= s => Some(("global".to_owned(), unit, g)),
            (_, Some((unit, s))) => Some((source.to_owned(), unit, s)),
            (Some((unit, g)), None) => Some(("global".to_owned(), unit, g)),
            (None, None) => None,
        };
        match refusal {
            None => Ok(()),
            Some((scope, unit, wait)) => Err(OverBudget { scope, unit, retry_after: wait.max(Duration::from_secs(1)) }),
        }
    }

    /// Takes `texts` from the global and `source`'s allowance, or says how long to wait.
    pub fn spend(&self, source: &str, texts: usize) -> Result<(), OverBudget> {
        self.spend_at(source, texts, Instant::now())
    }

    fn spend_at(&self, source: &str, texts: usize, now: Instant) -> Result<(), OverBudget> {
        self.with_state(now, |st| {
            if let Err(e) = self.check(st, source, texts, now) {
                self.refused.get_or_create(&RefusedLabel { scope: e.scope.clone(), unit: e.unit }).inc();
                if let Some(more) = self.log.due(&format!("{}/{}", e.scope, e.unit)) {
                    tracing::warn!(scope = %e.scope, unit = e.unit, retry_after = ?e.retry_after, refused_since_last_line = more, "{} budget spent: {} waits", self.metered.work, self.metered.work);
                }
                return Err(e);
            }
            let n = texts as f64;
            let scope = st.sources.get_mut(source).expect("created by check");
            for b in [&mut st.global.texts, &mut scope.texts].into_iter().flatten() {
                b.level -= n;
            }
            Ok(())
        })
    }

    /// Charges the tokens an embedding turned out to cost (known only afterwards).
    pub fn charge_tokens(&self, source: &str, tokens: usize) {
        let now = Instant::now();
        self.with_state(now, |st| {
            let n = tokens as f64;
            if let Some(b) = st.global.tokens.as_mut() {
                b.level -= n;
            }
            if let Some(b) = st.sources.get_mut(source).and_then(|s| s.tokens.as_mut()) {
                b.refill(now);
                b.level -= n;
            }
        })
    }

    /// Whether `source` could embed one more text now, without spending anything: intake
    /// asks this to turn ingest away while the budget is gone.
    pub fn exhausted(&self, source: &str) -> Option<OverBudget> {
        let now = Instant::now();
        self.with_state(now, |st| self.check(st, source, 1, now).err())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{Allowance, Budget, BudgetLimits, EMBEDDINGS};

    fn budget(global: (u64, u64), per_source: (u64, u64)) -> Budget {
        let a = |(t, k): (u64, u64)| Allowance { texts_per_minute: Some(t), tokens_per_minute: Some(k) };
        Budget::new(EMBEDDINGS, BudgetLimits { global: a(global), per_source: a(per_source) }, &mut Default::default())
    }

    #[test]
    fn a_source_is_capped_per_minute_and_refills_continuously() {
        let b = budget((1000, 1_000_000), (60, 1_000_000));
        let t = Instant::now();
        assert!(b.spend_at("chat", 60, t).is_ok());
        let e = b.spend_at("chat", 1, t).unwrap_err();
        assert_eq!((e.scope.as_str(), e.unit), ("chat", "texts"));
        assert_eq!(e.retry_after, Duration::from_secs(1), "one text a second comes back");
        assert!(b.spend_at("alertmanager", 10, t).is_ok(), "another source has its own allowance");
        assert!(b.spend_at("chat", 5, t + Duration::from_secs(5)).is_ok(), "5 s refill 5 texts");
        assert!(b.spend_at("chat", 1, t + Duration::from_secs(5)).is_err());
    }

    #[test]
    fn the_global_cap_binds_all_sources_and_tokens_put_a_budget_in_debt() {
        let b = budget((100, 600), (1000, 1_000_000));
        let t = Instant::now();
        assert!(b.spend_at("a", 60, t).is_ok());
        assert!(b.spend_at("b", 40, t).is_ok());
        let e = b.spend_at("c", 1, t).unwrap_err();
        assert_eq!((e.scope.as_str(), e.unit), ("global", "texts"));

        let b = budget((1000, 600), (1000, 1_000_000));
        assert!(b.spend_at("a", 1, t).is_ok());
        b.charge_tokens("a", 1200); // 600 of debt: a minute to be out of it
        let e = b.exhausted("a").expect("in debt");
        assert_eq!(e.unit, "tokens");
        assert!(e.retry_after >= Duration::from_secs(59), "{:?}", e.retry_after);
    }
}
