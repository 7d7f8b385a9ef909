//! The embedder behind its circuit breaker: the one place every batch passes, so a
//! failing, slow or hung embedder stops being called at all. While the breaker is open,
//! batches are refused at once as [`EmbedFailure::Paused`]: jobs wait in the outbox
//! without using an attempt, and searches go keyword-only instead of waiting on a dead
//! model.
//!
//! Every batch has a deadline that follows the embedder's measured latency
//! ([`crate::guards::breaker::latency`]: p99 × 8 per token, at most `--embedder-timeout-secs`),
//! and a batch still running past the slow-call threshold is a fault the moment it
//! crosses it, so a hung embedder is cut off in seconds, not at a 30 s timeout per call.
//! When the breaker is not closed, a batch first sends its shortest text alone: the probe
//! that decides whether the embedder is back is one tiny call, never 32 long chunks sent
//! to an embedder that may still be struggling.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{Class, EmbedBackend, EmbedFailure, Vector};
use crate::guards::breaker::{Breaker, State};

/// An [`EmbedBackend`] wrapped in a [`Breaker`].
pub struct Guarded {
    inner: Arc<dyn EmbedBackend>,
    breaker: Breaker,
    /// The longest any batch may take, whatever has been measured.
    timeout: Duration,
}

impl Guarded {
    pub fn new(inner: Arc<dyn EmbedBackend>, breaker: Breaker, timeout: Duration) -> Self {
        Guarded { inner, breaker, timeout }
    }

    /// One batch through the breaker, under its adaptive deadline.
    async fn call(&self, texts: Vec<String>, class: Class) -> Result<Vec<Vector>, EmbedFailure> {
        let cost = cost(&texts);
        let timeout = self.breaker.timeout_after(cost, self.timeout);
        let call = async {
            match tokio::time::timeout(timeout, self.inner.embed(texts, class)).await {
                Ok(r) => r,
                Err(_) => {
                    self.breaker.abandoned();
                    Err(EmbedFailure::Unavailable(format!("no answer within {timeout:?} (the embedder's adaptive timeout)")))
                }
            }
        };
        match self.breaker.call_costing(cost, call, is_fault).await {
            Ok(result) => result,
            Err(open) => Err(EmbedFailure::Paused {
                reason: format!("{} circuit breaker open", open.dependency),
                retry_after: open.retry_after,
            }),
        }
    }
}

/// A batch's cost in the latency model: its estimated tokens (~4 bytes each, plus the
/// special tokens), what the embedder's time grows with.
pub fn cost(texts: &[String]) -> f64 {
    texts.iter().map(|t| t.len().div_ceil(4) + 2).sum::<usize>() as f64
}

/// Only an unreachable, failing or hung embedder is a fault: a bad text is the text's,
/// and a full queue is back-pressure the embedder asked for.
fn is_fault(e: &EmbedFailure) -> bool {
    matches!(e, EmbedFailure::Unavailable(_))
}

#[async_trait]
impl EmbedBackend for Guarded {
    fn model(&self) -> &str {
        self.inner.model()
    }

    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn overdue_after(&self, texts: &[String]) -> Option<Duration> {
        self.breaker.slow_after(cost(texts))
    }

    async fn embed(&self, mut texts: Vec<String>, class: Class) -> Result<Vec<Vector>, EmbedFailure> {
        if texts.len() > 1 && self.breaker.state() != State::Closed {
            let shortest = (0..texts.len()).min_by_key(|&i| texts[i].len()).unwrap_or(0);
            let probe = texts.remove(shortest);
            let first = self.call(vec![probe], class).await?;
            let mut rest = self.call(texts, class).await?;
            rest.splice(shortest..shortest, first);
            return Ok(rest);
        }
        self.call(texts, class).await
    }
}
