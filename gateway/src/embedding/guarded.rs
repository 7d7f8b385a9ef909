//! The embedder behind its circuit breaker: the one place every batch passes, so a
//! failing or slow embedder stops being called at all. While the breaker is open, batches
//! are refused at once as [`EmbedFailure::Paused`]: jobs wait in the outbox without using
//! an attempt, and searches go keyword-only instead of waiting on a dead model.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Class, EmbedBackend, EmbedFailure, Vector};
use crate::breaker::Breaker;

/// An [`EmbedBackend`] wrapped in a [`Breaker`].
pub struct Guarded {
    inner: Arc<dyn EmbedBackend>,
    breaker: Breaker,
}

impl Guarded {
    pub fn new(inner: Arc<dyn EmbedBackend>, breaker: Breaker) -> Self {
        Guarded { inner, breaker }
    }
}

/// Only an unreachable or failing embedder is a fault: a bad text is the text's, and a
/// full queue is back-pressure the embedder asked for.
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

    async fn embed(&self, texts: Vec<String>, class: Class) -> Result<Vec<Vector>, EmbedFailure> {
        match self.breaker.call(self.inner.embed(texts, class), is_fault).await {
            Ok(result) => result,
            Err(open) => Err(EmbedFailure::Paused {
                reason: format!("{} circuit breaker open", open.dependency),
                retry_after: open.retry_after,
            }),
        }
    }
}
