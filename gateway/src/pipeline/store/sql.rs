//! The store on sqlx's `Any` driver: one body of SQL for Postgres and SQLite.
//!
//! Every write transaction starts with a write, so SQLite takes its write lock up front
//! and never fails a lock upgrade half-way; Postgres claims use `FOR UPDATE SKIP LOCKED`
//! (see [`Dialect::claim_jobs_sql`]).

use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use super::{
    Backlog, Dialect, Document, Incident, IncidentQuery, IncidentSummary, Hold, IngestOutcome, IngestRun, OccurrenceHead, Job, JobKind, NewDocument, Note, SqlStore, Stage, StoreError,
    StoreResult, WebhookOutcome, PRIORITY_ALERT, PRIORITY_BULK,
};
use crate::alertmanager::{KeyValues, Webhook};
use crate::clock::Millis;
use crate::pipeline::hashing::content_hash;

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// Connection settings.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub url: String,
    /// Pool size: bounds the database connections (and so the database's load) we hold.
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before the store counts as
    /// unavailable (503), instead of piling up.
    pub acquire_timeout: Duration,
}

impl StoreConfig {
    pub fn new(url: impl Into<String>) -> Self {
        StoreConfig { url: url.into(), max_connections: 8, acquire_timeout: Duration::from_secs(5) }
    }
}

/// Postgres or SQLite through one pool type.
#[derive(Clone)]
pub struct SqlxStore {
    pool: AnyPool,
    dialect: Dialect,
}

fn json_text(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "{}".into())
}

fn parse_json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or(serde_json::Value::Null)
}

impl SqlxStore {
    /// Connects (without migrating).
    pub async fn connect(cfg: &StoreConfig) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::from_url(&cfg.url)
            .ok_or_else(|| StoreError::Invalid(format!("database URL must start with postgres:// or sqlite: ({})", redact(&cfg.url))))?;
        let setup = dialect.connection_setup();
        let pool = AnyPoolOptions::new()
            .max_connections(cfg.max_connections.max(1))
            .acquire_timeout(cfg.acquire_timeout)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    for &stmt in setup {
                        sqlx::query(stmt).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect(&cfg.url)
            .await?;
        Ok(SqlxStore { pool, dialect })
    }

    /// Connects and applies pending migrations (`firebreak serve` and `firebreak migrate`).
    pub async fn open(cfg: &StoreConfig) -> StoreResult<Self> {
        let store = Self::connect(cfg).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the migrations of this store's dialect.
    pub async fn migrate(&self) -> StoreResult<()> {
        let m = match self.dialect {
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
        };
        m.run(&self.pool).await.map_err(|e| StoreError::Database(format!("migration failed: {e}")))
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Ends `owner`'s lease on a job with `sql` (binds: time, error, job id, owner); a
    /// worker that lost its lease changes nothing.
    async fn end_lease(&self, sql: &'static str, at: Millis, error: &str, job_id: i64, owner: &str) -> StoreResult<()> {
        sqlx::query(sql).bind(at).bind(error).bind(job_id).bind(owner).execute(&self.pool).await?;
        Ok(())
    }

    /// The pool, for tests that need to look underneath.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// The URL without its password, for error messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..s], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

const INSERT_JOB: &str = "INSERT INTO embedding_jobs (kind, target_id, priority, available_at, created_at, source) \
                          VALUES ($1, $2, $3, $4, $4, $5)";

/// A new alert of an alertname with little history: re-queue the latest occurrence of
/// each of its few other fingerprints (see [`super::TEMPLATE_FORMING`]), so their cause
/// fields are cut again against a template that now has more to learn from. A recurrence
/// of a known fingerprint, or an alertname with a history, queues nothing; nor does a held
/// alert (a storm must not add work). Held siblings are left alone: their release queues
/// them. A sibling whose job is still waiting gets no second one.
async fn requeue_forming_template(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: i64,
    alertname: &str,
    fingerprint: &str,
    by: &str,
    now: Millis,
) -> StoreResult<()> {
    let probe = 2 * super::TEMPLATE_FORMING;
    let rows = sqlx::query(
        "SELECT id, fingerprint, job_queued FROM incidents WHERE alertname = $1 AND id <> $2 ORDER BY last_seen DESC LIMIT $3",
    )
    .bind(alertname)
    .bind(id)
    .bind(probe as i64)
    .fetch_all(&mut **tx)
    .await?;
    let mut latest: Vec<(String, i64, i64)> = Vec::new();
    for r in &rows {
        let (other, fp, queued): (i64, String, i64) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        if fp == fingerprint {
            return Ok(());
        }
        if !latest.iter().any(|(f, _, _)| *f == fp) {
            latest.push((fp, other, queued));
        }
    }
    if rows.len() >= probe || latest.len() >= super::TEMPLATE_FORMING {
        return Ok(());
    }
    for (_, other, queued) in latest {
        // One waiting job is enough: it will read the template as it is when it runs.
        if queued == 1 {
            sqlx::query(
                "INSERT INTO embedding_jobs (kind, target_id, priority, available_at, created_at, source) \
                 SELECT $1, $2, $3, $4, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM embedding_jobs \
                 WHERE kind = $1 AND target_id = $2 AND state = 'pending' AND lease_owner IS NULL)",
            )
            .bind(JobKind::Incident.as_str())
            .bind(other)
            .bind(PRIORITY_ALERT)
            .bind(now)
            .bind(by)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// The columns of an [`IncidentSummary`]; callers append WHERE/ORDER/LIMIT. A macro so
/// the whole statement stays one static string.
macro_rules! summary_select {
    () => {
        "SELECT i.id, i.fingerprint, i.alertname, i.namespace, i.severity, i.status, i.annotations, \
         i.starts_at, i.last_seen, i.times_notified, i.resolved_at, \
         (SELECT COUNT(*) FROM incident_notes n WHERE n.incident_id = i.id) AS notes FROM incidents i "
    };
}

fn head_from_row(r: &AnyRow) -> StoreResult<OccurrenceHead> {
    Ok(OccurrenceHead {
        id: r.try_get("id")?,
        fingerprint: r.try_get("fingerprint")?,
        alertname: r.try_get("alertname")?,
        namespace: r.try_get("namespace")?,
        severity: r.try_get("severity")?,
        status: r.try_get("status")?,
        starts_at: r.try_get("starts_at")?,
        last_seen: r.try_get("last_seen")?,
        times_notified: r.try_get("times_notified")?,
        resolved_at: r.try_get("resolved_at")?,
    })
}

fn summary_from_row(r: &AnyRow) -> StoreResult<IncidentSummary> {
    let annotations = parse_json(&r.try_get::<String, _>("annotations")?);
    Ok(IncidentSummary {
        head: head_from_row(r)?,
        summary: annotations.get("summary").and_then(|v| v.as_str()).map(str::to_owned),
        notes: r.try_get("notes")?,
    })
}

fn job_from_row(row: &AnyRow) -> StoreResult<Job> {
    Ok(Job {
        id: row.try_get("id")?,
        stage: Stage::from_db(row.try_get("stage")?),
        kind: {
            let kind: String = row.try_get("kind")?;
            JobKind::parse(&kind).ok_or_else(|| StoreError::Database(format!("unknown job kind {kind:?}")))?
        },
        target_id: row.try_get("target_id")?,
        priority: row.try_get("priority")?,
        attempts: row.try_get("attempts")?,
        lease_until: row.try_get("lease_until")?,
        source: row.try_get("source")?,
    })
}

#[async_trait]
impl SqlStore for SqlxStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn record_webhook(&self, by: &str, hook: &Webhook, raw: &str, holds: &[Option<Hold>], now: Millis) -> StoreResult<WebhookOutcome> {
        let occurrences = hook
            .alerts
            .iter()
            .enumerate()
            .map(|(i, a)| a.occurrence(i))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut out = WebhookOutcome { alerts: occurrences.len() as u64, ..Default::default() };
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO alert_events (received_at, receiver, group_key, status, alerts, payload) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(now)
        .bind(&hook.receiver)
        .bind(&hook.group_key)
        .bind(&hook.status)
        .bind(occurrences.len() as i64)
        .bind(raw)
        .execute(&mut *tx)
        .await?;
        for (i, o) in occurrences.iter().enumerate() {
            let a = o.alert;
            let resolved_at = if o.resolved { Some(o.ends_at.unwrap_or(now)) } else { None };
            // A resend updates the occurrence; only its first sighting inserts (and gets a job).
            // A resolved notification releases any hold: the trouble is over, the
            // occurrence may be embedded now.
            let row = sqlx::query(
                "INSERT INTO incidents (fingerprint, starts_at, alertname, namespace, severity, status, labels, \
                 annotations, generator_url, first_seen, last_seen, times_notified, resolved_at, held, job_queued) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, 1, $11, $12, 0) \
                 ON CONFLICT (fingerprint, starts_at) DO UPDATE SET \
                   last_seen = excluded.last_seen, \
                   times_notified = incidents.times_notified + 1, \
                   status = excluded.status, \
                   annotations = excluded.annotations, \
                   resolved_at = COALESCE(excluded.resolved_at, incidents.resolved_at), \
                   held = CASE WHEN excluded.resolved_at IS NOT NULL THEN NULL ELSE incidents.held END \
                 RETURNING id, times_notified, held, job_queued",
            )
            .bind(&a.fingerprint)
            .bind(o.starts_at)
            .bind(o.alertname)
            .bind(a.labels.get("namespace").cloned())
            .bind(a.labels.get("severity").cloned())
            .bind(&a.status)
            .bind(json_text(&a.labels))
            .bind(json_text(&a.annotations))
            .bind((!a.generator_url.is_empty()).then(|| a.generator_url.clone()))
            .bind(now)
            .bind(resolved_at)
            .bind(if o.resolved { None } else { holds.get(i).copied().flatten().map(Hold::as_str) })
            .fetch_one(&mut *tx)
            .await?;
            let id: i64 = row.try_get(0)?;
            let times: i64 = row.try_get(1)?;
            let held: Option<String> = row.try_get(2)?;
            let queued: i64 = row.try_get(3)?;
            if times == 1 {
                out.new += 1;
            } else {
                out.repeated += 1;
            }
            if held.is_some() {
                out.held += 1;
            } else if queued == 0 {
                sqlx::query(INSERT_JOB)
                    .bind(JobKind::Incident.as_str())
                    .bind(id)
                    .bind(PRIORITY_ALERT)
                    .bind(now)
                    .bind(by)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE incidents SET job_queued = 1 WHERE id = $1").bind(id).execute(&mut *tx).await?;
            }
            // Held (a storm, or our own trouble): no extra work until it is released.
            if times == 1 && held.is_none() {
                requeue_forming_template(&mut tx, id, o.alertname, &a.fingerprint, by, now).await?;
            }
            if o.resolved {
                out.resolved += 1;
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn release_held(&self, hold: Hold, now: Millis) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        // Mark first, then queue exactly the rows marked: an occurrence held meanwhile by a
        // concurrent webhook is left for the next release, never marked without a job.
        let rows = sqlx::query("UPDATE incidents SET held = NULL, job_queued = 1 WHERE held = $1 AND job_queued = 0 RETURNING id")
            .bind(hold.as_str())
            .fetch_all(&mut *tx)
            .await?;
        for r in &rows {
            let id: i64 = r.try_get(0)?;
            sqlx::query(INSERT_JOB)
                .bind(JobKind::Incident.as_str())
                .bind(id)
                .bind(PRIORITY_ALERT)
                .bind(now)
                .bind("release")
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    }

    async fn ingest_run(&self, run_id: &str) -> StoreResult<Option<IngestRun>> {
        let row = sqlx::query("SELECT source, started_at, last_seen FROM ingest_runs WHERE run_id = $1")
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => Some(IngestRun { source: r.try_get(0)?, started_at: r.try_get(1)?, last_seen: r.try_get(2)? }),
            None => None,
        })
    }

    async fn ingest(&self, by: &str, source: &str, run_id: &str, docs: &[NewDocument], now: Millis) -> StoreResult<IngestOutcome> {
        let mut out = IngestOutcome::default();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO ingest_runs (run_id, source, started_at, last_seen) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (run_id) DO UPDATE SET last_seen = excluded.last_seen",
        )
        .bind(run_id)
        .bind(source)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for d in docs {
            let metadata = json_text(&d.metadata);
            let title = d.title.as_deref().unwrap_or("");
            let hash = content_hash(&[title, &d.text, &metadata]);
            // Returns a row only when the document is new or its content changed.
            let changed = sqlx::query(
                "INSERT INTO documents (source, external_id, content_hash, title, body, metadata, updated_at, \
                 created_at, stored_at, last_run_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) \
                 ON CONFLICT (source, external_id) DO UPDATE SET \
                   content_hash = excluded.content_hash, title = excluded.title, body = excluded.body, \
                   metadata = excluded.metadata, updated_at = excluded.updated_at, \
                   stored_at = excluded.stored_at, last_run_id = excluded.last_run_id \
                 WHERE documents.content_hash <> excluded.content_hash \
                 RETURNING id",
            )
            .bind(source)
            .bind(&d.external_id)
            .bind(&hash)
            .bind(d.title.clone())
            .bind(&d.text)
            .bind(&metadata)
            .bind(d.updated_at)
            .bind(now)
            .bind(run_id)
            .fetch_optional(&mut *tx)
            .await?;
            match changed {
                Some(row) => {
                    let id: i64 = row.try_get(0)?;
                    sqlx::query(INSERT_JOB)
                        .bind(JobKind::Document.as_str())
                        .bind(id)
                        .bind(PRIORITY_BULK)
                        .bind(now)
                        .bind(by)
                        .execute(&mut *tx)
                        .await?;
                    out.accepted += 1;
                    out.queued += 1;
                }
                None => out.unchanged += 1,
            }
        }
        sqlx::query("UPDATE ingest_runs SET accepted = accepted + $1, unchanged = unchanged + $2 WHERE run_id = $3")
            .bind(out.accepted as i64)
            .bind(out.unchanged as i64)
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn add_note(&self, by: &str, incident_id: i64, author: Option<&str>, text: &str, now: Millis) -> StoreResult<Note> {
        if text.trim().is_empty() {
            return Err(StoreError::Invalid("a note needs text".into()));
        }
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "INSERT INTO incident_notes (incident_id, author, body, created_at) \
             SELECT id, $2, $3, $4 FROM incidents WHERE id = $1 RETURNING id",
        )
        .bind(incident_id)
        .bind(author.map(str::to_owned))
        .bind(text)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("incident {incident_id}")))?;
        let id: i64 = row.try_get(0)?;
        sqlx::query(INSERT_JOB)
            .bind(JobKind::Incident.as_str())
            .bind(incident_id)
            .bind(PRIORITY_ALERT)
            .bind(now)
            .bind(by)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Note { id, author: author.map(str::to_owned), text: text.to_owned(), created_at: now })
    }

    async fn incident(&self, id: i64) -> StoreResult<Option<Incident>> {
        let Some(r) = sqlx::query(
            "SELECT id, fingerprint, alertname, namespace, severity, status, labels, annotations, generator_url, \
             starts_at, first_seen, last_seen, times_notified, resolved_at FROM incidents WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let notes = sqlx::query("SELECT id, author, body, created_at FROM incident_notes WHERE incident_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|n| {
                Ok(Note { id: n.try_get(0)?, author: n.try_get(1)?, text: n.try_get(2)?, created_at: n.try_get(3)? })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(Some(Incident {
            head: head_from_row(&r)?,
            labels: parse_json(&r.try_get::<String, _>("labels")?),
            annotations: parse_json(&r.try_get::<String, _>("annotations")?),
            generator_url: r.try_get("generator_url")?,
            first_seen: r.try_get("first_seen")?,
            notes,
        }))
    }

    async fn document(&self, id: i64) -> StoreResult<Option<Document>> {
        let Some(r) = sqlx::query(
            "SELECT id, source, external_id, title, body, metadata, content_hash, COALESCE(updated_at, created_at) AS time \
             FROM documents WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        Ok(Some(Document {
            id: r.try_get("id")?,
            source: r.try_get("source")?,
            external_id: r.try_get("external_id")?,
            title: r.try_get("title")?,
            text: r.try_get("body")?,
            metadata: parse_json(&r.try_get::<String, _>("metadata")?),
            content_hash: r.try_get("content_hash")?,
            time: r.try_get("time")?,
        }))
    }

    async fn claim_jobs(&self, owner: &str, stage: Stage, limit: usize, lease: Duration, now: Millis) -> StoreResult<Vec<Job>> {
        let until = now + lease.as_millis() as i64;
        let rows = sqlx::query(self.dialect.claim_jobs_sql())
            .bind(owner)
            .bind(until)
            .bind(now)
            .bind(limit as i64)
            .bind(stage as i64)
            .fetch_all(&self.pool)
            .await?;
        let mut jobs = rows.iter().map(job_from_row).collect::<StoreResult<Vec<_>>>()?;
        jobs.sort_by_key(|j| (j.priority, j.id));
        Ok(jobs)
    }

    async fn renew_leases(&self, owner: &str, ids: &[i64], lease: Duration, now: Millis) -> StoreResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        // The ids are integers this process claimed (at most two lanes' slots), written
        // into the statement as numbers: the Any driver binds no arrays, and SQLite has none.
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let sql = format!("UPDATE embedding_jobs SET lease_until = $1 WHERE lease_owner = $2 AND state = 'pending' AND id IN ({list})");
        let r = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now + lease.as_millis() as i64).bind(owner).execute(&self.pool).await?;
        Ok(r.rows_affected())
    }

    async fn reclaim_leases(&self) -> StoreResult<u64> {
        let r = sqlx::query("UPDATE embedding_jobs SET lease_owner = NULL, lease_until = NULL WHERE state = 'pending' AND lease_owner IS NOT NULL")
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    async fn complete_job(&self, job_id: i64, owner: &str, now: Millis) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE embedding_jobs SET state = 'done', done_at = $1, lease_owner = NULL, lease_until = NULL \
             WHERE id = $2 AND lease_owner = $3 AND state = 'pending'",
        )
        .bind(now)
        .bind(job_id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn advance_job(&self, job_id: i64, owner: &str, now: Millis) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let advanced = sqlx::query(
            "UPDATE embedding_jobs SET stage = 1, keywords_at = $1, available_at = $1, attempts = 0, last_error = NULL, \
             lease_owner = NULL, lease_until = NULL WHERE id = $2 AND lease_owner = $3 AND state = 'pending' AND stage = 0 \
             RETURNING kind, target_id",
        )
        .bind(now)
        .bind(job_id)
        .bind(owner)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = advanced else { return Ok(false) };
        let (kind, target): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
        sqlx::query(
            "UPDATE embedding_jobs SET state = 'done', done_at = $1, last_error = 'superseded by a later job of the same item' \
             WHERE kind = $2 AND target_id = $3 AND id < $4 AND state = 'pending' AND stage = 1 \
             AND (lease_until IS NULL OR lease_until < $1)",
        )
        .bind(now)
        .bind(kind)
        .bind(target)
        .bind(job_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn release_job(&self, job_id: i64, owner: &str, error: &str, retry_at: Millis) -> StoreResult<()> {
        self.end_lease(
            "UPDATE embedding_jobs SET available_at = $1, last_error = $2, lease_owner = NULL, lease_until = NULL \
             WHERE id = $3 AND lease_owner = $4 AND state = 'pending'",
            retry_at,
            error,
            job_id,
            owner,
        )
        .await
    }

    async fn defer_job(&self, job_id: i64, owner: &str, reason: &str, retry_at: Millis) -> StoreResult<()> {
        self.end_lease(
            "UPDATE embedding_jobs SET available_at = $1, last_error = $2, lease_owner = NULL, lease_until = NULL, \
             attempts = attempts - 1 WHERE id = $3 AND lease_owner = $4 AND state = 'pending'",
            retry_at,
            reason,
            job_id,
            owner,
        )
        .await
    }

    async fn fail_job(&self, job_id: i64, owner: &str, error: &str, now: Millis) -> StoreResult<()> {
        self.end_lease(
            "UPDATE embedding_jobs SET state = 'failed', done_at = $1, last_error = $2, lease_owner = NULL, \
             lease_until = NULL WHERE id = $3 AND lease_owner = $4 AND state = 'pending'",
            now,
            error,
            job_id,
            owner,
        )
        .await
    }

    async fn list_incidents(&self, q: &IncidentQuery) -> StoreResult<Vec<IncidentSummary>> {
        let rows = sqlx::query(concat!(
            summary_select!(),
            "WHERE ($1 IS NULL OR i.status = $1) AND ($2 IS NULL OR i.alertname = $2) ",
            "AND ($3 IS NULL OR i.namespace = $3) AND ($4 IS NULL OR i.last_seen >= $4) ",
            "AND ($5 IS NULL OR i.id < $5) ORDER BY i.id DESC LIMIT $6"
        ))
        .bind(q.status.clone())
        .bind(q.alertname.clone())
        .bind(q.namespace.clone())
        .bind(q.since)
        .bind(q.before_id)
        .bind(q.limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(summary_from_row).collect()
    }

    async fn occurrences(&self, fingerprint: &str, limit: usize) -> StoreResult<Vec<IncidentSummary>> {
        let rows = sqlx::query(concat!(summary_select!(), "WHERE i.fingerprint = $1 ORDER BY i.starts_at DESC LIMIT $2"))
            .bind(fingerprint)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(summary_from_row).collect()
    }

    async fn alert_siblings(&self, alertname: &str, fingerprint: &str, limit: usize) -> StoreResult<Vec<KeyValues>> {
        // Several occurrences per fingerprint are common (an alert that recurs): read a
        // few times `limit` rows, newest first, and keep one per fingerprint.
        let rows = sqlx::query(
            "SELECT fingerprint, annotations FROM incidents WHERE alertname = $1 AND fingerprint <> $2 \
             ORDER BY last_seen DESC LIMIT $3",
        )
        .bind(alertname)
        .bind(fingerprint)
        .bind((limit * 4) as i64)
        .fetch_all(&self.pool)
        .await?;
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for r in &rows {
            let fp: String = r.try_get(0)?;
            if out.len() < limit && seen.insert(fp) {
                let a: String = r.try_get(1)?;
                out.push(serde_json::from_str(&a).unwrap_or_default());
            }
        }
        Ok(out)
    }

    async fn backlog(&self, now: Millis) -> StoreResult<Backlog> {
        let r = sqlx::query(
            "SELECT \
               COALESCE(SUM(CASE WHEN state = 'pending' AND (lease_until IS NULL OR lease_until < $1) THEN 1 ELSE 0 END), 0), \
               COALESCE(SUM(CASE WHEN state = 'pending' AND lease_until >= $1 THEN 1 ELSE 0 END), 0), \
               COALESCE(SUM(CASE WHEN state = 'done' THEN 1 ELSE 0 END), 0), \
               COALESCE(MIN(CASE WHEN state = 'pending' THEN created_at END), $1), \
               COALESCE(SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END), 0), \
               COALESCE(SUM(CASE WHEN state = 'pending' AND priority = $2 THEN 1 ELSE 0 END), 0), \
               COALESCE(SUM(CASE WHEN state = 'done' AND priority = $2 THEN 1 ELSE 0 END), 0), \
               COALESCE(SUM(CASE WHEN state = 'pending' AND stage = 1 THEN 1 ELSE 0 END), 0), \
               COALESCE(MIN(CASE WHEN state = 'pending' AND stage = 1 THEN keywords_at END), $1) \
             FROM embedding_jobs",
        )
        .bind(now)
        .bind(PRIORITY_BULK)
        .fetch_one(&self.pool)
        .await?;
        let oldest: i64 = r.try_get(3)?;
        Ok(Backlog {
            pending: r.try_get(0)?,
            leased: r.try_get(1)?,
            done: r.try_get(2)?,
            failed: r.try_get(4)?,
            bulk_open: r.try_get(5)?,
            done_bulk: r.try_get(6)?,
            oldest_pending_ms: now - oldest,
            awaiting_dense: r.try_get(7)?,
            oldest_awaiting_dense_ms: now - r.try_get::<i64, _>(8)?,
        })
    }

    async fn cached_vector(&self, model: &str, content_hash: &str) -> StoreResult<Option<Vec<f32>>> {
        let row = sqlx::query("SELECT vector FROM vector_cache WHERE model = $1 AND content_hash = $2")
            .bind(model)
            .bind(content_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|r| r.try_get::<Vec<u8>, _>(0))
            .transpose()?
            .map(|b| b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()))
    }

    async fn cache_vector(&self, model: &str, content_hash: &str, vector: &[f32], now: Millis) -> StoreResult<()> {
        let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
        sqlx::query(
            "INSERT INTO vector_cache (model, content_hash, dim, vector, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (model, content_hash) DO NOTHING",
        )
        .bind(model)
        .bind(content_hash)
        .bind(vector.len() as i64)
        .bind(bytes)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
