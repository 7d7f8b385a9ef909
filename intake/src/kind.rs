//! The two kinds of stored item, each with its embedding job and its points in the index.
//! Searches name them to narrow results, so the wire form lives here with the other
//! payloads.

use serde::{Deserialize, Serialize};

/// What an embedding job embeds, and what a search result is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Incident,
    Document,
}

impl JobKind {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Incident => "incident",
            JobKind::Document => "document",
        }
    }

    /// The inverse of [`JobKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "incident" => Some(JobKind::Incident),
            "document" => Some(JobKind::Document),
            _ => None,
        }
    }
}
