//! The token table: which bearer token belongs to which source, with which scopes.
//!
//! Format (a Kubernetes Secret mounted as a file, or the `FIREBREAK_TOKENS` variable),
//! one token per line, `#` comments, fields separated by whitespace:
//!
//! ```text
//! # source        scopes                          token
//! alertmanager    alerts:write                    3f9c…
//! chat-ingest     ingest:write                    a71b…
//! sre-agent       search:read,notes:write,embeddings  0c5d…
//! librechat       answers                         9e1a…
//! ```
//!
//! Only SHA-256 digests of the tokens are kept in memory, and a presented token is
//! compared against every digest in constant time, so neither a timing nor a memory dump
//! gives a token away. Tokens are never logged.

use std::collections::BTreeSet;
use std::path::Path;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// `POST /v1/alerts` (Alertmanager).
    AlertsWrite,
    /// `POST /v1/ingest` (the ingest CronJob).
    IngestWrite,
    /// Searching and reading incidents and status.
    SearchRead,
    /// Adding notes to incidents ("what fixed it").
    NotesWrite,
    /// `POST /v1/embeddings`.
    Embeddings,
    /// `POST /v1/chat/completions` and `GET /v1/models`: answers, which may run the LLM.
    Answers,
}

impl Scope {
    pub const ALL: [Scope; 6] = [Scope::AlertsWrite, Scope::IngestWrite, Scope::SearchRead, Scope::NotesWrite, Scope::Embeddings, Scope::Answers];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::AlertsWrite => "alerts:write",
            Scope::IngestWrite => "ingest:write",
            Scope::SearchRead => "search:read",
            Scope::NotesWrite => "notes:write",
            Scope::Embeddings => "embeddings",
            Scope::Answers => "answers",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Who made a request: the source a token names (or `anonymous` on an open loopback
/// server). Every limit is keyed by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub source: String,
    pub scopes: BTreeSet<Scope>,
}

impl Principal {
    /// The identity of requests to a server without tokens (loopback only).
    pub fn anonymous() -> Self {
        Principal { source: "anonymous".into(), scopes: Scope::ALL.into_iter().collect() }
    }

    pub fn may(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

struct Entry {
    digest: [u8; 32],
    principal: Principal,
}

/// The loaded table.
#[derive(Default)]
pub struct Tokens {
    entries: Vec<Entry>,
}

/// Never prints a digest, let alone a token: only who is configured.
impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.entries.iter().map(|e| &e.principal.source)).finish()
    }
}

/// Shortest token accepted: anything shorter can be guessed.
pub const MIN_TOKEN_LEN: usize = 16;

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Tokens {
    /// Parses the table; a bad line is an error naming its number (never its token).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut entries: Vec<Entry> = Vec::new();
        for (n, line) in text.split(['\n', ';']).enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [source, scopes, token] = fields[..] else {
                return Err(format!("token entry {}: expected `source scopes token`", n + 1));
            };
            if token.len() < MIN_TOKEN_LEN {
                return Err(format!("token entry {} ({source}): tokens must be at least {MIN_TOKEN_LEN} characters", n + 1));
            }
            let scopes = scopes
                .split(',')
                .map(|s| Scope::parse(s).ok_or_else(|| format!("token entry {} ({source}): unknown scope {s:?}", n + 1)))
                .collect::<Result<BTreeSet<_>, _>>()?;
            let d = digest(token);
            if entries.iter().any(|e| bool::from(e.digest.ct_eq(&d))) {
                return Err(format!("token entry {} ({source}): the same token is listed twice", n + 1));
            }
            entries.push(Entry { digest: d, principal: Principal { source: source.to_owned(), scopes } });
        }
        Ok(Tokens { entries })
    }

    /// Loads the file at `path`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("tokens file {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("tokens file {}: {e}", path.display()))
    }

    /// Merges another table (file and environment together).
    pub fn extend(&mut self, other: Tokens) {
        self.entries.extend(other.entries);
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The principal of a presented token. Every entry is compared, in constant time.
    pub fn lookup(&self, token: &str) -> Option<&Principal> {
        let d = digest(token);
        let mut found = None;
        for e in &self.entries {
            if bool::from(e.digest.ct_eq(&d)) {
                found = Some(&e.principal);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: &str = "alerts-token-0123456789";
    const T2: &str = "agent-token-abcdefghijk";

    #[test]
    fn parses_lines_and_finds_principals() {
        let t = Tokens::parse(&format!("# comment\nalertmanager alerts:write {T1}\n\nagent search:read,notes:write {T2}")).unwrap();
        assert_eq!(t.len(), 2);
        let p = t.lookup(T1).unwrap();
        assert_eq!(p.source, "alertmanager");
        assert!(p.may(Scope::AlertsWrite) && !p.may(Scope::SearchRead));
        assert!(t.lookup(T2).unwrap().may(Scope::NotesWrite));
        assert!(t.lookup("alerts-token-012345678").is_none());
        // `;` separates entries too (one environment variable).
        assert_eq!(Tokens::parse(&format!("a alerts:write {T1};b embeddings {T2}")).unwrap().len(), 2);
    }

    #[test]
    fn bad_tables_are_refused_without_echoing_tokens() {
        for (table, needle) in [
            ("a alerts:write", "expected"),
            ("a alerts:write short", "at least"),
            (&format!("a alerts:fly {T1}") as &str, "unknown scope"),
            (&format!("a alerts:write {T1}\nb search:read {T1}"), "twice"),
        ] {
            let e = Tokens::parse(table).err().unwrap();
            assert!(e.contains(needle), "{e}");
            assert!(!e.contains(T1), "an error must not echo a token: {e}");
        }
    }
}
