//! The vector index behind its circuit breaker. While it is open every call fails at once
//! with [`IndexError::Unavailable`]: intake never needed the index, the outbox worker
//! defers its jobs (their vectors are back-filled when the index returns), and searches
//! answer 503 at once instead of each waiting out a timeout.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Hit, IndexError, IndexFilter, IndexPoint, IndexResult, Probe, VectorIndex};
use crate::guards::breaker::{Breaker, Open};
use crate::pipeline::store::JobKind;

/// A [`VectorIndex`] wrapped in a [`Breaker`].
pub struct Guarded {
    inner: Arc<dyn VectorIndex>,
    breaker: Breaker,
}

impl Guarded {
    pub fn new(inner: Arc<dyn VectorIndex>, breaker: Breaker) -> Self {
        Guarded { inner, breaker }
    }
}

/// Configuration and data errors are the operator's to fix, not an outage.
fn is_fault(e: &IndexError) -> bool {
    matches!(e, IndexError::Unavailable(_))
}

fn open(o: Open) -> IndexError {
    IndexError::Unavailable(format!("{} circuit breaker open; retry in {:?}", o.dependency, o.retry_after))
}

#[async_trait]
impl VectorIndex for Guarded {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    async fn upsert(&self, points: Vec<IndexPoint>) -> IndexResult<()> {
        self.breaker.call(self.inner.upsert(points), is_fault).await.map_err(open)?
    }

    async fn remove_chunks_from(&self, kind: JobKind, target_id: i64, from_chunk: u32) -> IndexResult<()> {
        self.breaker.call(self.inner.remove_chunks_from(kind, target_id, from_chunk), is_fault).await.map_err(open)?
    }

    async fn replace(&self, points: Vec<IndexPoint>, kind: JobKind, target_id: i64, from_chunk: u32) -> IndexResult<()> {
        self.breaker.call(self.inner.replace(points, kind, target_id, from_chunk), is_fault).await.map_err(open)?
    }

    async fn search(&self, probe: Probe, filter: &IndexFilter, limit: usize) -> IndexResult<Vec<Hit>> {
        self.breaker.call(self.inner.search(probe, filter, limit), is_fault).await.map_err(open)?
    }

    async fn count(&self, filter: &IndexFilter) -> IndexResult<u64> {
        self.breaker.call(self.inner.count(filter), is_fault).await.map_err(open)?
    }

    async fn count_keyword_only(&self) -> IndexResult<u64> {
        self.breaker.call(self.inner.count_keyword_only(), is_fault).await.map_err(open)?
    }
}
