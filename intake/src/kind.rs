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

/// Which part of an item a point indexes. Every item has its text (one point per chunk);
/// an incident also has its cause (the description beyond its rule's template) and, once
/// someone wrote down what fixed it, its notes: a point each, that alert queries rank by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    #[default]
    Text,
    Cause,
    Notes,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Text => "text",
            Field::Cause => "cause",
            Field::Notes => "notes",
        }
    }

    /// For `skip_serializing_if`: points written before fields existed are text.
    pub fn is_text(&self) -> bool {
        *self == Field::Text
    }
}
