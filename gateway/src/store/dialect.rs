//! Where Postgres and SQLite differ, and nowhere else.

use std::path::Path;

/// The database behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

impl Dialect {
    /// Picks the dialect from a connection URL.
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Dialect::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(Dialect::Sqlite)
        } else {
            None
        }
    }

    /// The embedded default: a SQLite file in the data directory, created if missing.
    pub fn sqlite_url(data_dir: &Path) -> String {
        format!("sqlite://{}?mode=rwc", data_dir.join("firebreak.db").display())
    }

    /// The job-claim statement. On Postgres the inner select takes `FOR UPDATE SKIP
    /// LOCKED`, so several gateway replicas share one outbox without double work; SQLite
    /// has one writer at a time, so its single statement is already exclusive.
    /// Both are static strings: nothing is formatted into SQL at run time.
    pub fn claim_jobs_sql(self) -> &'static str {
        macro_rules! claim {
            ($lock:literal) => {
                concat!(
                    "UPDATE embedding_jobs SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 ",
                    "WHERE id IN (SELECT id FROM embedding_jobs ",
                    "WHERE state = 'pending' AND available_at <= $3 ",
                    "AND (lease_until IS NULL OR lease_until < $3) ",
                    "ORDER BY priority, id LIMIT $4 ", $lock, ") ",
                    "RETURNING id, kind, target_id, priority, attempts, lease_until, source"
                )
            };
        }
        match self {
            Dialect::Postgres => claim!("FOR UPDATE SKIP LOCKED"),
            Dialect::Sqlite => claim!(""),
        }
    }

    /// Statements run on every new connection. For SQLite: WAL so readers never block the
    /// writer, FULL sync so a committed write survives power loss (a 2xx means stored),
    /// a busy timeout instead of instant "database is locked", and foreign keys on.
    pub fn connection_setup(self) -> &'static [&'static str] {
        match self {
            Dialect::Postgres => &[],
            Dialect::Sqlite => &[
                "PRAGMA journal_mode = WAL",
                "PRAGMA synchronous = FULL",
                "PRAGMA busy_timeout = 5000",
                "PRAGMA foreign_keys = ON",
            ],
        }
    }
}
