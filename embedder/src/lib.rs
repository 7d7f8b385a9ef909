//! Firebreak's sentence-embedding engine.
//!
//! A candle BERT encoder (all-MiniLM-L6-v2 and the rest of the BERT family) behind a
//! batching queue and a hard CPU budget, usable in-process by the gateway or as its own
//! OpenAI-compatible service (`firebreak-embedder serve`).
//!
//! The path of a text: [`engine::Embedder::embed`] → [`tokenize`] (on the [`budget`]
//! pool) → [`queue`] (priority classes, length grouping, bounded) → the device worker →
//! [`forward`] (chosen by the [`device`] seam) → [`pooling`] → the caller.
//!
//! Beside it, optionally, a small chat model ([`chat`]) on the same CPU budget, whose
//! generation steps wait behind embedding batches ([`gate`]).

pub mod args;
pub mod bench;
pub mod budget;
pub mod chat;
pub mod device;
pub mod engine;
pub mod error;
pub mod forward;
pub mod gate;
pub mod http;
pub mod kernels;
pub mod metrics;
pub mod model_dir;
pub mod pooling;
pub mod process;
pub mod queue;
pub mod tokenize;
pub mod weights;

pub use device::{CpuKernels, DeviceKind, DeviceSpec, Precision};
pub use engine::{EngineConfig, Embedder};
pub use error::EmbedError;
pub use queue::{Embedding, Priority};
