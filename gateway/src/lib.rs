//! Firebreak's gateway: alerts and documents in, stored durably at once, embedded later by
//! a priority scheduler, found again by incident lookup and answered from.
//!
//! The tree is the architecture:
//! - [`pipeline`]: the path of an item. [`api`] (intake) → [`pipeline::store`] (row +
//!   outbox job, one transaction) → [`pipeline::indexer`] (claims the job) →
//!   [`pipeline::chunking`] → [`pipeline::scheduler`] (priority classes, bounded batches)
//!   → [`pipeline::embedding`] (in-process or remote) → [`pipeline::index`] (qdrant-edge
//!   or Qdrant).
//! - [`query`]: the query side. [`query::search`] (dense + BM25, alert-aware, fused) and
//!   what is built on it, [`query::answer`] (the answer service the chat route adapts).
//!   Surfaces ([`api::search`], [`api::chat`]) are thin adapters over them and never reach
//!   the store or the index themselves.
//! - [`guards`]: everything that keeps the node safe and nothing lost, together: request
//!   shedding, rates and body limits, budgets, admission, breakers, the pressure guard,
//!   storm mode, self-alert suppression (their defaults: `docs/protection.md`).
//!
//! Beside them: [`auth`] (who is asking: every limit is keyed by it), [`analysis`] (how an
//! alert is read, shared by indexing and search), [`eval`] (`firebreak eval`), [`app`]
//! (the wiring) and [`serve`] (the accept loop).

pub mod analysis;
pub mod api;
pub mod app;
pub mod auth;
pub mod clock;
pub mod data_dir;
pub use firebreak_intake::alertmanager;
pub mod eval;
pub mod guards;
pub mod log_throttle;
pub mod pipeline;
pub mod query;
pub mod serve;
