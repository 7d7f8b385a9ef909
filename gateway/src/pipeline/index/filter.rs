//! The search filter, written once. The edge backend takes it as Qdrant's filter JSON
//! (the shape its REST API documents); the server backend builds the same conditions
//! with qdrant-client's builders.

use serde_json::{json, Value};

use crate::pipeline::store::JobKind;
use firebreak_intake::kind::Field;

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
    /// `key` is not `value` (or absent).
    NotKeyword { key: &'static str, value: String },
    /// `key` is `value`.
    Bool { key: &'static str, value: bool },
}

/// The filter as a list of conditions that must all hold.
pub fn conditions(f: &IndexFilter) -> Vec<Cond> {
    let mut c = Vec::new();
    if !f.kinds.is_empty() {
        c.push(Cond::Keyword { key: "kind", values: f.kinds.iter().map(|k| k.as_str().to_owned()).collect() });
    }
    // Text points carry no `field` (they predate it, and most points are text), so only
    // the other fields can be asked for by value; "text" is "none of the others".
    const OTHERS: [Field; 2] = [Field::Cause, Field::Notes];
    if !f.fields.is_empty() {
        if f.fields.contains(&Field::Text) {
            for other in OTHERS.into_iter().filter(|o| !f.fields.contains(o)) {
                c.push(Cond::NotKeyword { key: "field", value: other.as_str().to_owned() });
            }
        } else {
            c.push(Cond::Keyword { key: "field", values: f.fields.iter().map(|f| f.as_str().to_owned()).collect() });
        }
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

/// The points still waiting for their dense vector.
pub fn keyword_only() -> Vec<Cond> {
    vec![Cond::Bool { key: "keyword_only", value: true }]
}

/// Conditions as Qdrant filter JSON (`{"must": [...], "must_not": [...]}`), or `None`
/// when there are none.
pub fn to_qdrant_json(conds: &[Cond]) -> Option<Value> {
    if conds.is_empty() {
        return None;
    }
    let mut must = Vec::new();
    let mut must_not = Vec::new();
    for c in conds {
        match c {
            Cond::Keyword { key, values } if values.len() == 1 => must.push(json!({"key": key, "match": {"value": values[0]}})),
            Cond::Keyword { key, values } => must.push(json!({"key": key, "match": {"any": values}})),
            Cond::Integer { key, value } => must.push(json!({"key": key, "match": {"value": value}})),
            Cond::Bool { key, value } => must.push(json!({"key": key, "match": {"value": value}})),
            Cond::AtLeast { key, value } => must.push(json!({"key": key, "range": {"gte": value}})),
            Cond::NotKeyword { key, value } => must_not.push(json!({"key": key, "match": {"value": value}})),
        }
    }
    let mut f = serde_json::Map::new();
    if !must.is_empty() {
        f.insert("must".into(), Value::Array(must));
    }
    if !must_not.is_empty() {
        f.insert("must_not".into(), Value::Array(must_not));
    }
    Some(Value::Object(f))
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

    #[test]
    fn fields_filter_on_their_value_or_text_on_the_absence_of_the_others() {
        let fields = |f: &[Field]| to_qdrant_json(&conditions(&IndexFilter { fields: f.to_vec(), ..Default::default() }));
        assert_eq!(fields(&[Field::Cause]).unwrap(), json!({"must": [{"key": "field", "match": {"value": "cause"}}]}));
        assert_eq!(fields(&[Field::Cause, Field::Notes]).unwrap(), json!({"must": [{"key": "field", "match": {"any": ["cause", "notes"]}}]}));
        assert_eq!(
            fields(&[Field::Text]).unwrap(),
            json!({"must_not": [{"key": "field", "match": {"value": "cause"}}, {"key": "field", "match": {"value": "notes"}}]})
        );
        assert_eq!(fields(&[Field::Text, Field::Cause]).unwrap(), json!({"must_not": [{"key": "field", "match": {"value": "notes"}}]}));
        assert_eq!(fields(&[Field::Text, Field::Cause, Field::Notes]), None);
        assert_eq!(fields(&[]), None);
    }
}
