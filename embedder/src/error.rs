//! One error type for the whole engine, so that callers (the CLI, the HTTP server, the
//! gateway) can map each failure to a clear message and the right status without parsing
//! strings, and so that no bad input or broken model directory ever becomes a panic.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong between a model directory on disk and a vector.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A model file is missing, unreadable or malformed; the path says which one, because
    /// "failed to load model" is useless at 3 a.m.
    #[error("model file {}: {reason}", path.display())]
    ModelFile { path: PathBuf, reason: String },

    /// The directory holds a model this engine does not implement (not BERT-family, or a
    /// BERT variant with features we do not run). Refused at load, never mis-embedded.
    #[error("unsupported model in {}: {reason}", path.display())]
    Unsupported { path: PathBuf, reason: String },

    /// An empty (or whitespace-only) input has no meaning; a zero vector would silently
    /// match nothing and pollute an index, so it is refused.
    #[error("input {index} is empty")]
    EmptyInput { index: usize },

    /// Inputs above the length limit (in characters, as the API document's `maxLength`
    /// counts) are refused before any work is done: truncation would still have to read
    /// them, and such a text is almost always a mistake upstream.
    #[error("input {index} is {chars} characters; the limit is {limit}")]
    InputTooLarge { index: usize, chars: usize, limit: usize },

    /// The queue is at capacity: the caller should come back after `retry_after`.
    /// This is the backpressure that keeps a flood from becoming unbounded memory.
    #[error("embedding queue is full ({capacity} texts waiting); retry in {retry_after:?}")]
    Overloaded { capacity: usize, retry_after: Duration },

    /// A chat prompt longer than the model's context (or the configured cap): refused,
    /// since cutting a conversation silently would answer another question.
    #[error("the prompt is {tokens} tokens; the chat model's context is {limit} tokens")]
    PromptTooLong { tokens: usize, limit: usize },

    /// The engine is stopping; work still queued is answered with this, never dropped silently.
    #[error("the embedder is shutting down")]
    ShuttingDown,

    /// The tokenizer failed on an input (should not happen for valid UTF-8).
    #[error("tokenizer: {0}")]
    Tokenizer(String),

    /// The forward pass failed (tensor shape or device error): a bug or a device fault.
    #[error("inference failed: {0}")]
    Inference(String),
}

impl EmbedError {
    pub(crate) fn file(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        EmbedError::ModelFile { path: path.into(), reason: reason.to_string() }
    }

    pub(crate) fn unsupported(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        EmbedError::Unsupported { path: path.into(), reason: reason.to_string() }
    }

    /// True when the fault lies with the input, not with the engine: such errors are
    /// answered 4xx and must not trip a circuit breaker upstream.
    pub fn is_input_error(&self) -> bool {
        matches!(self, EmbedError::EmptyInput { .. } | EmbedError::InputTooLarge { .. } | EmbedError::PromptTooLong { .. })
    }
}

impl From<candle_core::Error> for EmbedError {
    fn from(e: candle_core::Error) -> Self {
        EmbedError::Inference(e.to_string())
    }
}

/// Result alias used throughout the crate.
pub type Result<T, E = EmbedError> = std::result::Result<T, E>;
