//! The `embedder` crate in this process: its own CPU budget (a fixed thread pool) keeps
//! inference off the cores the gateway, the database and the node's other pods need.

use async_trait::async_trait;
use firebreak_embedder::{EmbedError, Embedder, Priority};

use super::{Class, EmbedBackend, EmbedFailure, Vector};

/// An engine started by the gateway.
pub struct InProcess {
    engine: Embedder,
    model: String,
}

impl InProcess {
    pub fn new(engine: Embedder) -> Self {
        let model = engine.model().name.clone();
        InProcess { engine, model }
    }

    pub fn engine(&self) -> &Embedder {
        &self.engine
    }
}

fn priority(c: Class) -> Priority {
    match c {
        Class::Interactive => Priority::Interactive,
        Class::Alert => Priority::Alert,
        Class::Bulk => Priority::Bulk,
    }
}

/// Maps engine errors to what the scheduler acts on.
pub fn failure(e: EmbedError) -> EmbedFailure {
    match e {
        e if e.is_input_error() => EmbedFailure::Input(e.to_string()),
        EmbedError::Overloaded { retry_after, .. } => EmbedFailure::Overloaded { retry_after },
        other => EmbedFailure::Unavailable(other.to_string()),
    }
}

#[async_trait]
impl EmbedBackend for InProcess {
    fn model(&self) -> &str {
        &self.model
    }

    fn dim(&self) -> usize {
        self.engine.model().dim()
    }

    fn describe(&self) -> String {
        format!("in-process {} ({} threads)", self.engine.device_label(), self.engine.cpu_threads())
    }

    async fn embed(&self, texts: Vec<String>, class: Class) -> Result<Vec<Vector>, EmbedFailure> {
        let out = self.engine.embed(texts, priority(class)).await.map_err(failure)?;
        Ok(out.into_iter().map(|e| Vector { values: e.vector, tokens: Some(e.tokens) }).collect())
    }
}
