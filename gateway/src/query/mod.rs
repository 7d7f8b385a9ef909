//! The query side: [`search`] ("have we seen this before, and what fixed it?") and what is
//! built on it, [`answer`] (the answer, grounded and cited, generated or extractive). The
//! HTTP routes are thin adapters over these two; neither they nor the answer service
//! reach the store or the index except through the searcher.

pub mod answer;
pub mod search;
