//! The batching queue: a task that owns all waiting work, fed by a channel (the shape of
//! text-embeddings-inference's `core/queue.rs`).
//!
//! Callers append whole requests (all of a request's texts are accepted, or none); the
//! device worker asks for its next batch only when it is free, so a batch is formed at the
//! last moment, from everything that arrived meanwhile. A batch:
//! - takes the highest priority class with work (interactive > alert > bulk);
//! - is anchored on that class's oldest text, so nothing starves;
//! - adds the texts nearest in length to the anchor, to cut padding on padded devices;
//! - stays within `max_batch_size` texts and `max_batch_tokens` padded tokens
//!   (longest × count);
//! - tops up alert and bulk batches from lower classes; interactive batches stay small
//!   and fast.
//!
//! The queue is bounded: beyond `capacity` texts, appends are refused with a retry-after
//! computed from the measured drain rate, and memory stays flat under any input rate.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::error::{EmbedError, Result};
use crate::metrics::EmbedderMetrics;

/// Scheduling class of a request. Lower values are served first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// A person or agent is waiting (search queries).
    Interactive = 0,
    /// Alert embeddings: soon, but nobody is blocked on them.
    Alert = 1,
    /// Bulk ingest: whenever there is room.
    Bulk = 2,
}

impl Priority {
    const ALL: [Priority; 3] = [Priority::Interactive, Priority::Alert, Priority::Bulk];
}

/// One finished text.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    pub vector: Vec<f32>,
    /// Tokens embedded, special tokens included.
    pub tokens: usize,
    pub truncated: bool,
}

/// One text waiting in the queue.
pub(crate) struct Entry {
    pub ids: Vec<u32>,
    pub truncated: bool,
    pub enqueued: Instant,
    pub respond: oneshot::Sender<Result<Embedding>>,
}

/// What the device worker gets: texts to run together.
pub(crate) struct Batch {
    pub entries: Vec<Entry>,
    /// The class the batch was formed for (its oldest entry's).
    pub priority: Priority,
}

/// How the previous batch went, reported with each request for the next one; it feeds the
/// drain-rate estimate behind `Retry-After`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BatchReport {
    pub texts: usize,
    pub seconds: f64,
}

enum Append {
    Entries { priority: Priority, entries: Vec<Entry>, accepted: oneshot::Sender<Result<()>> },
}

struct NextBatch {
    last: BatchReport,
    reply: oneshot::Sender<Batch>,
}

/// Limits of the queue.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    pub capacity: usize,
    pub max_batch_size: usize,
    pub max_batch_tokens: usize,
}

/// The callers' handle.
#[derive(Clone)]
pub(crate) struct QueueHandle {
    tx: mpsc::Sender<Append>,
}

/// The device worker's handle.
pub(crate) struct WorkerHandle {
    tx: mpsc::Sender<NextBatch>,
}

impl QueueHandle {
    /// Enqueues all of `entries`, or none of them (`Overloaded`).
    pub async fn append(&self, priority: Priority, entries: Vec<Entry>) -> Result<()> {
        let (accepted, rx) = oneshot::channel();
        self.tx
            .send(Append::Entries { priority, entries, accepted })
            .await
            .map_err(|_| EmbedError::ShuttingDown)?;
        rx.await.map_err(|_| EmbedError::ShuttingDown)?
    }
}

impl WorkerHandle {
    /// Blocks the (dedicated, non-async) worker thread until a batch is ready; `None` once
    /// every caller handle is gone and the queue has drained.
    pub fn next_batch_blocking(&self, last: BatchReport) -> Option<Batch> {
        let (reply, rx) = oneshot::channel();
        self.tx.blocking_send(NextBatch { last, reply }).ok()?;
        rx.blocking_recv().ok()
    }
}

/// Starts the queue task on the current tokio runtime.
pub(crate) fn spawn(limits: QueueLimits, metrics: Arc<EmbedderMetrics>) -> (QueueHandle, WorkerHandle) {
    let (append_tx, append_rx) = mpsc::channel(256);
    let (batch_tx, batch_rx) = mpsc::channel(1);
    metrics.queue_capacity.set(limits.capacity as i64);
    let state = QueueState { limits, classes: Default::default(), len: 0, drain_rate: None, refusing: false, metrics };
    tokio::spawn(state.run(append_rx, batch_rx));
    (QueueHandle { tx: append_tx }, WorkerHandle { tx: batch_tx })
}

struct QueueState {
    limits: QueueLimits,
    classes: [VecDeque<Entry>; 3],
    len: usize,
    /// Exponentially weighted texts per second of recent batches.
    drain_rate: Option<f64>,
    /// Whether the last append was refused: logs mark the edges, not every refusal,
    /// so a flood does not become a log flood.
    refusing: bool,
    metrics: Arc<EmbedderMetrics>,
}

impl QueueState {
    async fn run(mut self, mut appends: mpsc::Receiver<Append>, mut workers: mpsc::Receiver<NextBatch>) {
        let mut waiting: Option<NextBatch> = None;
        let mut callers_open = true;
        loop {
            // Hand work to a waiting worker first; tell it to stop once nothing can arrive.
            if let Some(w) = waiting.take() {
                if let Some(batch) = self.take_batch() {
                    if let Err(batch) = w.reply.send(batch) {
                        // The worker is gone: answer the batch's callers rather than drop them.
                        for e in batch.entries {
                            let _ = e.respond.send(Err(EmbedError::ShuttingDown));
                        }
                    }
                } else if !callers_open {
                    return; // dropping `w` tells the worker to exit
                } else {
                    waiting = Some(w);
                }
            }
            tokio::select! {
                msg = appends.recv(), if callers_open => match msg {
                    Some(Append::Entries { priority, entries, accepted }) => {
                        let _ = accepted.send(self.append(priority, entries));
                    }
                    None => callers_open = false,
                },
                req = workers.recv(), if waiting.is_none() => match req {
                    Some(req) => {
                        self.record(req.last);
                        waiting = Some(req);
                    }
                    None => {
                        self.fail_all();
                        return;
                    }
                },
                else => return,
            }
        }
    }

    fn append(&mut self, priority: Priority, entries: Vec<Entry>) -> Result<()> {
        if self.len + entries.len() > self.limits.capacity {
            self.metrics.reject("queue_full");
            let retry_after = self.retry_after();
            if !self.refusing {
                self.refusing = true;
                tracing::warn!(
                    queued = self.len, capacity = self.limits.capacity, ?retry_after,
                    "embedding queue full: refusing new work until it drains"
                );
            }
            return Err(EmbedError::Overloaded { capacity: self.limits.capacity, retry_after });
        }
        if self.refusing {
            self.refusing = false;
            tracing::info!(queued = self.len, "embedding queue accepting work again");
        }
        self.len += entries.len();
        self.classes[priority as usize].extend(entries);
        self.metrics.queue_depth.set(self.len as i64);
        Ok(())
    }

    fn record(&mut self, last: BatchReport) {
        if last.texts == 0 || last.seconds <= 0.0 {
            return;
        }
        let rate = last.texts as f64 / last.seconds;
        self.drain_rate = Some(match self.drain_rate {
            Some(r) => 0.8 * r + 0.2 * rate,
            None => rate,
        });
    }

    /// Time for the current backlog to drain at the measured rate (1 s to 5 min).
    fn retry_after(&self) -> Duration {
        let secs = match self.drain_rate {
            Some(r) if r > 0.0 => self.len as f64 / r,
            _ => 5.0,
        };
        Duration::from_secs_f64(secs.clamp(1.0, 300.0).ceil())
    }

    fn take_batch(&mut self) -> Option<Batch> {
        let first = Priority::ALL.into_iter().find(|p| !self.classes[*p as usize].is_empty())?;
        let mut entries = Vec::new();
        let mut longest = 0;
        // Interactive batches are not topped up with slower classes.
        let classes: &[Priority] = if first == Priority::Interactive { &[Priority::Interactive] } else { &Priority::ALL[first as usize..] };
        for &class in classes {
            self.fill_from(class, &mut entries, &mut longest);
            if entries.len() == self.limits.max_batch_size {
                break;
            }
        }
        self.len -= entries.len();
        self.metrics.queue_depth.set(self.len as i64);
        Some(Batch { entries, priority: first })
    }

    /// Moves entries of one class into the batch: the class's oldest first if the batch is
    /// empty, then those closest in length to the batch's first entry, within the limits.
    fn fill_from(&mut self, class: Priority, batch: &mut Vec<Entry>, longest: &mut usize) {
        let queue = &mut self.classes[class as usize];
        let window = queue.len().min(self.limits.max_batch_size * 4);
        if window == 0 {
            return;
        }
        let anchor = batch.first().map(|e| e.ids.len()).unwrap_or(queue[0].ids.len());
        let mut order: Vec<usize> = (0..window).collect();
        // The oldest entry (index 0) sorts first when the batch is empty: distance 0.
        order.sort_by_key(|&i| (queue[i].ids.len().abs_diff(anchor), i));
        let mut chosen = Vec::new();
        for i in order {
            if batch.len() + chosen.len() == self.limits.max_batch_size {
                break;
            }
            let len = queue[i].ids.len();
            let new_longest = (*longest).max(len);
            if new_longest * (batch.len() + chosen.len() + 1) > self.limits.max_batch_tokens {
                continue;
            }
            *longest = new_longest;
            chosen.push(i);
        }
        chosen.sort_unstable_by(|a, b| b.cmp(a));
        let mut taken: Vec<Entry> = chosen.into_iter().filter_map(|i| queue.remove(i)).collect();
        taken.reverse();
        batch.extend(taken);
    }

    fn fail_all(&mut self) {
        for class in &mut self.classes {
            for e in class.drain(..) {
                let _ = e.respond.send(Err(EmbedError::ShuttingDown));
            }
        }
        self.len = 0;
        self.metrics.queue_depth.set(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::registry::Registry;

    fn entry(len: usize) -> (Entry, oneshot::Receiver<Result<Embedding>>) {
        let (tx, rx) = oneshot::channel();
        (Entry { ids: vec![1; len], truncated: false, enqueued: Instant::now(), respond: tx }, rx)
    }

    fn state(capacity: usize, size: usize, tokens: usize) -> QueueState {
        let metrics = Arc::new(EmbedderMetrics::new(&mut Registry::default()));
        QueueState {
            limits: QueueLimits { capacity, max_batch_size: size, max_batch_tokens: tokens },
            classes: Default::default(),
            len: 0,
            drain_rate: None,
            refusing: false,
            metrics,
        }
    }

    #[test]
    fn batches_respect_padded_token_budget_and_group_lengths() {
        let mut q = state(100, 8, 100);
        let lens = [10, 50, 11, 12, 49, 9, 13];
        let entries = lens.iter().map(|&l| entry(l).0).collect();
        q.append(Priority::Bulk, entries).unwrap();
        let b = q.take_batch().unwrap();
        let got: Vec<usize> = b.entries.iter().map(|e| e.ids.len()).collect();
        // Anchored on the oldest (10): its neighbours in length join, the 50s do not fit.
        assert_eq!(got[0], 10);
        assert!(got.iter().max().unwrap() * got.len() <= 100);
        assert!(!got.contains(&50));
        assert_eq!(q.len, lens.len() - got.len());
    }

    #[test]
    fn interactive_goes_first_and_alone() {
        let mut q = state(100, 8, 1000);
        q.append(Priority::Bulk, vec![entry(5).0, entry(5).0]).unwrap();
        q.append(Priority::Interactive, vec![entry(7).0]).unwrap();
        let b = q.take_batch().unwrap();
        assert_eq!(b.entries.len(), 1);
        assert_eq!(b.entries[0].ids.len(), 7);
        // Alert batches are topped up with bulk.
        q.append(Priority::Alert, vec![entry(6).0]).unwrap();
        assert_eq!(q.take_batch().unwrap().entries.len(), 3);
    }

    #[test]
    fn full_queue_refuses_whole_request_with_retry_after() {
        let mut q = state(3, 8, 1000);
        q.append(Priority::Bulk, vec![entry(5).0, entry(5).0]).unwrap();
        let err = q.append(Priority::Bulk, vec![entry(5).0, entry(5).0]).unwrap_err();
        match err {
            EmbedError::Overloaded { capacity, retry_after } => {
                assert_eq!(capacity, 3);
                assert!(retry_after >= Duration::from_secs(1));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(q.len, 2, "a refused request leaves nothing behind");
    }
}
