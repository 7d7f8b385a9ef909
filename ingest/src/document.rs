//! A document as the client sends it (the wire form of `/v1/ingest`'s documents) and the
//! content hash that lets a run skip what the gateway already has.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// One document of an ingest batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Document {
    /// Stable across runs (conversation id, feed item guid, file path): a changed
    /// document replaces its earlier version instead of adding a second one.
    pub id: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub metadata: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl Document {
    /// What identifies this version of the document: title, text and metadata. Two runs
    /// over the same input hash alike, so the second sends nothing.
    pub fn content_hash(&self) -> String {
        let mut h = Sha256::new();
        for part in [self.title.as_deref().unwrap_or(""), &self.text, &Value::Object(self.metadata.clone()).to_string()] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        h.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Bytes this document adds to a request body (for batching under the body limit).
    pub fn wire_bytes(&self) -> usize {
        serde_json::to_vec(self).map(|v| v.len()).unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Document {
        Document { id: "a".into(), text: text.into(), title: None, metadata: Map::new(), updated_at: None }
    }

    #[test]
    fn hash_follows_content_only() {
        assert_eq!(doc("x").content_hash(), doc("x").content_hash());
        assert_ne!(doc("x").content_hash(), doc("y").content_hash());
        let mut titled = doc("x");
        titled.title = Some("x".into());
        assert_ne!(titled.content_hash(), doc("x").content_hash());
        let mut later = doc("x");
        later.updated_at = Some(Utc::now());
        assert_eq!(later.content_hash(), doc("x").content_hash(), "a new timestamp alone is no change");
    }
}
