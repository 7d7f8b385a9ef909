//! A chat question read for search (`POST /v1/chat/completions`): the text of the last
//! user turn and, when someone pasted an Alertmanager alert into it — a webhook payload,
//! one alert's JSON, or its labels as `alertname="…", namespace="…"` — that alert, so the
//! answer is looked up the way `/v1/search {"alert": …}` looks one up (its cause against
//! every incident's, its alertname as evidence).
//!
//! Pure and total: any text gives a question, a text that only looks like an alert is
//! searched as text.

use serde_json::Value;

use crate::alert_text::alert_query;
use crate::alertmanager::{Alert, KeyValues};

/// What to search for.
#[derive(Debug, Clone)]
pub struct Question {
    /// The search text: the alert as `/v1/search` reads one, or the question itself.
    pub text: String,
    pub alert: Option<Alert>,
}

/// Reads a user's message.
pub fn read(message: &str) -> Question {
    if let Some(alert) = pasted_json(message) {
        return Question { text: alert_query(&alert), alert: Some(alert) };
    }
    let labels = pasted_labels(message);
    if labels.contains_key("alertname") {
        let alert = Alert {
            status: "firing".into(),
            labels,
            annotations: KeyValues::new(),
            starts_at: String::new(),
            ends_at: String::new(),
            generator_url: String::new(),
            fingerprint: String::new(),
        };
        return Question { text: message.trim().to_owned(), alert: Some(alert) };
    }
    Question { text: message.trim().to_owned(), alert: None }
}

/// The first alert of a JSON object in the message (a webhook's `alerts[0]`, or an
/// object with `labels`), if it has an `alertname`.
fn pasted_json(message: &str) -> Option<Alert> {
    let start = message.find('{')?;
    let end = message.rfind('}')?;
    let v: Value = serde_json::from_str(message.get(start..=end)?).ok()?;
    let mut alert = match v.get("alerts").and_then(|a| a.get(0)) {
        Some(first) => first.clone(),
        None => v,
    };
    let obj = alert.as_object_mut()?;
    obj.get("labels")?.get("alertname")?.as_str()?;
    obj.entry("status").or_insert_with(|| Value::String("firing".into()));
    serde_json::from_value(alert).ok()
}

/// `key="value"` and `key=value` pairs (Prometheus's and Alertmanager's ways of writing
/// labels), keys being label names.
fn pasted_labels(message: &str) -> KeyValues {
    let mut labels = KeyValues::new();
    let bytes = message.as_bytes();
    let mut i = 0;
    while let Some(off) = message[i..].find('=') {
        let eq = i + off;
        let head = &message[..eq];
        let key_start = head.rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(0, |p| p + head[p..].chars().next().map_or(1, char::len_utf8));
        let key = &message[key_start..eq];
        let rest = &message[eq + 1..];
        let (value, used) = if let Some(quoted) = rest.strip_prefix('"') {
            match quoted.find('"') {
                Some(q) => (&quoted[..q], q + 2),
                None => (quoted, rest.len()),
            }
        } else {
            let n = rest.find(|c: char| c.is_whitespace() || c == ',' || c == '}').unwrap_or(rest.len());
            (&rest[..n], n)
        };
        let valid_key = !key.is_empty() && key.as_bytes()[0].is_ascii_alphabetic() || key.starts_with('_');
        if valid_key && !value.is_empty() && (eq == 0 || bytes[eq - 1] != b'!') {
            labels.insert(key.to_owned(), value.to_owned());
        }
        i = (eq + 1 + used).min(message.len());
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pasted_webhook_or_alert_is_searched_as_an_alert() {
        let hook = r#"why does this keep firing? {"status":"firing","alerts":[{"labels":{"alertname":"KubePodCrashLooping","namespace":"mail"},"annotations":{"description":"postfix restarts"}}]}"#;
        let q = read(hook);
        let a = q.alert.expect("the alert");
        assert_eq!(a.labels["alertname"], "KubePodCrashLooping");
        assert!(q.text.contains("postfix restarts"), "{}", q.text);
        let one = r#"{"labels":{"alertname":"NodeDiskFull"},"annotations":{}}"#;
        assert_eq!(read(one).alert.unwrap().status, "firing");
    }

    #[test]
    fn labels_written_out_name_the_alert_and_plain_text_stays_text() {
        let q = read(r#"have we seen alertname="KubeHpaMaxedOut", namespace="shop" before?"#);
        let a = q.alert.expect("labels");
        assert_eq!((a.labels["alertname"].as_str(), a.labels["namespace"].as_str()), ("KubeHpaMaxedOut", "shop"));
        let q = read("alertname=NodeClockNotSynchronising instance=rpi4");
        assert_eq!(q.alert.unwrap().labels["instance"], "rpi4");
        for text in ["why is the mail server down?", "a == b", "{not json", "x=", "= =", "{\"labels\":{}}", "é=1 ü=\"2"] {
            let q = read(text);
            assert!(q.alert.is_none(), "{text}");
            assert_eq!(q.text, text.trim());
        }
    }
}
