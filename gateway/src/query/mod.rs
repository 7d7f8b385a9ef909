//! The query side: [`search`] ("have we seen this before, and what fixed it?") and what is
//! built on it, [`answer`] (the answer, grounded and cited, generated or extractive), with
//! [`incidents`] (one incident, its notes) and [`status`] (how Firebreak itself is doing).
//! The surfaces — the REST routes, the OpenAI chat adapter, the MCP tools — are thin
//! adapters over these services and never reach the store or the index themselves.

pub mod answer;
pub mod incidents;
pub mod search;
pub mod status;
