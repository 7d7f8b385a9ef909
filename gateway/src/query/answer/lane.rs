//! The LLM lane: every guard an answer's generation passes, so that no number of people
//! asking questions can keep a model busy past what the node affords, and an answer
//! never waits on a model that is not answering.
//!
//! In the order a generation meets them:
//! 1. the **breaker** (`llm`): open after `--breaker-failures` faults (errors, hangs, a
//!    first token slower than its adaptive threshold), refusing at once while open, one
//!    probe when the pause is over ([`crate::guards::breaker`]);
//! 2. the **token budget**, per source and global: answers and prompt + completion tokens
//!    per minute (`--llm-budget`, `--llm-source-budget`); the prompt is charged before,
//!    the completion after ([`crate::guards::budget`], [`crate::guards::budget::ANSWERS`]);
//! 3. the **queue**: at most `--llm-concurrency` generations at once (default 1), at most
//!    `--llm-max-waiting` waiting for one (default 4), refused beyond;
//! 4. the **deadlines**: the first token within `--llm-first-token-timeout-ms`, the whole
//!    answer within `--llm-timeout-secs`; and `--llm-max-tokens` caps every answer.
//!
//! A refusal is never an error to the person asking: [`super::Answerer`] answers
//! extractively instead, saying why (or, in strict mode, refuses with 429 when the caller
//! named the generated model). Every refusal is counted by reason
//! (`firebreak_llm_refused_total`) and logged once a minute.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::llm::{LlmBackend, LlmError, LlmRequest, Piece, Pieces};
use crate::guards::breaker::{Breaker, BreakerConfig, BreakerMetrics};
use crate::guards::budget::{Budget, BudgetLimits, ANSWERS};
use crate::log_throttle::Throttle;

/// The lane's limits; each has a flag and a `FIREBREAK_*` variable.
#[derive(Debug, Clone)]
pub struct LaneConfig {
    pub concurrency: usize,
    pub max_waiting: usize,
    pub max_tokens: u32,
    pub first_token_timeout: Duration,
    pub timeout: Duration,
    /// Answers (the counted unit) and tokens per minute.
    pub budget: BudgetLimits,
    /// The breaker's consecutive faults and pauses (the embedder's flags).
    pub breaker: BreakerConfig,
}

impl Default for LaneConfig {
    /// One generation at a time and four waiting: a small node's CPU model does one
    /// answer at a time well, and many at once badly. 30 000 tokens a minute in all
    /// (15 000 per source) is about twenty answers a minute with their context: more
    /// than a team asks during an incident, far less than a loop of agents could.
    fn default() -> Self {
        LaneConfig {
            concurrency: 1,
            max_waiting: 4,
            max_tokens: 256,
            first_token_timeout: Duration::from_secs(20),
            timeout: Duration::from_secs(120),
            budget: BudgetLimits {
                global: crate::guards::budget::Allowance { texts_per_minute: Some(120), tokens_per_minute: Some(30_000) },
                per_source: crate::guards::budget::Allowance { texts_per_minute: Some(60), tokens_per_minute: Some(15_000) },
            },
            breaker: BreakerConfig::new(Some(Duration::from_secs(20)), Duration::from_secs(5)),
        }
    }
}

/// Why the lane did not generate.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// `breaker_open`, `budget`, `queue_full`, `first_token_timeout`, `busy`, `failed`,
    /// `rejected`: the metric's label.
    pub reason: &'static str,
    /// For the answer's `firebreak.reason`.
    pub detail: String,
    pub retry_after: Option<Duration>,
}

impl Refusal {
    fn new(reason: &'static str, detail: impl Into<String>, retry_after: Option<Duration>) -> Self {
        Refusal { reason, detail: detail.into(), retry_after }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

struct LaneMetrics {
    refused: Family<ReasonLabel, Counter>,
    in_flight: Gauge,
    waiting: Gauge,
    tokens: Family<KindLabel, Counter>,
    first_token_seconds: Histogram,
    generation_seconds: Histogram,
}

/// A generation that has produced its first piece: the rest follows from `pieces`. The
/// slot, the breaker's verdict and the budget's charge travel with it.
pub struct Running {
    pub first: Piece,
    pieces: Pieces,
    deadline: Instant,
    lane: Arc<Lane>,
    source: String,
    completion_tokens: usize,
    started: Instant,
    _slot: OwnedSemaphorePermit,
}

/// How a generation continued.
pub enum Next {
    Piece(Piece),
    /// The model failed or the deadline passed after the first token.
    Broken(Refusal),
    /// Nothing more.
    End,
}

impl Running {
    /// The next piece, within the answer's deadline.
    pub async fn next(&mut self) -> Next {
        let left = self.deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, self.pieces.recv()).await {
            Ok(Some(Ok(p))) => {
                if let Piece::Text(t) = &p {
                    self.completion_tokens += self.lane.backend.count_tokens(t).saturating_sub(4).max(1);
                }
                if let Piece::Done { usage: Some(u), .. } = &p {
                    self.completion_tokens = u.completion_tokens as usize;
                }
                Next::Piece(p)
            }
            Ok(Some(Err(e))) => {
                if e.is_fault() {
                    self.lane.breaker.record_fault();
                }
                Next::Broken(self.lane.refuse(if e.is_fault() { "failed" } else { "rejected" }, format!("the LLM stopped: {e}"), None))
            }
            Ok(None) => Next::End,
            Err(_) => Next::Broken(self.lane.refuse("timeout", format!("the answer was not finished within {:?}", self.lane.cfg.timeout), None)),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let m = &self.lane.metrics;
        m.in_flight.dec();
        m.tokens.get_or_create(&KindLabel { kind: "completion" }).inc_by(self.completion_tokens as u64);
        m.generation_seconds.observe(self.started.elapsed().as_secs_f64());
        self.lane.budget.charge_tokens(&self.source, self.completion_tokens);
    }
}

/// The lane: a model and its guards.
pub struct Lane {
    backend: Arc<dyn LlmBackend>,
    cfg: LaneConfig,
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    budget: Budget,
    breaker: Breaker,
    metrics: LaneMetrics,
    log: Throttle,
}

impl Lane {
    pub fn new(backend: Arc<dyn LlmBackend>, cfg: LaneConfig, breakers: &BreakerMetrics, registry: &mut Registry) -> Arc<Self> {
        let metrics = LaneMetrics {
            refused: Family::default(),
            in_flight: Gauge::default(),
            waiting: Gauge::default(),
            tokens: Family::default(),
            first_token_seconds: Histogram::new(exponential_buckets(0.05, 2.0, 14)),
            generation_seconds: Histogram::new(exponential_buckets(0.1, 2.0, 14)),
        };
        registry.register("firebreak_llm_refused", "Answers the LLM lane did not generate (answered extractively), by reason", metrics.refused.clone());
        registry.register("firebreak_llm_in_flight", "Generations running on the LLM", metrics.in_flight.clone());
        registry.register("firebreak_llm_waiting", "Generations waiting for an LLM slot", metrics.waiting.clone());
        registry.register("firebreak_llm_tokens", "Tokens sent to and received from the LLM, by kind (prompt, completion)", metrics.tokens.clone());
        registry.register("firebreak_llm_first_token_seconds", "From a generation's start to the LLM's first token", metrics.first_token_seconds.clone());
        registry.register("firebreak_llm_generation_seconds", "From a generation's start to its end", metrics.generation_seconds.clone());
        let budget = Budget::new(ANSWERS, cfg.budget, registry);
        let breaker = Breaker::new("llm", cfg.breaker, breakers);
        tracing::info!(llm = %backend.describe(), concurrency = cfg.concurrency, max_waiting = cfg.max_waiting, "LLM lane ready");
        Arc::new(Lane { backend, slots: Arc::new(Semaphore::new(cfg.concurrency.max(1))), cfg, waiting: AtomicUsize::new(0), budget, breaker, metrics, log: Throttle::default() })
    }

    pub fn backend(&self) -> &Arc<dyn LlmBackend> {
        &self.backend
    }

    pub fn config(&self) -> &LaneConfig {
        &self.cfg
    }

    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    fn refuse(&self, reason: &'static str, detail: impl Into<String>, retry_after: Option<Duration>) -> Refusal {
        let detail = detail.into();
        self.metrics.refused.get_or_create(&ReasonLabel { reason }).inc();
        if let Some(more) = self.log.due(reason) {
            tracing::warn!(reason, %detail, refused_since_last_line = more, "LLM lane refused a generation: answering extractively");
        }
        Refusal::new(reason, detail, retry_after)
    }

    /// Starts a generation for `source` and waits for its first piece, or says why not.
    pub async fn start(self: &Arc<Self>, source: &str, mut req: LlmRequest, prompt_tokens: usize) -> Result<Running, Refusal> {
        req.max_tokens = req.max_tokens.clamp(1, self.cfg.max_tokens);
        let started = Instant::now();
        // Refused before the budget and a slot are spent while the pause runs; once it has
        // run out the call goes on, and the breaker lets exactly one probe through.
        // (The state alone says `open` until that probe: refusing on it would keep the
        // breaker open for ever.)
        if let Some(retry) = self.breaker.retry_after().filter(|d| !d.is_zero()) {
            return Err(self.refuse("breaker_open", "the LLM's circuit breaker is open", Some(retry)));
        }
        // While that one probe runs, the others are refused here too, before their budget
        // is charged for a call the breaker would not make.
        if self.breaker.state() == crate::guards::breaker::State::HalfOpen {
            return Err(self.refuse("breaker_open", "the LLM's circuit breaker is probing", Some(Duration::from_secs(1))));
        }
        if let Err(e) = self.budget.spend(source, 1) {
            return Err(self.refuse("budget", format!("the {} LLM token budget is spent", e.scope), Some(e.retry_after)));
        }
        self.budget.charge_tokens(source, prompt_tokens);
        self.metrics.tokens.get_or_create(&KindLabel { kind: "prompt" }).inc_by(prompt_tokens as u64);

        // A slot, or a place in line; the wait counts against the first-token deadline.
        let first_deadline = started + self.cfg.first_token_timeout;
        let slot = match self.slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.cfg.max_waiting {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(self.refuse("queue_full", format!("{} answers are already waiting for the LLM", self.cfg.max_waiting), Some(Duration::from_secs(5))));
                }
                self.metrics.waiting.inc();
                let got = tokio::time::timeout_at(first_deadline.into(), self.slots.clone().acquire_owned()).await;
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                self.metrics.waiting.dec();
                match got {
                    Ok(Ok(slot)) => slot,
                    _ => return Err(self.refuse("queue_timeout", "no LLM slot came free before the first-token deadline", Some(Duration::from_secs(5)))),
                }
            }
        };

        let backend = self.backend.clone();
        let call = async move {
            let left = first_deadline.saturating_duration_since(Instant::now());
            let first = tokio::time::timeout(left, async move {
                let mut pieces = backend.generate(req).await?;
                match pieces.recv().await {
                    Some(Ok(first)) => Ok((first, pieces)),
                    Some(Err(e)) => Err(e),
                    None => Err(LlmError::Unavailable("the LLM ended its answer before saying anything".into())),
                }
            })
            .await;
            first.unwrap_or_else(|_| Err(LlmError::Unavailable(format!("no first token within {left:?}"))))
        };
        let cost = prompt_tokens.max(1) as f64;
        let outcome = match self.breaker.call_costing(cost, call, LlmError::is_fault).await {
            Err(open) => return Err(self.refuse("breaker_open", "the LLM's circuit breaker is open", Some(open.retry_after))),
            Ok(r) => r,
        };
        match outcome {
            Ok((first, pieces)) => {
                self.metrics.first_token_seconds.observe(started.elapsed().as_secs_f64());
                self.metrics.in_flight.inc();
                let mut running = Running {
                    first: first.clone(),
                    pieces,
                    deadline: started + self.cfg.timeout,
                    lane: self.clone(),
                    source: source.to_owned(),
                    completion_tokens: 0,
                    started,
                    _slot: slot,
                };
                if let Piece::Text(t) = &first {
                    running.completion_tokens = self.backend.count_tokens(t).saturating_sub(4).max(1);
                }
                Ok(running)
            }
            Err(LlmError::Busy { reason, retry_after }) => Err(self.refuse("busy", reason, Some(retry_after))),
            Err(LlmError::Rejected(why)) => Err(self.refuse("rejected", why, None)),
            Err(LlmError::Unavailable(why)) if why.starts_with("no first token") => Err(self.refuse("first_token_timeout", why, None)),
            Err(LlmError::Unavailable(why)) => Err(self.refuse("failed", why, None)),
        }
    }
}
