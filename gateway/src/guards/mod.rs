//! The guards: what keeps the gateway from burning its node and from losing what it
//! accepted, together, so that what protects the node can be read in one place
//! (`docs/protection.md` gives each one's default, flag, metric and test; 
//! `docs/architecture.md` where each sits on the path of an alert, a document, a query
//! and an answer).
//!
//! In front of every API route, outermost first: [`shed`] (requests in flight), then
//! authentication (`crate::auth`), [`rate`] (per source and route class), [`body`] (read
//! deadline, size, JSON depth). On the way to the model: [`admission`] (bulk backlog,
//! budget and pressure before ingest is accepted), [`budget`] (embeddings and LLM
//! answers per minute), [`pressure`] (the node's PSI), [`storm`] (coalescing an alert
//! storm), [`self_alerts`] (the gateway's own alerts never make it work). Around every
//! dependency: [`breaker`] (applied by the `guarded.rs` decorators of the store, the
//! embedder and the index, and by the answer service's LLM lane).

pub mod admission;
pub mod body;
pub mod breaker;
pub mod budget;
pub mod pressure;
pub mod rate;
pub mod self_alerts;
pub mod shed;
pub mod storm;
