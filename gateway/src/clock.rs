//! Time as the store keeps it: epoch milliseconds, identical in Postgres and SQLite.

use chrono::Utc;
pub use firebreak_intake::time::{parse_rfc3339, Millis};

/// Now, in epoch milliseconds.
pub fn now_millis() -> Millis {
    Utc::now().timestamp_millis()
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
