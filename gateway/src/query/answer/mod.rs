//! Answers: "why is it down, have we seen this before, and what fixed it?", grounded in
//! past incidents and runbooks, with citations — and still answered when the LLM is slow,
//! down or over budget.
//!
//! The one answer service every surface uses (the OpenAI-compatible chat route today,
//! MCP next): it never reaches the store or the index itself, only the [`Searcher`].
//! The path of a question:
//! 0. a chat UI's housekeeping request (LibreChat's title, Open WebUI's title, tags,
//!    follow-ups) is answered from the conversation at once, with no search and no model
//!    ([`firebreak_intake::chat_task`]);
//! 1. the last user turn is read ([`firebreak_intake::question`]): a pasted Alertmanager
//!    alert or its labels make it an alert query;
//! 2. it is searched as `/v1/search` searches (hybrid, incidents and documents,
//!    alert-aware), the caller's embedding charged to the caller;
//! 3. the results become numbered context and citations under a token cap ([`context`]);
//! 4. the model is asked through the [`lane`]'s guards ([`prompt`], [`llm`]), and its
//!    text streams back as it comes, followed by a line naming the sources it was given
//!    (a small model does not always cite; the text still says where it comes from);
//! 5. when the model cannot be used — none configured, `firebreak-extractive` asked for,
//!    breaker open, budget spent, queue full, deadline passed, failed mid-answer — the
//!    answer is built from the results alone ([`extractive`]), with the same citations and
//!    `degraded: true` and the reason. With the embedder down too, the search is
//!    keyword-only and the answer still comes.

pub mod context;
pub mod extractive;
pub mod lane;
pub mod llm;
pub mod prompt;

use std::sync::Arc;

use firebreak_http::openai_chat::Usage;
use firebreak_intake::chat_task::ClientTask;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde::Serialize;
use tokio::sync::mpsc;

pub use context::Citation;
use lane::{Lane, Next, Refusal};
use llm::{LlmRequest, Piece};

use crate::pipeline::index::IndexFilter;
use crate::query::search::{Mode, Query, Searcher};

/// The model names a client may ask for.
pub const GENERATED: &str = "firebreak";
pub const EXTRACTIVE: &str = "firebreak-extractive";

/// The answer service's limits; each has a flag and a `FIREBREAK_*` variable.
#[derive(Debug, Clone)]
pub struct AnswerConfig {
    /// Search results an answer is grounded in.
    pub results: usize,
    /// Most tokens of context given to the model. 512 by default: a small node's CPU model
    /// reads a prompt at about 60 tokens a second per thread (docs/benchmarks.md,
    /// "Answers"), so twice that would take the first token past its 20 s deadline.
    pub context_tokens: usize,
    /// Most tokens of earlier conversation given to the model.
    pub history_tokens: usize,
    /// Longest question (the last user turn) in characters; longer is refused.
    pub max_question_chars: usize,
    /// Refuse (429) instead of answering extractively when the caller named the
    /// generated model and the lane refused.
    pub strict: bool,
}

impl Default for AnswerConfig {
    fn default() -> Self {
        AnswerConfig { results: 5, context_tokens: 512, history_tokens: 256, max_question_chars: 16 * 1024, strict: false }
    }
}

/// How an answer was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AnswerMode {
    /// By the LLM, from the context.
    Generated,
    /// From the search results alone.
    Extractive,
    /// A chat UI's housekeeping request (a title, tags, follow-ups), answered from the
    /// conversation without search or model ([`firebreak_intake::chat_task`]).
    Task,
}

/// What an answer says about itself: the response's `firebreak` object.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AnswerMeta {
    pub citations: Vec<Citation>,
    /// True when the answer is not what was asked for: extractive because the LLM could
    /// not be used, or from a keyword-only search.
    pub degraded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub mode: AnswerMode,
    /// The search mode that ran (`keyword` when the embedder was away); absent when no
    /// search ran (a housekeeping request).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_mode: Option<Mode>,
}

/// A question.
#[derive(Debug, Clone)]
pub struct AnswerRequest {
    /// The conversation, oldest first: `(role, text)`, roles `system`, `user`, `assistant`.
    pub turns: Vec<(String, String)>,
    /// Who asks: their budgets are charged.
    pub source: String,
    /// `firebreak-extractive` was asked for.
    pub extractive: bool,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
}

/// The answer as it is made.
#[derive(Debug, Clone)]
pub enum AnswerEvent {
    Text(String),
    /// The end: what the answer turned out to be, and its token counts.
    End { meta: Box<AnswerMeta>, finish: String, usage: Usage },
}

/// Why there is no answer at all (everything else is answered, degraded if need be).
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("{0}")]
    BadRequest(String),
    #[error("the question is {chars} characters; the limit is {limit}")]
    TooLarge { chars: usize, limit: usize },
    /// Strict mode: the generated answer was asked for and the lane refused.
    #[error("{}", .0.detail)]
    Refused(Refusal),
}

/// The service.
pub struct Answerer {
    searcher: Arc<Searcher>,
    lane: Option<Arc<Lane>>,
    cfg: AnswerConfig,
    tasks: Family<TaskLabel, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabel {
    kind: &'static str,
}

impl Answerer {
    pub fn new(searcher: Arc<Searcher>, lane: Option<Arc<Lane>>, cfg: AnswerConfig, registry: &mut Registry) -> Self {
        let tasks = Family::default();
        registry.register(
            "firebreak_answer_client_tasks",
            "Chat UIs' housekeeping requests (title, tags, follow_ups, queries, autocomplete) answered without search or LLM",
            tasks.clone(),
        );
        Answerer { searcher, lane, cfg, tasks }
    }

    /// The model names to offer (`GET /v1/models`).
    pub fn models(&self) -> [&'static str; 2] {
        [GENERATED, EXTRACTIVE]
    }

    /// The LLM lane, when a model is configured.
    /// The longest question answered, in characters (`--answer-max-question-chars`), for the
    /// API document.
    pub fn max_question_chars(&self) -> usize {
        self.cfg.max_question_chars
    }

    pub fn lane(&self) -> Option<&Arc<Lane>> {
        self.lane.as_ref()
    }

    fn count(&self) -> impl Fn(&str) -> usize + '_ {
        move |t: &str| match &self.lane {
            Some(l) => l.backend().count_tokens(t),
            None => llm::estimate_tokens(t),
        }
    }

    /// Answers a question: its events arrive on the receiver as the answer is made.
    pub async fn answer(self: &Arc<Self>, req: AnswerRequest) -> Result<mpsc::Receiver<AnswerEvent>, AnswerError> {
        if let Some(task) = firebreak_intake::chat_task::detect(&req.turns) {
            return Ok(self.client_task(&task));
        }
        let Some(pos) = req.turns.iter().rposition(|(role, text)| role == "user" && !firebreak_intake::blank::is_blank(text)) else {
            return Err(AnswerError::BadRequest("the conversation has no user message with text".into()));
        };
        let question = req.turns[pos].1.clone();
        if let Some(chars) = firebreak_intake::length::chars_over(&question, self.cfg.max_question_chars) {
            return Err(AnswerError::TooLarge { chars, limit: self.cfg.max_question_chars });
        }
        let history: Vec<(String, String)> = req.turns[..pos].iter().filter(|(r, _)| r != "system").cloned().collect();

        let read = firebreak_intake::question::read(&question);
        let query = Query {
            text: read.text,
            alert: read.alert,
            source: req.source.clone(),
            k: self.cfg.results,
            filter: IndexFilter::default(),
            mode: Mode::Hybrid,
        };
        let (hits, search_mode, mut degraded_reason) = match self.searcher.search(&query).await {
            Ok(r) => {
                let why = r.degraded_reason.map(|w| format!("search degraded: {w}"));
                (r.results, r.mode, why)
            }
            Err(e) => {
                tracing::warn!(error = %e, "an answer's search failed: answering without results");
                (Vec::new(), Mode::Keyword, Some(format!("search failed: {e}")))
            }
        };
        let count = self.count();
        let ctx = context::build(&hits, self.cfg.context_tokens, &count);
        let meta = |mode: AnswerMode, reason: Option<String>| AnswerMeta {
            citations: ctx.citations.clone(),
            degraded: reason.is_some(),
            reason,
            mode,
            search_mode: Some(search_mode),
        };

        let (tx, rx) = mpsc::channel(64);
        let extractive_text = extractive::answer(&hits, &ctx.citations);
        let lane = match (&self.lane, req.extractive) {
            (_, true) => None,
            (None, false) => {
                degraded_reason = Some(join(degraded_reason, "no LLM is configured".into()));
                None
            }
            (Some(lane), false) => Some(lane.clone()),
        };
        let Some(lane) = lane else {
            let mode = AnswerMode::Extractive;
            tokio::spawn(send_extractive(tx, extractive_text, meta(mode, degraded_reason)));
            return Ok(rx);
        };

        let messages = prompt::messages(&question, &ctx, &history, self.cfg.history_tokens, &count);
        let prompt_tokens: usize = messages.iter().map(|m| count(&m.content.text().unwrap_or_default())).sum();
        let llm_req = LlmRequest {
            messages,
            max_tokens: req.max_tokens.unwrap_or(lane.config().max_tokens),
            temperature: req.temperature,
        };
        let mut running = match lane.start(&req.source, llm_req, prompt_tokens).await {
            Ok(r) => r,
            Err(refusal) if self.cfg.strict => return Err(AnswerError::Refused(refusal)),
            Err(refusal) => {
                let reason = join(degraded_reason, format!("answered from the search results: {}", refusal.detail));
                tokio::spawn(send_extractive(tx, extractive_text, meta(AnswerMode::Extractive, Some(reason))));
                return Ok(rx);
            }
        };
        let generated = meta(AnswerMode::Generated, degraded_reason.clone());
        let sources = context::sources(&hits, &ctx.citations);
        let model_count = lane.backend().clone();
        tokio::spawn(async move {
            let mut completion = 0usize;
            let mut piece = Some(running.first.clone());
            loop {
                let p = match piece.take() {
                    Some(p) => p,
                    None => match running.next().await {
                        Next::Piece(p) => p,
                        Next::End => Piece::Done { finish: "stop".into(), usage: None },
                        Next::Broken(refusal) => {
                            // The model stopped mid-answer: what it said stays, the
                            // extractive answer follows, and the answer says so.
                            let tail = format!("\n\n---\n*The model stopped ({}). From the search results:*\n\n{extractive_text}", refusal.detail);
                            if tx.send(AnswerEvent::Text(tail)).await.is_err() {
                                return;
                            }
                            let mut m = generated.clone();
                            m.degraded = true;
                            m.reason = Some(join(m.reason.take(), refusal.detail));
                            let usage = Usage::new(prompt_tokens as u32, completion as u32);
                            let _ = tx.send(AnswerEvent::End { meta: Box::new(m), finish: "stop".into(), usage }).await;
                            return;
                        }
                    },
                };
                match p {
                    Piece::Text(t) => {
                        completion += model_count.count_tokens(&t).saturating_sub(4).max(1);
                        if tx.send(AnswerEvent::Text(t)).await.is_err() {
                            return; // the caller left: dropping `running` ends the generation
                        }
                    }
                    Piece::Done { finish, usage } => {
                        if !generated.citations.is_empty() && tx.send(AnswerEvent::Text(sources)).await.is_err() {
                            return;
                        }
                        let usage = usage.unwrap_or_else(|| Usage::new(prompt_tokens as u32, completion as u32));
                        let _ = tx.send(AnswerEvent::End { meta: Box::new(generated), finish, usage }).await;
                        return;
                    }
                }
            }
        });
        Ok(rx)
    }
}

impl Answerer {
    /// A chat UI's title, tags or follow-ups: no search, no model, no budget charged.
    fn client_task(&self, task: &ClientTask) -> mpsc::Receiver<AnswerEvent> {
        self.tasks.get_or_create(&TaskLabel { kind: task.kind.as_str() }).inc();
        tracing::debug!(kind = task.kind.as_str(), "a chat UI's housekeeping request: answered from the conversation");
        let meta = AnswerMeta { citations: Vec::new(), degraded: false, reason: None, mode: AnswerMode::Task, search_mode: None };
        let (tx, rx) = mpsc::channel(2);
        let text = task.reply();
        tokio::spawn(send_extractive(tx, text, meta));
        rx
    }
}

fn join(a: Option<String>, b: String) -> String {
    match a {
        Some(a) => format!("{a}; {b}"),
        None => b,
    }
}

async fn send_extractive(tx: mpsc::Sender<AnswerEvent>, text: String, meta: AnswerMeta) {
    let usage = Usage::new(0, llm::estimate_tokens(&text) as u32);
    if tx.send(AnswerEvent::Text(text)).await.is_ok() {
        let _ = tx.send(AnswerEvent::End { meta: Box::new(meta), finish: "stop".into(), usage }).await;
    }
}
