//! What gets embedded for an incident, a document and an alert used as a query: the
//! words an SRE would search with, in a stable order (so identical content hashes alike
//! and hits the vector cache).

use crate::alertmanager::{Alert, KeyValues};
use crate::store::{Document, Incident};

/// Labels that say nothing about the problem and only add noise to a vector.
const NOISE_LABELS: &[&str] = &["alertname", "severity", "namespace", "prometheus", "receive_resolved", "endpoint", "job", "service", "instance"];

fn alert_text(alertname: &str, severity: Option<&str>, namespace: Option<&str>, labels: &KeyValues, annotations: &KeyValues) -> String {
    let mut out = alertname.to_owned();
    if let Some(s) = severity {
        out.push_str(&format!(" ({s})"));
    }
    if let Some(ns) = namespace {
        out.push_str(&format!(" in namespace {ns}"));
    }
    out.push('.');
    for key in ["summary", "message", "description"] {
        if let Some(v) = annotations.get(key).filter(|v| !v.trim().is_empty()) {
            out.push('\n');
            out.push_str(v.trim());
        }
    }
    let rest: Vec<String> =
        labels.iter().filter(|(k, _)| !NOISE_LABELS.contains(&k.as_str())).map(|(k, v)| format!("{k}={v}")).collect();
    if !rest.is_empty() {
        out.push_str("\nLabels: ");
        out.push_str(&rest.join(", "));
    }
    out
}

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

/// An alert as a search query ("have we seen this before?").
pub fn alert_query(a: &Alert) -> String {
    let name = a.labels.get("alertname").map(String::as_str).unwrap_or("alert");
    alert_text(name, a.labels.get("severity").map(String::as_str), a.labels.get("namespace").map(String::as_str), &a.labels, &a.annotations)
}

/// An alert as a person reads it: name, severity, namespace and annotations, without the
/// labels that differ from pod to pod. Storm mode coalesces alerts whose gist is identical.
pub fn alert_gist(a: &Alert) -> String {
    let name = a.labels.get("alertname").map(String::as_str).unwrap_or("alert");
    alert_text(name, a.labels.get("severity").map(String::as_str), a.labels.get("namespace").map(String::as_str), &KeyValues::new(), &a.annotations)
}

/// A document: its title, then its text.
pub fn document(d: &Document) -> String {
    match d.title.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => format!("{t}\n\n{}", d.text),
        None => d.text.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_text_has_name_annotations_and_useful_labels() {
        let mut labels = KeyValues::new();
        labels.insert("alertname".into(), "KubePodCrashLooping".into());
        labels.insert("namespace".into(), "mail".into());
        labels.insert("pod".into(), "postfix-0".into());
        labels.insert("job".into(), "kube-state-metrics".into());
        let mut ann = KeyValues::new();
        ann.insert("summary".into(), "Pod is crash looping.".into());
        let t = alert_text("KubePodCrashLooping", Some("warning"), Some("mail"), &labels, &ann);
        assert_eq!(t, "KubePodCrashLooping (warning) in namespace mail.\nPod is crash looping.\nLabels: pod=postfix-0");
    }
}
