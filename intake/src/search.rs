//! The search request (`POST /v1/search`) and its checks: a text or an alert to look up,
//! how many results, which kinds, which filters, which ranking.

use serde::{Deserialize, Serialize};

use crate::alert_text::alert_query;
use crate::alertmanager::Alert;
use crate::kind::{Field, JobKind};
use crate::rejection::{Rejection, Status};
use crate::time::{parse_rfc3339_any, Millis};

/// The JSON shape, for error messages.
pub const SHAPE: &str = "{\"query\": string | \"alert\": <Alertmanager alert>, \"k\"?, \"kinds\"?: [\"incident\"|\"document\"], \
                         \"filter\"?: {\"source\"?, \"namespace\"?, \"alertname\"?, \"since\"?}, \"mode\"?: \"hybrid\"|\"dense\"|\"keyword\"}";

/// How to rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Dense and keyword rankings fused by RRF.
    #[default]
    Hybrid,
    Dense,
    Keyword,
}

/// A search: exactly one of `query` or `alert`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    alert: Option<Alert>,
    /// At most `--max-search-k` (the served document states this server's). A whole
    /// number written with a fraction (`10.0`) is that number, as JSON Schema reads it.
    #[serde(default = "default_k", deserialize_with = "crate::number::whole")]
    #[schema(minimum = 1, default = 10)]
    k: usize,
    #[serde(default)]
    kinds: Option<Vec<JobKind>>,
    #[serde(default)]
    filter: FilterIn,
    #[serde(default)]
    mode: Mode,
}

/// Payload filters; `since` is RFC 3339.
#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterIn {
    source: Option<String>,
    namespace: Option<String>,
    alertname: Option<String>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    since: Option<String>,
}

fn default_k() -> usize {
    10
}

/// Limits on one search (each has a flag and `FIREBREAK_*` variable in the binary).
#[derive(Debug, Clone, Copy)]
pub struct SearchLimits {
    /// Most results one search may ask for (422 beyond).
    pub max_k: usize,
    /// Longest query text in characters (413 beyond): a query is a question, not a
    /// document. An alert query's text (its labels and annotations) is held to it too.
    pub max_query_chars: usize,
}

/// Which stored items a search may return; empty or `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchFilter {
    pub kinds: Vec<JobKind>,
    /// Which points: any when empty. Not part of the request; alert-aware search sets it.
    pub fields: Vec<Field>,
    pub source: Option<String>,
    pub namespace: Option<String>,
    pub alertname: Option<String>,
    pub since: Option<Millis>,
}

/// A checked search: the text to look up (an alert already read as text).
#[derive(Debug, Clone)]
pub struct SearchInput {
    pub text: String,
    /// The alert, when the query is one.
    pub alert: Option<Alert>,
    pub k: usize,
    pub filter: SearchFilter,
    pub mode: Mode,
}

impl SearchRequest {
    /// Checks the request and reads an alert query as text.
    pub fn validate(self, limits: SearchLimits) -> Result<SearchInput, Rejection> {
        let (text, alert) = match (self.query, self.alert) {
            (Some(q), None) => (q, None),
            (None, Some(a)) => (alert_query(&a), Some(a)),
            _ => return Err(Rejection::invalid("bad_query", "give exactly one of \"query\" (text) or \"alert\" (an Alertmanager alert)")),
        };
        if crate::blank::is_blank(&text) {
            return Err(Rejection::invalid("empty_query", "the query is empty"));
        }
        if let Some(n) = crate::length::chars_over(&text, limits.max_query_chars) {
            return Err(Rejection::new(
                Status::TooLarge,
                "query_too_large",
                format!("the query is {n} characters; the limit is {}", limits.max_query_chars),
            ));
        }
        if self.k == 0 || self.k > limits.max_k {
            return Err(Rejection::invalid("bad_k", format!("k must be between 1 and {}", limits.max_k)));
        }
        let since = match self.filter.since.as_deref() {
            None => None,
            // Any RFC 3339 time, 1970 or before included (that is: everything).
            Some(s) => Some(parse_rfc3339_any(s).ok_or_else(|| Rejection::invalid("bad_since", format!("since {s:?} is not an RFC 3339 time")))?),
        };
        let filter = SearchFilter {
            kinds: self.kinds.unwrap_or_default(),
            fields: Vec::new(),
            source: self.filter.source,
            namespace: self.filter.namespace,
            alertname: self.filter.alertname,
            since,
        };
        Ok(SearchInput { text, alert, k: self.k, filter, mode: self.mode })
    }
}

#[cfg(test)]
mod tests {
    use super::{SearchLimits, SearchRequest};
    use crate::rejection::Status;

    fn search(query: &str) -> SearchRequest {
        serde_json::from_value(serde_json::json!({"query": query})).unwrap()
    }

    #[test]
    fn the_query_limit_counts_characters_as_the_document_states() {
        let limits = SearchLimits { max_k: 10, max_query_chars: 8 };
        // 8 characters, 24 bytes: within.
        assert!(search("監視監視監視監視").validate(limits).is_ok());
        let r = search("監視監視監視監視監").validate(limits).unwrap_err();
        assert_eq!((r.status, r.error), (Status::TooLarge, "query_too_large"));
        assert!(r.detail.contains("9 characters; the limit is 8"), "{}", r.detail);
    }
}
