//! Time as the store keeps it: epoch milliseconds, identical in Postgres and SQLite.

use chrono::{DateTime, Utc};

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// Now, in epoch milliseconds.
pub fn now_millis() -> Millis {
    Utc::now().timestamp_millis()
}

/// Parses an RFC 3339 timestamp (Alertmanager's format). Alertmanager writes
/// `0001-01-01T00:00:00Z` for "not set", which becomes `None`, as does an empty string.
pub fn parse_rfc3339(s: &str) -> Option<Millis> {
    let t = DateTime::parse_from_rfc3339(s).ok()?;
    let ms = t.timestamp_millis();
    (t.timestamp() > 0).then_some(ms)
}

#[cfg(test)]
mod tests {
    use super::parse_rfc3339;

    #[test]
    fn alertmanager_zero_time_is_none() {
        assert_eq!(parse_rfc3339("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339(""), None);
        assert_eq!(parse_rfc3339("2026-11-23T08:00:00.5Z"), Some(1_795_420_800_500));
    }
}

/// Serde helpers: the API shows times as RFC 3339 (what it accepts, and what a person can
/// read in a terminal); the store keeps epoch milliseconds.
pub mod rfc3339 {
    use chrono::{DateTime, SecondsFormat};
    use serde::Serializer;

    use super::Millis;

    fn text(ms: Millis) -> String {
        DateTime::from_timestamp_millis(ms).map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true)).unwrap_or_default()
    }

    pub fn serialize<S: Serializer>(ms: &Millis, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&text(*ms))
    }

    /// For `Option<Millis>`: `null` when unset.
    pub mod option {
        use serde::Serializer;

        use super::super::Millis;

        pub fn serialize<S: Serializer>(ms: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
            match ms {
                Some(ms) => s.serialize_str(&super::text(*ms)),
                None => s.serialize_none(),
            }
        }
    }
}
