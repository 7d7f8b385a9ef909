//! JSON Lines: one document per line, `{"id","text","title"?,"metadata"?,"updated_at"?}`,
//! the format other tools can write most easily. Blank lines are skipped; other fields
//! are kept in the metadata.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::InputError;
use crate::document::Document;

#[derive(Deserialize)]
struct Line {
    id: Value,
    text: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    metadata: Option<Map<String, Value>>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(flatten)]
    other: Map<String, Value>,
}

pub fn parse(file: &Path, content: &str) -> Vec<Result<Document, InputError>> {
    content
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| line(l).map_err(|d| InputError::new(file, Some(i + 1), d)))
        .collect()
}

fn line(l: &str) -> Result<Document, String> {
    let d: Line = serde_json::from_str(l).map_err(|e| format!("not a document ({{\"id\",\"text\",\"title\"?,\"metadata\"?,\"updated_at\"?}}): {e}"))?;
    let id = match d.id {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        other => return Err(format!("id must be a string or a number, not {other}")),
    };
    if id.trim().is_empty() {
        return Err("empty id".into());
    }
    if d.text.trim().is_empty() {
        return Err(format!("document {id:?}: empty text"));
    }
    let updated_at = match d.updated_at {
        None => None,
        Some(s) => Some(
            DateTime::parse_from_rfc3339(&s)
                .map_err(|_| format!("document {id:?}: updated_at {s:?} is not RFC 3339"))?
                .with_timezone(&Utc),
        ),
    };
    let mut metadata = d.metadata.unwrap_or_default();
    for (k, v) in d.other {
        metadata.entry(k).or_insert(v);
    }
    Ok(Document { id, text: d.text, title: d.title, metadata, updated_at })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_and_bad_lines_are_told_apart_by_line_number() {
        let input = "{\"id\":\"a\",\"text\":\"disk full\"}\n\n{\"id\":7,\"text\":\"x\",\"updated_at\":\"2026-11-01T00:00:00Z\",\"metadata\":{\"k\":1},\"url\":\"u\"}\nnot json\n{\"id\":\"b\",\"text\":\" \"}\n{\"id\":\"c\",\"text\":\"t\",\"updated_at\":\"yesterday\"}\n";
        let out = parse(Path::new("chat.jsonl"), input);
        assert_eq!(out.len(), 5);
        assert_eq!(out[0].as_ref().unwrap().id, "a");
        assert_eq!(out[1].as_ref().unwrap().id, "7");
        assert_eq!(out[1].as_ref().unwrap().metadata["k"], 1);
        assert_eq!(out[1].as_ref().unwrap().metadata["url"], "u", "other fields are kept");
        let errs: Vec<String> = out.iter().filter_map(|r| r.as_ref().err()).map(|e| e.to_string()).collect();
        assert!(errs[0].starts_with("chat.jsonl:4: not a document"), "{errs:?}");
        assert!(errs[1].starts_with("chat.jsonl:5: document \"b\": empty text"), "{errs:?}");
        assert!(errs[2].contains(":6:") && errs[2].contains("not RFC 3339"), "{errs:?}");
    }
}
