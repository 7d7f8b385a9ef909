//! An alert read as text: the words an SRE would search with, in a stable order, so
//! identical content hashes alike and hits the vector cache. The gateway builds incident
//! texts on top of it (`render.rs`); search queries and storm coalescing use it directly.

use crate::alertmanager::{Alert, KeyValues};

/// Labels that say nothing about the problem and only add noise to a vector.
const NOISE_LABELS: &[&str] = &["alertname", "severity", "namespace", "prometheus", "receive_resolved", "endpoint", "job", "service", "instance"];

/// Name, severity, namespace, the annotations that describe the problem, then the labels
/// that are not noise.
pub fn alert_text(alertname: &str, severity: Option<&str>, namespace: Option<&str>, labels: &KeyValues, annotations: &KeyValues) -> String {
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

fn label<'a>(a: &'a Alert, name: &str) -> Option<&'a str> {
    a.labels.get(name).map(String::as_str)
}

/// An alert as a search query ("have we seen this before?").
pub fn alert_query(a: &Alert) -> String {
    alert_text(label(a, "alertname").unwrap_or("alert"), label(a, "severity"), label(a, "namespace"), &a.labels, &a.annotations)
}

/// An alert as a person reads it: name, severity, namespace and annotations, without the
/// labels that differ from pod to pod. Storm mode coalesces alerts whose gist is identical.
pub fn alert_gist(a: &Alert) -> String {
    alert_text(label(a, "alertname").unwrap_or("alert"), label(a, "severity"), label(a, "namespace"), &KeyValues::new(), &a.annotations)
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
