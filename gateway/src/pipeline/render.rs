//! What gets embedded for an incident and a document. An alert's own text comes from
//! [`firebreak_intake::alert_text`], re-exported here so the indexer, search and storm
//! mode read alerts the same way.

pub use firebreak_intake::alert_text::{alert_gist, alert_query, alert_text};

use crate::alertmanager::KeyValues;
use crate::pipeline::store::{Document, Incident};

fn key_values(v: &serde_json::Value) -> KeyValues {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

/// An incident with its notes: the notes are what make a later search answer "what fixed it".
pub fn incident(i: &Incident) -> String {
    let mut out = alert_text(
        &i.head.alertname,
        i.head.severity.as_deref(),
        i.head.namespace.as_deref(),
        &key_values(&i.labels),
        &key_values(&i.annotations),
    );
    if !i.notes.is_empty() {
        out.push_str("\nNotes:");
        for n in &i.notes {
            out.push_str("\n- ");
            out.push_str(n.text.trim());
        }
    }
    out
}

/// A document: its title, then its text.
pub fn document(d: &Document) -> String {
    match d.title.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => format!("{t}\n\n{}", d.text),
        None => d.text.clone(),
    }
}
