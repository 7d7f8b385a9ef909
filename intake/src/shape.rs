//! Shape limits on request content, checked before anything is stored: nesting depth of
//! any JSON body, alerts per webhook, labels per alert and their sizes.
//!
//! A 4xx to Alertmanager is a dropped notification (it retries 5xx only), so the alert
//! limits sit far above anything a real Alertmanager sends; they exist to stop a hostile
//! or broken sender from making one request cost megabytes of rows and rendering, and
//! each refusal is logged and counted so a misconfigured sender is found at once.

use crate::alertmanager::{KeyValues, Webhook};
use crate::length::chars_over;
use crate::rejection::{Rejection, Status};

/// Content limits (each has a flag and `FIREBREAK_*` variable in the binary).
#[derive(Debug, Clone, Copy)]
pub struct InputLimits {
    /// Deepest nesting of arrays and objects in a JSON body (422 beyond).
    pub max_json_depth: usize,
    /// Alerts in one webhook (413 beyond; set `max_alerts` in Alertmanager's webhook_config).
    pub max_alerts_per_webhook: usize,
    /// Labels, and separately annotations, per alert (422 beyond).
    pub max_labels: usize,
    /// Characters of a label or annotation name (422 beyond).
    pub max_label_name_chars: usize,
    /// Characters of a label or annotation value (422 beyond).
    pub max_label_value_chars: usize,
}

impl Default for InputLimits {
    /// Alertmanager payloads nest 4 deep and Prometheus label sets rarely pass 30 labels;
    /// annotations carry descriptions, so values may be long, but not a novel.
    fn default() -> Self {
        InputLimits {
            max_json_depth: 32,
            max_alerts_per_webhook: 2000,
            max_labels: 128,
            max_label_name_chars: 256,
            max_label_value_chars: 16 * 1024,
        }
    }
}

/// Deepest nesting of `[`/`{` in a JSON text, strings skipped. Runs before the parser, so
/// a body of a million `[` costs one pass and no recursion.
pub fn json_depth(body: &[u8]) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

impl InputLimits {
    /// 422 when `body` nests deeper than allowed.
    pub fn check_depth(&self, body: &[u8]) -> Result<(), Rejection> {
        let depth = json_depth(body);
        if depth > self.max_json_depth {
            return Err(Rejection::new(
                Status::Unprocessable,
                "json_too_deep",
                format!("JSON nests {depth} levels deep; at most {} allowed", self.max_json_depth),
            ));
        }
        Ok(())
    }

    /// Refuses a webhook beyond the alert, label and size limits.
    pub fn check_webhook(&self, hook: &Webhook) -> Result<(), Rejection> {
        if hook.alerts.len() > self.max_alerts_per_webhook {
            return Err(Rejection::new(
                Status::TooLarge,
                "too_many_alerts",
                format!(
                    "{} alerts in one notification; at most {} (set max_alerts in Alertmanager's webhook_config)",
                    hook.alerts.len(),
                    self.max_alerts_per_webhook
                ),
            ));
        }
        for (i, a) in hook.alerts.iter().enumerate() {
            self.check_set(&a.labels, i, "labels")?;
            self.check_set(&a.annotations, i, "annotations")?;
        }
        Ok(())
    }

    fn check_set(&self, set: &KeyValues, alert: usize, what: &str) -> Result<(), Rejection> {
        let refuse = |detail: String| Err(Rejection::invalid("label_limit", detail));
        if set.len() > self.max_labels {
            return refuse(format!("alert {alert}: {} {what}; at most {}", set.len(), self.max_labels));
        }
        for (k, v) in set {
            if let Some(n) = chars_over(k, self.max_label_name_chars) {
                return refuse(format!("alert {alert}: a name in {what} is {n} characters; at most {}", self.max_label_name_chars));
            }
            if let Some(n) = chars_over(v, self.max_label_value_chars) {
                return refuse(format!("alert {alert}: {what}.{k} is {n} characters; at most {}", self.max_label_value_chars));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{json_depth, InputLimits};
    use crate::alertmanager::Webhook;

    fn webhook(name: &str, value: &str) -> Webhook {
        let labels = serde_json::json!({"alertname": "A", name: value});
        serde_json::from_value(serde_json::json!({"status": "firing", "alerts": [{"status": "firing", "labels": labels, "startsAt": "2026-12-08T00:00:00Z", "fingerprint": "f"}]}))
            .unwrap()
    }

    #[test]
    fn label_lengths_are_characters_as_the_document_states() {
        // Names up to 9 characters ("alertname" is one), values up to 6.
        let limits = InputLimits { max_label_name_chars: 9, max_label_value_chars: 6, ..InputLimits::default() };
        // 9 and 6 characters of 3 bytes each: within, though 27 and 18 bytes.
        assert!(limits.check_webhook(&webhook("監視監視監視監視監", "監視監視監視")).is_ok());
        assert!(limits.check_webhook(&webhook("🔥🔥🔥🔥🔥🔥🔥🔥🔥", "a")).is_ok());
        let long_name = limits.check_webhook(&webhook("監視監視監視監視監視", "v")).unwrap_err();
        assert_eq!(long_name.error, "label_limit");
        assert!(long_name.detail.contains("10 characters; at most 9"), "{}", long_name.detail);
        let long_value = limits.check_webhook(&webhook("n", "aaaaaaa")).unwrap_err();
        assert!(long_value.detail.contains("7 characters; at most 6"), "{}", long_value.detail);
    }

    #[test]
    fn depth_counts_nesting_outside_strings_only() {
        assert_eq!(json_depth(br#"{"a": 1}"#), 1);
        assert_eq!(json_depth(br#"{"a": [{"b": []}]}"#), 4);
        assert_eq!(json_depth(br#"{"a": "[[[[{{{{"}"#), 1);
        assert_eq!(json_depth(br#"{"a": "\"[[["}"#), 1);
        assert_eq!(json_depth(b"42"), 0);
        assert_eq!(json_depth(&[b'['; 100_000]), 100_000);
    }
}
