//! The Alertmanager webhook payload, version 4, with every field Alertmanager sends, so a
//! stored event is a faithful record and nothing a receiver may want is dropped.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::time::{parse_rfc3339, parse_rfc3339_any, Millis};

/// Label or annotation set. Ordered, so the stored JSON and the hashes are stable.
pub type KeyValues = BTreeMap<String, String>;

/// One webhook notification (a group of alerts).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub group_key: String,
    #[serde(default, deserialize_with = "crate::number::whole")]
    pub truncated_alerts: u64,
    pub status: String,
    #[serde(default)]
    pub receiver: String,
    #[serde(default)]
    pub group_labels: KeyValues,
    #[serde(default)]
    pub common_labels: KeyValues,
    #[serde(default)]
    pub common_annotations: KeyValues,
    #[serde(default, rename = "externalURL")]
    pub external_url: String,
    pub alerts: Vec<Alert>,
}

/// One alert of a notification.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub status: String,
    #[serde(default)]
    pub labels: KeyValues,
    #[serde(default)]
    pub annotations: KeyValues,
    #[serde(default)]
    pub starts_at: String,
    #[serde(default)]
    pub ends_at: String,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    #[serde(default)]
    pub fingerprint: String,
}

/// Why an alert cannot be stored as an occurrence.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AlertError {
    #[error("alert {index}: missing fingerprint")]
    NoFingerprint { index: usize },
    #[error("alert {index}: startsAt {value:?} is not an RFC 3339 time")]
    BadStartsAt { index: usize, value: String },
    #[error("alert {index}: missing alertname label")]
    NoAlertname { index: usize },
    #[error("alert {index}: status {value:?} is neither firing nor resolved")]
    BadStatus { index: usize, value: String },
}

/// An alert checked and reduced to what identifies an occurrence.
#[derive(Debug, Clone)]
pub struct Occurrence<'a> {
    pub alert: &'a Alert,
    pub starts_at: Millis,
    pub ends_at: Option<Millis>,
    pub alertname: &'a str,
    pub resolved: bool,
}

impl Alert {
    /// Validates alert number `index` of its webhook.
    pub fn occurrence(&self, index: usize) -> Result<Occurrence<'_>, AlertError> {
        if crate::blank::is_blank(&self.fingerprint) {
            return Err(AlertError::NoFingerprint { index });
        }
        // Any RFC 3339 time: an old one is odd, not unreadable (the zero time Alertmanager
        // writes for "unset" is only ever an endsAt).
        let starts_at = parse_rfc3339_any(&self.starts_at)
            .ok_or_else(|| AlertError::BadStartsAt { index, value: self.starts_at.clone() })?;
        let alertname = self
            .labels
            .get("alertname")
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(AlertError::NoAlertname { index })?;
        let resolved = match self.status.as_str() {
            "firing" => false,
            "resolved" => true,
            other => return Err(AlertError::BadStatus { index, value: other.into() }),
        };
        Ok(Occurrence { alert: self, starts_at, ends_at: parse_rfc3339(&self.ends_at), alertname, resolved })
    }
}
