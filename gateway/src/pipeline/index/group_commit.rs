//! Group commit for the embedded shard: one writer thread applies every write that is
//! waiting, flushes once, then answers all of their callers.
//!
//! A qdrant-edge flush msyncs the shard's memory-mapped segments: tens of milliseconds on
//! a small node's disk, whatever was written. With a flush per write, the outbox's lanes
//! (sixteen jobs each, two writes per item) queued behind one another on that fsync and
//! documents were indexed at a third of what the embedder does: the CPU sat idle while
//! the bulk backlog stayed full. Grouped, a flush covers every write that arrived while
//! the previous one ran, so the cost is paid per flush, not per item, and the promise is
//! the same: a write returns only once it is on disk (the job is marked done right after,
//! and a done job is never redone).
//!
//! A flush is also many `msync` calls (one per mapped file of every segment), so flushes
//! are at most one per [`FLUSH_GAP`]: under load the writes of that interval share one,
//! and a lone write on a quiet gateway, the last flush long past, goes at once.
//!
//! The thread owns the writing side of the shard (qdrant-edge's flush expects no
//! concurrent writer); searches read the shard beside it. It is fed by a channel and
//! stops when the index is dropped, after what is queued.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use qdrant_edge::{EdgeShard, UpdateOperation};
use tokio::sync::oneshot;

use super::{IndexError, IndexResult};

/// Most writes one flush covers: bounds how long the first of them waits for its answer.
const MAX_GROUP: usize = 256;

/// Shortest time between the starts of two flushes: at most this much is added to a
/// write's latency (an alert is keyword-searchable a tenth of a second later at worst),
/// and a busy shard flushes at most ten times a second. Measured on the death-spiral
/// drain (2 cores): a flush is ~75 msyncs and ~10 ms of CPU; at the 25 a second a busy
/// shard flushed back to back, that was a quarter of a core.
pub const FLUSH_GAP: Duration = Duration::from_millis(100);

/// One caller's writes and where its answer goes.
struct Pending {
    ops: Vec<UpdateOperation>,
    done: oneshot::Sender<IndexResult<()>>,
}

/// Handle to the writer thread; dropping it lets the thread finish the queue and joins it,
/// so the shard can be opened again at once (a restart in the same process).
pub struct GroupCommit {
    tx: Option<mpsc::Sender<Pending>>,
    thread: Option<JoinHandle<()>>,
}

impl GroupCommit {
    pub fn start(shard: Arc<EdgeShard>) -> IndexResult<Self> {
        let (tx, rx) = mpsc::channel::<Pending>();
        let thread = std::thread::Builder::new()
            .name("firebreak-index-writer".into())
            .spawn(move || writer(&shard, &rx))
            .map_err(|e| IndexError::Unavailable(format!("starting the index writer: {e}")))?;
        Ok(GroupCommit { tx: Some(tx), thread: Some(thread) })
    }

    /// Applies `ops` in order and returns once they are flushed with whatever else was
    /// waiting.
    pub async fn write(&self, ops: Vec<UpdateOperation>) -> IndexResult<()> {
        let stopped = || IndexError::Unavailable("the index writer stopped".into());
        let (done, answer) = oneshot::channel();
        self.tx.as_ref().ok_or_else(stopped)?.send(Pending { ops, done }).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn writer(shard: &EdgeShard, rx: &mpsc::Receiver<Pending>) {
    let mut last_flush: Option<Instant> = None;
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        // Until the gap since the last flush has passed, whatever arrives joins this one.
        if let Some(next) = last_flush.map(|t| t + FLUSH_GAP) {
            while group.len() < MAX_GROUP {
                let Some(left) = next.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) else { break };
                match rx.recv_timeout(left) {
                    Ok(p) => group.push(p),
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
        }
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(p) => group.push(p),
                Err(_) => break,
            }
        }
        last_flush = Some(Instant::now());
        // Each caller's writes succeed or fail on their own; the flush is everyone's.
        let applied: Vec<IndexResult<()>> = group.iter_mut().map(|p| apply(shard, std::mem::take(&mut p.ops))).collect();
        // qdrant-edge panics (instead of returning an error) when a flush fails.
        let flushed = std::panic::catch_unwind(AssertUnwindSafe(|| shard.flush())).is_ok();
        for (p, result) in group.into_iter().zip(applied) {
            let result = result.and_then(|()| {
                if flushed { Ok(()) } else { Err(IndexError::Unavailable("flushing the shard failed".into())) }
            });
            let _ = p.done.send(result);
        }
    }
}

fn apply(shard: &EdgeShard, ops: Vec<UpdateOperation>) -> IndexResult<()> {
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        for op in ops {
            shard.update(op).map_err(|e| IndexError::Unavailable(e.to_string()))?;
        }
        Ok(())
    }))
    .unwrap_or_else(|_| Err(IndexError::Unavailable("the shard panicked on a write".into())))
}
