//! The embedding scheduler: one task owns three class queues and decides which batch
//! the embedder runs next (text-embeddings-inference's `core/queue.rs` shape: state owned
//! by a task, fed by a channel, no locks).
//!
//! Policy ([`policy::pick_class`]): highest class first (interactive > alert > bulk);
//! bulk is guaranteed one batch in `bulk_every`, but only while nothing higher has waited
//! longer than `max_priority_wait`. At most `concurrency` alert and bulk batches are in
//! flight, so the embedder's CPU budget is never oversubscribed by the gateway, whatever
//! arrives, and one more slot is kept for interactive work: a search never queues behind
//! background batches, least of all behind batches stuck on a dead embedder. A batch
//! still running past the embedder's slow-call threshold ([`EmbedBackend::overdue_after`])
//! gives its slot back: it is hung, its callers keep waiting for its deadline, and the
//! next batch goes (and, on a dead embedder, adds its own fault to the breaker's count).
//! Each class queue is bounded: a full queue refuses at once (`Overloaded`), it never grows.
//! Before a request is queued, the pressure guard ([`crate::guards::pressure`]) is asked and the
//! embedding budget ([`crate::guards::budget`]) is charged.

pub mod metrics;
pub mod policy;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

pub use metrics::SchedulerMetrics;
pub use policy::SchedulerConfig;

use crate::guards::budget::Budget;
use crate::guards::pressure::Pressure;
use crate::pipeline::embedding::{Class, EmbedBackend, EmbedFailure, Vector};

/// How long work held back by node pressure waits before asking again (PSI's avg10 moves
/// over ten seconds).
const PRESSURE_WAIT: Duration = Duration::from_secs(10);

type Reply = oneshot::Sender<Result<Vec<Vector>, EmbedFailure>>;

/// What callers send the actor.
struct Submit {
    class: Class,
    texts: Vec<String>,
    reply: Reply,
}

/// A request being answered piece by piece (its texts may span batches).
struct Assembly {
    slots: Vec<Option<Vector>>,
    missing: usize,
    reply: Option<Reply>,
}

impl Assembly {
    fn fill(&mut self, index: usize, v: Vector) {
        if self.slots[index].is_none() {
            self.slots[index] = Some(v);
            self.missing -= 1;
        }
        if self.missing == 0 {
            if let Some(r) = self.reply.take() {
                let _ = r.send(Ok(self.slots.iter_mut().map(|s| s.take().expect("filled")).collect()));
            }
        }
    }

    fn fail(&mut self, e: EmbedFailure) {
        if let Some(r) = self.reply.take() {
            let _ = r.send(Err(e));
        }
    }
}

/// One text waiting in a class queue.
struct Item {
    text: String,
    index: usize,
    request: Arc<Mutex<Assembly>>,
    enqueued: Instant,
}

/// A snapshot for `/v1/status`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SchedulerStatus {
    pub queued: [usize; 3],
    pub oldest_wait_ms: [u64; 3],
    /// Batches holding a slot.
    pub in_flight_batches: usize,
    /// Batches still running past the slow-call threshold, no longer holding one.
    pub overdue_batches: usize,
    pub concurrency: usize,
}

/// Handle to the actor. Cheap to clone.
#[derive(Clone)]
pub struct Scheduler {
    tx: mpsc::Sender<Msg>,
    backend: Arc<dyn EmbedBackend>,
    budget: Arc<Budget>,
    pressure: Pressure,
}

enum Msg {
    Submit(Submit),
    Status(oneshot::Sender<SchedulerStatus>),
}

impl Scheduler {
    /// Starts the actor. It stops when every handle is dropped and in-flight batches end.
    pub fn spawn(
        cfg: SchedulerConfig,
        backend: Arc<dyn EmbedBackend>,
        budget: Arc<Budget>,
        pressure: Pressure,
        metrics: Arc<SchedulerMetrics>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(1024);
        let (freed, freed_rx) = mpsc::unbounded_channel();
        let actor = Actor {
            cfg,
            backend: backend.clone(),
            metrics,
            queues: Default::default(),
            in_flight: JoinSet::new(),
            held: [0; 3],
            freed,
            since_bulk: 0,
        };
        tokio::spawn(actor.run(rx, freed_rx));
        Scheduler { tx, backend, budget, pressure }
    }

    /// Embeds `texts` in `class` for `source`, waiting for its turn. All or nothing.
    /// The pressure guard and the embedding budget are asked first: nothing reaches the
    /// model past them.
    pub async fn embed(&self, class: Class, source: &str, texts: Vec<String>) -> Result<Vec<Vector>, EmbedFailure> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        self.pressure_check(class)?;
        self.budget.spend(source, texts.len())?;
        // Tokens are known only afterwards; remote embedders may not say: ~4 bytes a token.
        let estimate: usize = texts.iter().map(|t| t.len().div_ceil(4)).sum();
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Submit(Submit { class, texts, reply }))
            .await
            .map_err(|_| EmbedFailure::Unavailable("scheduler stopped".into()))?;
        let vectors = rx.await.map_err(|_| EmbedFailure::Unavailable("scheduler stopped".into()))??;
        let counted: Option<usize> = vectors.iter().map(|v| v.tokens).sum();
        self.budget.charge_tokens(source, counted.unwrap_or(estimate));
        Ok(vectors)
    }

    /// Whether node pressure holds back work of `class` now (`Paused` if so). Embedding asks
    /// it first; so does the outbox worker's keyword phase for bulk items, whose chunking
    /// and index writes are CPU too.
    pub fn pressure_check(&self, class: Class) -> Result<(), EmbedFailure> {
        match self.pressure.holds_back(class) {
            Some(reason) => Err(EmbedFailure::Paused { reason, retry_after: PRESSURE_WAIT }),
            None => Ok(()),
        }
    }

    /// The budget this scheduler spends (intake asks it before accepting bulk work).
    pub fn budget(&self) -> &Arc<Budget> {
        &self.budget
    }

    /// Queue state, for `/v1/status`.
    pub async fn status(&self) -> Option<SchedulerStatus> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Msg::Status(tx)).await.ok()?;
        rx.await.ok()
    }

    /// The backend the batches run on.
    pub fn backend(&self) -> &Arc<dyn EmbedBackend> {
        &self.backend
    }
}

struct Actor {
    cfg: SchedulerConfig,
    backend: Arc<dyn EmbedBackend>,
    metrics: Arc<SchedulerMetrics>,
    queues: [VecDeque<Item>; 3],
    /// Every batch still running, overdue ones included (joined at shutdown).
    in_flight: JoinSet<()>,
    /// Slots held, by class: a batch holds one until it ends or becomes overdue.
    held: [usize; 3],
    /// Where a batch says it gave its slot back.
    freed: mpsc::UnboundedSender<Class>,
    /// Batches started since bulk last got one.
    since_bulk: u32,
}

impl Actor {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>, mut freed: mpsc::UnboundedReceiver<Class>) {
        let mut open = true;
        loop {
            self.dispatch();
            if !open && self.in_flight.is_empty() && self.queues.iter().all(VecDeque::is_empty) {
                return;
            }
            tokio::select! {
                msg = rx.recv(), if open => match msg {
                    Some(Msg::Submit(s)) => self.submit(s),
                    Some(Msg::Status(tx)) => { let _ = tx.send(self.status()); }
                    None => open = false,
                },
                Some(c) = freed.recv() => self.held[c as usize] -= 1,
                Some(_) = self.in_flight.join_next(), if !self.in_flight.is_empty() => {}
            }
        }
    }

    fn submit(&mut self, s: Submit) {
        let q = &mut self.queues[s.class as usize];
        let capacity = self.cfg.capacity(s.class);
        if q.len() + s.texts.len() > capacity {
            self.metrics.rejected(s.class);
            // The queue drains at about one batch per in-flight slot per second on a small
            // CPU; a second is an honest first guess, and clients back off from there.
            let _ = s.reply.send(Err(EmbedFailure::Overloaded { retry_after: Duration::from_secs(1) }));
            return;
        }
        let now = Instant::now();
        let request =
            Arc::new(Mutex::new(Assembly { slots: vec![None; s.texts.len()], missing: s.texts.len(), reply: Some(s.reply) }));
        for (index, text) in s.texts.into_iter().enumerate() {
            q.push_back(Item { text, index, request: request.clone(), enqueued: now });
        }
        self.metrics.set_depth(s.class, q.len());
    }

    fn status(&self) -> SchedulerStatus {
        let now = Instant::now();
        let holding = self.held.iter().sum::<usize>();
        let mut st = SchedulerStatus {
            in_flight_batches: holding,
            overdue_batches: self.in_flight.len().saturating_sub(holding),
            concurrency: self.cfg.concurrency,
            ..Default::default()
        };
        for c in Class::ALL {
            let q = &self.queues[c as usize];
            st.queued[c as usize] = q.len();
            st.oldest_wait_ms[c as usize] = q.front().map(|i| now.duration_since(i.enqueued).as_millis() as u64).unwrap_or(0);
        }
        st
    }

    /// Starts batches while there is room and work: alert and bulk batches in
    /// `concurrency` slots, interactive ones in those or the one kept for them.
    fn dispatch(&mut self) {
        loop {
            let background = self.held[Class::Alert as usize] + self.held[Class::Bulk as usize];
            let total = background + self.held[Class::Interactive as usize];
            if total >= self.cfg.concurrency + 1 {
                return;
            }
            let now = Instant::now();
            let room = |c: Class| c == Class::Interactive || background < self.cfg.concurrency;
            let oldest = |c: Class| self.queues[c as usize].front().filter(|_| room(c)).map(|i| now.duration_since(i.enqueued));
            let waits = [oldest(Class::Interactive), oldest(Class::Alert), oldest(Class::Bulk)];
            let Some(class) = policy::pick_class(&self.cfg, waits, self.since_bulk) else { return };
            self.since_bulk = if class == Class::Bulk { 0 } else { self.since_bulk.saturating_add(1) };
            let q = &mut self.queues[class as usize];
            let n = q.len().min(self.cfg.max_batch_texts);
            let items: Vec<Item> = q.drain(..n).collect();
            self.metrics.set_depth(class, q.len());
            self.metrics.batch_started(class, &items.iter().map(|i| now.duration_since(i.enqueued)).collect::<Vec<_>>(), n, self.cfg.max_batch_texts);
            let backend = self.backend.clone();
            let metrics = self.metrics.clone();
            let freed = self.freed.clone();
            self.held[class as usize] += 1;
            self.in_flight.spawn(async move {
                let texts: Vec<String> = items.iter().map(|i| i.text.clone()).collect();
                let overdue = backend.overdue_after(&texts);
                let started = Instant::now();
                let embed = backend.embed(texts, class);
                tokio::pin!(embed);
                let mut released = false;
                let result = match overdue {
                    None => embed.await,
                    Some(after) => tokio::select! {
                        biased;
                        r = &mut embed => r,
                        _ = tokio::time::sleep(after) => {
                            metrics.overdue(class);
                            released = freed.send(class).is_ok();
                            embed.await
                        }
                    },
                };
                if !released {
                    let _ = freed.send(class);
                }
                metrics.batch_done(class, started.elapsed(), items.len(), result.is_ok());
                deliver(items, result);
            });
        }
    }
}

/// Hands a batch's outcome to the requests its texts came from.
fn deliver(items: Vec<Item>, result: Result<Vec<Vector>, EmbedFailure>) {
    match result {
        Ok(vectors) => {
            for (item, v) in items.into_iter().zip(vectors) {
                item.request.lock().unwrap_or_else(|p| p.into_inner()).fill(item.index, v);
            }
        }
        Err(e) => {
            for item in items {
                item.request.lock().unwrap_or_else(|p| p.into_inner()).fail(e.clone());
            }
        }
    }
}
