//! The evaluation set: past incidents, each with the resolution an SRE wrote, and new
//! alerts, each naming the one past incident that has its cause. The format of
//! `../shared/fixtures/incident-dev-set.json`, so users can write one from their own
//! history (an export of resolved incidents and their notes).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use anyhow::{bail, Context};
use serde::Deserialize;

/// One past incident: an alert as Alertmanager sent it, and what fixed it.
#[derive(Debug, Clone, Deserialize)]
pub struct PastIncident {
    /// Unique name of the incident within the set; queries name it in `expect`.
    pub key: String,
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The resolution note, stored as a note on the incident.
    pub resolution: String,
}

/// One new alert and the past incident it should find first.
#[derive(Debug, Clone, Deserialize)]
pub struct EvalQuery {
    pub expect: String,
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// A whole set.
#[derive(Debug, Clone, Deserialize)]
pub struct EvalSet {
    /// Its file's name without `.json`: how reports and the gate table name it.
    #[serde(skip)]
    pub name: String,
    pub past: Vec<PastIncident>,
    pub queries: Vec<EvalQuery>,
}

impl EvalSet {
    /// Reads and checks a set: keys unique, every `expect` a key, every alert named.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut set: EvalSet = serde_json::from_str(&text).with_context(|| format!("{} is not an evaluation set", path.display()))?;
        set.name = path.file_name().map(|n| n.to_string_lossy().trim_end_matches(".json").to_owned()).unwrap_or_default();
        set.check().with_context(|| format!("in {}", path.display()))?;
        Ok(set)
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.past.is_empty() || self.queries.is_empty() {
            bail!("a set needs past incidents and queries");
        }
        let mut keys = HashSet::new();
        for p in &self.past {
            if !keys.insert(p.key.as_str()) {
                bail!("past incident key {:?} appears twice", p.key);
            }
            if !p.labels.contains_key("alertname") {
                bail!("past incident {:?} has no alertname label", p.key);
            }
        }
        for (n, q) in self.queries.iter().enumerate() {
            if !keys.contains(q.expect.as_str()) {
                bail!("query {n} expects {:?}, which is not a past incident", q.expect);
            }
            if !q.labels.contains_key("alertname") {
                bail!("query {n} has no alertname label");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_must_name_a_past_incident() {
        let bad: EvalSet = serde_json::from_value(serde_json::json!({
            "past": [{"key": "a", "labels": {"alertname": "X"}, "resolution": "r"}],
            "queries": [{"expect": "b", "labels": {"alertname": "X"}}]
        }))
        .unwrap();
        assert!(bad.check().unwrap_err().to_string().contains("\"b\""));
    }
}
