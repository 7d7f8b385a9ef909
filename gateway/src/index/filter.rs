//! The search filter, written once. The edge backend takes it as Qdrant's filter JSON
//! (the shape its REST API documents); the server backend builds the same conditions
//! with qdrant-client's builders.

use serde_json::{json, Value};

use crate::store::JobKind;

/// Conditions on the payload; every set field must match. The search request's filter,
/// checked in `firebreak_intake::search`, is the index's filter as it is.
pub use firebreak_intake::search::SearchFilter as IndexFilter;

/// One condition, the common form both backends translate.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// `key` equals one of `values`.
    Keyword { key: &'static str, values: Vec<String> },
    /// `key` equals `value`.
    Integer { key: &'static str, value: i64 },
    /// `key` ≥ `value`.
    AtLeast { key: &'static str, value: i64 },
}

/// The filter as a list of conditions that must all hold.
pub fn conditions(f: &IndexFilter) -> Vec<Cond> {
    let mut c = Vec::new();
    if !f.kinds.is_empty() {
        c.push(Cond::Keyword { key: "kind", values: f.kinds.iter().map(|k| k.as_str().to_owned()).collect() });
    }
    for (key, v) in [("source", &f.source), ("namespace", &f.namespace), ("alertname", &f.alertname)] {
        if let Some(v) = v {
            c.push(Cond::Keyword { key, values: vec![v.clone()] });
        }
    }
    if let Some(since) = f.since {
        c.push(Cond::AtLeast { key: "time", value: since });
    }
    c
}

/// The points of one target from chunk `from` on.
pub fn chunks_from(kind: JobKind, target_id: i64, from: u32) -> Vec<Cond> {
    vec![
        Cond::Keyword { key: "kind", values: vec![kind.as_str().to_owned()] },
        Cond::Integer { key: "target_id", value: target_id },
        Cond::AtLeast { key: "chunk", value: from as i64 },
    ]
}

/// Conditions as Qdrant filter JSON (`{"must": [...]}`), or `None` when there are none.
pub fn to_qdrant_json(conds: &[Cond]) -> Option<Value> {
    if conds.is_empty() {
        return None;
    }
    let must: Vec<Value> = conds
        .iter()
        .map(|c| match c {
            Cond::Keyword { key, values } if values.len() == 1 => json!({"key": key, "match": {"value": values[0]}}),
            Cond::Keyword { key, values } => json!({"key": key, "match": {"any": values}}),
            Cond::Integer { key, value } => json!({"key": key, "match": {"value": value}}),
            Cond::AtLeast { key, value } => json!({"key": key, "range": {"gte": value}}),
        })
        .collect();
    Some(json!({ "must": must }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_filter_is_none() {
        assert_eq!(to_qdrant_json(&conditions(&IndexFilter::default())), None);
    }

    #[test]
    fn fields_become_must_conditions() {
        let f = IndexFilter {
            kinds: vec![JobKind::Incident, JobKind::Document],
            namespace: Some("mail".into()),
            since: Some(5),
            ..Default::default()
        };
        assert_eq!(
            to_qdrant_json(&conditions(&f)).unwrap(),
            json!({"must": [
                {"key": "kind", "match": {"any": ["incident", "document"]}},
                {"key": "namespace", "match": {"value": "mail"}},
                {"key": "time", "range": {"gte": 5}},
            ]})
        );
    }
}
