//! Time as the store keeps it: epoch milliseconds, identical in Postgres and SQLite.

use chrono::DateTime;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// Parses an RFC 3339 timestamp (Alertmanager's format). Alertmanager writes
/// `0001-01-01T00:00:00Z` for "not set", which becomes `None`, as does an empty string.
pub fn parse_rfc3339(s: &str) -> Option<Millis> {
    let t = DateTime::parse_from_rfc3339(s).ok()?;
    let ms = t.timestamp_millis();
    (t.timestamp() > 0).then_some(ms)
}

/// Parses an RFC 3339 time used as a bound (a filter's `since`): any time, 1970 and before
/// included — a bound that early means "everything".
pub fn parse_rfc3339_any(s: &str) -> Option<Millis> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_millis())
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
