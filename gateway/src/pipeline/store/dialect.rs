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

    /// The job-claim statement, for one stage (`$5`: the keyword or the dense lane). On
    /// Postgres the inner select takes `FOR UPDATE SKIP LOCKED`, so several gateway
    /// replicas share one outbox without double work; SQLite has one writer at a time, so
    /// its single statement is already exclusive.
    /// One job per item at a time: a job whose item has another job leased (in either
    /// lane) waits, and of an item's ready jobs only the oldest is claimed — except that
    /// a job waiting for its dense phase never holds back a newer job's keyword phase:
    /// the words of a note added during an embedder outage are findable at once. Two jobs
    /// of one item running at once would race to the index, and the one that read the
    /// item first (before a note, say) could write last. (Two Postgres replicas claiming
    /// in the same instant can still each take one; the next change to the item
    /// re-indexes it.)
    /// Both are static strings: nothing is formatted into SQL at run time.
    pub fn claim_jobs_sql(self) -> &'static str {
        macro_rules! claim {
            ($lock:literal) => {
                concat!(
                    "UPDATE embedding_jobs SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 ",
                    "WHERE id IN (SELECT j.id FROM embedding_jobs j ",
                    "WHERE j.state = 'pending' AND j.stage = $5 AND j.available_at <= $3 ",
                    "AND (j.lease_until IS NULL OR j.lease_until < $3) ",
                    "AND NOT EXISTS (SELECT 1 FROM embedding_jobs o WHERE o.target_id = j.target_id AND o.kind = j.kind ",
                    "AND o.state = 'pending' AND o.id <> j.id AND (o.lease_until >= $3 ",
                    "OR (o.id < j.id AND o.stage <= j.stage AND o.available_at <= $3 ",
                    "AND (o.lease_until IS NULL OR o.lease_until < $3)))) ",
                    "ORDER BY j.priority, j.id LIMIT $4 ", $lock, ") ",
                    "RETURNING id, stage, kind, target_id, priority, attempts, lease_until, source"
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
