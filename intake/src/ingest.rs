//! The ingest batch (`POST /v1/ingest`) the CronJob client sends, and its checks: what
//! passes here is a set of documents the store can take as they are.

use serde::Deserialize;

use crate::blank::is_blank;
use crate::rejection::{Rejection, Status};
use crate::time::{parse_rfc3339_any, Millis};

/// The JSON shape, for error messages.
pub const SHAPE: &str = "{\"source\", \"run_id\", \"documents\": [{\"id\", \"text\", \"title\"?, \"metadata\"?, \"updated_at\"?}]}";

/// The collection (`source`) a request body names, read without building the request:
/// for the log line about a batch refused before it is parsed, so the line can name the
/// collection beside the caller. `None` when the body is not JSON or names none.
pub fn peek_source(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Peek {
        source: Option<String>,
    }
    serde_json::from_slice::<Peek>(body).ok()?.source
}

/// A batch of documents from the ingest client.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct IngestRequest {
    #[schema(pattern = r"\S")]
    source: String,
    #[schema(pattern = r"\S")]
    run_id: String,
    /// At most `--max-documents-per-ingest` (the served document states this server's);
    /// none at all is a run marking its progress.
    documents: Vec<DocumentIn>,
}

/// One document; `updated_at` is RFC 3339.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DocumentIn {
    #[schema(pattern = r"\S")]
    id: String,
    #[schema(pattern = r"\S")]
    text: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Value>,
    /// RFC 3339; empty or absent: unknown.
    #[serde(default)]
    #[schema(format = DateTime)]
    updated_at: Option<String>,
}

/// A document as the store takes it.
#[derive(Debug, Clone)]
pub struct NewDocument {
    pub external_id: String,
    pub title: Option<String>,
    pub text: String,
    /// JSON object, stored as given.
    pub metadata: serde_json::Value,
    pub updated_at: Option<Millis>,
}

/// A checked batch.
#[derive(Debug, Clone)]
pub struct IngestBatch {
    pub source: String,
    pub run_id: String,
    pub documents: Vec<NewDocument>,
}

fn invalid(detail: String) -> Rejection {
    Rejection::invalid("invalid_document", detail)
}

impl IngestRequest {
    /// Checks the batch: non-empty `source` and `run_id`, at most `max_documents` (413:
    /// the client splits), and for each document an id, a text, an object as metadata and
    /// an RFC 3339 `updated_at`. One bad document refuses the batch with its index, so the
    /// client can say which one.
    pub fn validate(self, max_documents: usize) -> Result<IngestBatch, Rejection> {
        if is_blank(&self.source) || is_blank(&self.run_id) {
            return Err(invalid("source and run_id must not be empty".into()));
        }
        if self.documents.len() > max_documents {
            return Err(Rejection::new(
                Status::TooLarge,
                "too_many_documents",
                format!("{} documents; send at most {max_documents} per call", self.documents.len()),
            ));
        }
        let documents = self.documents.into_iter().enumerate().map(|(i, d)| d.validate(i)).collect::<Result<_, _>>()?;
        Ok(IngestBatch { source: self.source, run_id: self.run_id, documents })
    }
}

impl DocumentIn {
    fn validate(self, i: usize) -> Result<NewDocument, Rejection> {
        if is_blank(&self.id) {
            return Err(invalid(format!("document {i}: empty id")));
        }
        if is_blank(&self.text) {
            return Err(invalid(format!("document {i} ({}): empty text", self.id)));
        }
        let metadata = self.metadata.unwrap_or_else(|| serde_json::json!({}));
        if !metadata.is_object() {
            return Err(invalid(format!("document {i} ({}): metadata must be a JSON object", self.id)));
        }
        let updated_at = match self.updated_at.as_deref() {
            // Empty, as Alertmanager writes an unset time: not given.
            None | Some("") => None,
            Some(s) => {
                Some(parse_rfc3339_any(s).ok_or_else(|| invalid(format!("document {i} ({}): updated_at {s:?} is not RFC 3339", self.id)))?)
            }
        };
        Ok(NewDocument { external_id: self.id, title: self.title, text: self.text, metadata, updated_at })
    }
}

#[cfg(test)]
mod tests {
    use super::peek_source;

    #[test]
    fn the_collection_is_read_from_a_body_without_building_it() {
        assert_eq!(peek_source(br#"{"run_id": "r", "documents": [{"id": 1}], "source": "wiki"}"#).as_deref(), Some("wiki"));
        assert_eq!(peek_source(br#"{"run_id": "r"}"#), None);
        assert_eq!(peek_source(b"{ nope"), None);
    }
}
