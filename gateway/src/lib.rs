//! Firebreak's gateway: alerts and documents in, stored durably at once, embedded later by
//! a priority scheduler, found again by incident lookup.
//!
//! The path of an item: [`api`] (intake) → [`store`] (row + outbox job, one transaction)
//! → [`indexer`] (claims the job) → [`chunking`] → [`scheduler`] (priority classes,
//! bounded batches) → [`embedding`] (in-process or remote) → [`index`] (qdrant-edge or
//! Qdrant). A query: [`api::search`] → [`search`] (dense + BM25, fused) → [`store`].
//! [`app`] wires the parts together; [`serve`] is the accept loop. The guards that keep
//! the node safe are listed, with their defaults, in `docs/protection.md`.

pub mod admission;
pub mod analysis;
pub mod answer;
pub mod api;
pub mod app;
pub mod auth;
pub mod breaker;
pub mod budget;
pub mod chunking;
pub mod clock;
pub mod data_dir;
pub use firebreak_intake::alertmanager;
pub mod embedding;
pub mod eval;
pub mod hashing;
pub mod index;
pub mod indexer;
pub mod log_throttle;
pub mod pressure;
pub mod render;
pub mod scheduler;
pub mod search;
pub mod self_alerts;
pub mod serve;
pub mod store;
pub mod storm;
