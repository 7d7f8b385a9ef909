//! The SQL store's contract, run against real SQLite and real Postgres: durable intake,
//! dedup of Alertmanager resends, idempotent ingest, leased job claims, notes, the vector
//! cache, and atomicity of a rejected webhook.

use crate::common;

use std::time::Duration;

use firebreak_gateway::pipeline::store::{Hold, IncidentQuery, JobKind, NewDocument, SqlStore, SqlxStore, Stage, StoreError};

const T0: i64 = 1_795_420_800_000;

async fn resends_update_one_occurrence_and_queue_one_job(s: SqlxStore) {
    let (hook, raw) = common::webhook("firing", &[("fp1", "KubePodCrashLooping", "pod restarting")]);
    let first = s.record_webhook("alertmanager", &hook, &raw, &[], T0).await.unwrap();
    assert_eq!((first.alerts, first.new, first.repeated), (1, 1, 0));
    for i in 1..10 {
        let again = s.record_webhook("alertmanager", &hook, &raw, &[], T0 + i * 60_000).await.unwrap();
        assert_eq!((again.new, again.repeated), (0, 1));
    }
    let jobs = s.claim_jobs("w", Stage::Keywords, 100, Duration::from_secs(60), T0 + 600_000).await.unwrap();
    assert_eq!(jobs.len(), 1, "ten sends of one occurrence embed it once");
    assert_eq!(jobs[0].kind, JobKind::Incident);
    let inc = s.incident(jobs[0].target_id).await.unwrap().unwrap();
    assert_eq!(inc.head.times_notified, 10);
    assert_eq!((inc.first_seen, inc.head.last_seen), (T0, T0 + 9 * 60_000));
    assert_eq!(inc.head.alertname, "KubePodCrashLooping");
    assert_eq!(inc.head.namespace.as_deref(), Some("cardboard"));

    let (resolved, raw) = common::webhook("resolved", &[("fp1", "KubePodCrashLooping", "pod restarting")]);
    let r = s.record_webhook("alertmanager", &resolved, &raw, &[], T0 + 3_600_000).await.unwrap();
    assert_eq!((r.new, r.repeated, r.resolved), (0, 1, 1));
    let inc = s.incident(inc.head.id).await.unwrap().unwrap();
    assert_eq!(inc.head.status, "resolved");
    // Resolution time is Alertmanager's endsAt (when it resolved), not when we heard of it.
    assert_eq!(inc.head.resolved_at, firebreak_gateway::clock::parse_rfc3339("2026-11-20T11:00:00Z"));
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM alert_events").fetch_one(s.pool()).await.unwrap();
    assert_eq!(events, 11, "every webhook is kept as received");
}

async fn a_bad_alert_rejects_the_whole_webhook_and_stores_nothing(s: SqlxStore) {
    let (mut hook, raw) = common::webhook("firing", &[("fp1", "A", "x"), ("fp2", "B", "y")]);
    hook.alerts[1].fingerprint.clear();
    let err = s.record_webhook("alertmanager", &hook, &raw, &[], T0).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(ref m) if m.contains("alert 1")), "{err}");
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM incidents").fetch_one(s.pool()).await.unwrap();
    assert_eq!(n, 0);
}

fn doc(id: &str, text: &str) -> NewDocument {
    NewDocument {
        external_id: id.into(),
        title: Some(format!("title {id}")),
        text: text.into(),
        metadata: serde_json::json!({"chat": id}),
        updated_at: None,
    }
}

async fn ingest_is_idempotent_by_content(s: SqlxStore) {
    let docs = vec![doc("a", "first text"), doc("b", "second text")];
    let first = s.ingest("ingester", "librechat", "run-1", &docs, T0).await.unwrap();
    assert_eq!((first.accepted, first.unchanged, first.queued), (2, 0, 2));
    let again = s.ingest("ingester", "librechat", "run-2", &docs, T0 + 1).await.unwrap();
    assert_eq!((again.accepted, again.unchanged, again.queued), (0, 2, 0), "a re-run embeds nothing new");
    let changed = s.ingest("ingester", "librechat", "run-3", &[doc("a", "first text, edited")], T0 + 2).await.unwrap();
    assert_eq!((changed.accepted, changed.unchanged), (1, 0));
    // Same id in another source is another document.
    let other = s.ingest("ingester", "rss", "run-4", &[doc("a", "first text")], T0 + 3).await.unwrap();
    assert_eq!(other.accepted, 1);
    // Four jobs for three documents: one per document at a time, "a" edited waits for "a".
    let jobs = s.claim_jobs("w", Stage::Keywords, 100, Duration::from_secs(60), T0 + 10).await.unwrap();
    assert_eq!(jobs.len(), 3);
    assert!(jobs.iter().all(|j| j.kind == JobKind::Document));
    for j in &jobs {
        assert!(s.complete_job(j.id, "w", T0 + 11).await.unwrap());
    }
    assert_eq!(s.claim_jobs("w", Stage::Keywords, 100, Duration::from_secs(60), T0 + 12).await.unwrap().len(), 1);
    let d = s.document(jobs[0].target_id).await.unwrap().unwrap();
    assert_eq!(d.metadata["chat"], "a");
}

async fn leases_hand_each_job_to_one_worker_and_expire(s: SqlxStore) {
    s.ingest("ingester", "src", "run", &[doc("bulk", "bulk text")], T0).await.unwrap();
    let (hook, raw) = common::webhook("firing", &[("fp9", "NodeLoadHigh", "load 153")]);
    s.record_webhook("alertmanager", &hook, &raw, &[], T0 + 1).await.unwrap();
    let lease = Duration::from_secs(30);

    let a = s.claim_jobs("a", Stage::Keywords, 1, lease, T0 + 10).await.unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].kind, JobKind::Incident, "alerts are claimed before bulk");
    assert_eq!(a[0].source, "alertmanager", "a job carries the source its budget is charged to");
    let b = s.claim_jobs("b", Stage::Keywords, 10, lease, T0 + 20).await.unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].kind, JobKind::Document);
    assert!(s.claim_jobs("c", Stage::Keywords, 10, lease, T0 + 30).await.unwrap().is_empty(), "leased jobs are not handed out twice");

    // Worker a dies; after its lease expires, c gets the job, and a's late completion is refused.
    let c = s.claim_jobs("c", Stage::Keywords, 10, lease, T0 + 10 + 30_001).await.unwrap();
    assert_eq!(c.iter().map(|j| j.id).collect::<Vec<_>>(), vec![a[0].id]);
    assert_eq!(c[0].attempts, 2);
    assert!(!s.complete_job(a[0].id, "a", T0 + 40_000).await.unwrap());
    assert!(s.complete_job(c[0].id, "c", T0 + 40_000).await.unwrap());

    // A dead process's leases, ended at start-up (embedded store), are claimable at once.
    let dead = s.claim_jobs("dead", Stage::Keywords, 10, lease, T0 + 10 + 30_002).await.unwrap();
    assert!(dead.is_empty(), "nothing left to claim: b and c hold the jobs");
    assert_eq!(s.reclaim_leases().await.unwrap(), 1, "b's lease ends; c's job is done");
    let again = s.claim_jobs("b", Stage::Keywords, 10, lease, T0 + 40_001).await.unwrap();
    assert_eq!(again.iter().map(|j| j.id).collect::<Vec<_>>(), vec![b[0].id]);
    let b = again;

    // A failed job comes back at its retry time, not before.
    s.release_job(b[0].id, "b", "embedder down", T0 + 100_000).await.unwrap();
    assert!(s.claim_jobs("d", Stage::Keywords, 10, lease, T0 + 99_999).await.unwrap().is_empty());
    let d = s.claim_jobs("d", Stage::Keywords, 10, lease, T0 + 100_000).await.unwrap();
    assert_eq!((d.len(), d[0].attempts, d[0].source.as_str()), (1, 3, "ingester"));
    let backlog = s.backlog(T0 + 100_001).await.unwrap();
    assert_eq!((backlog.pending, backlog.leased, backlog.done), (0, 1, 1));
    assert_eq!((backlog.bulk_open, backlog.done_bulk), (1, 0));

    // Deferred by back-pressure: back at its time, and the attempt is given back.
    s.defer_job(d[0].id, "d", "budget spent", T0 + 200_000).await.unwrap();
    assert!(s.claim_jobs("e", Stage::Keywords, 10, lease, T0 + 199_999).await.unwrap().is_empty());
    let e = s.claim_jobs("e", Stage::Keywords, 10, lease, T0 + 200_000).await.unwrap();
    assert_eq!(e[0].attempts, 3, "waiting is not failing");
    assert!(s.complete_job(e[0].id, "e", T0 + 200_001).await.unwrap());
    assert_eq!(s.backlog(T0 + 200_002).await.unwrap().done_bulk, 1);

    // Ingest runs are recorded with their start.
    let run = s.ingest_run("run").await.unwrap().expect("recorded");
    assert_eq!((run.source.as_str(), run.started_at), ("src", T0));
    assert!(s.ingest_run("never").await.unwrap().is_none());
}

/// A live worker renews the leases of the jobs it is still on: nobody takes them at the old
/// end; once it stops renewing (it died), they are taken at the new end, and the old holder
/// can renew them no more.
async fn renewed_leases_hold_until_their_new_end(s: SqlxStore) {
    s.ingest("ingester", "src", "run", &[doc("slow", "a document that takes its time")], T0).await.unwrap();
    let lease = Duration::from_secs(30);
    let a = s.claim_jobs("a", Stage::Keywords, 10, lease, T0 + 1).await.unwrap();
    let id = a[0].id;
    assert_eq!(s.renew_leases("a", &[id], lease, T0 + 25_000).await.unwrap(), 1);
    assert_eq!(s.renew_leases("a", &[], lease, T0 + 25_000).await.unwrap(), 0);
    assert!(s.claim_jobs("b", Stage::Keywords, 10, lease, T0 + 30_002).await.unwrap().is_empty(), "not taken at the old end");
    assert_eq!(s.renew_leases("b", &[id], lease, T0 + 30_003).await.unwrap(), 0, "only the holder renews");
    assert!(s.claim_jobs("b", Stage::Keywords, 10, lease, T0 + 54_999).await.unwrap().is_empty());
    let b = s.claim_jobs("b", Stage::Keywords, 10, lease, T0 + 55_001).await.unwrap();
    assert_eq!((b.len(), b[0].id, b[0].attempts), (1, id, 2));
    assert_eq!(s.renew_leases("a", &[id], lease, T0 + 55_002).await.unwrap(), 0, "a lease taken over is the new holder's");
    assert!(s.complete_job(id, "b", T0 + 56_000).await.unwrap());
    assert_eq!(s.renew_leases("b", &[id], lease, T0 + 56_001).await.unwrap(), 0, "a job done has no lease");
}

async fn concurrent_claimers_never_share_a_job(s: SqlxStore) {
    let docs: Vec<NewDocument> = (0..60).map(|i| doc(&format!("d{i}"), &format!("text {i}"))).collect();
    s.ingest("ingester", "src", "run", &docs, T0).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..4 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let jobs = s.claim_jobs(&format!("w{w}"), Stage::Keywords, 5, Duration::from_secs(60), T0 + 1).await.unwrap();
                if jobs.is_empty() {
                    return mine;
                }
                mine.extend(jobs.into_iter().map(|j| j.id));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    let before = all.len();
    all.dedup();
    assert_eq!(before, all.len(), "a job was claimed twice");
    assert_eq!(all.len(), 60);
}

async fn notes_are_stored_and_requeue_the_incident(s: SqlxStore) {
    let (hook, raw) = common::webhook("firing", &[("fp2", "PostgresDown", "connection refused")]);
    s.record_webhook("alertmanager", &hook, &raw, &[], T0).await.unwrap();
    let job = s.claim_jobs("w", Stage::Keywords, 10, Duration::from_secs(60), T0).await.unwrap().remove(0);
    assert!(s.complete_job(job.id, "w", T0).await.unwrap());
    let note = s.add_note("sre", job.target_id, Some("sre"), "rotated the password; SQLSTATE 28P01 gone", T0 + 5).await.unwrap();
    let inc = s.incident(job.target_id).await.unwrap().unwrap();
    assert_eq!(inc.notes, vec![note]);
    let again = s.claim_jobs("w", Stage::Keywords, 10, Duration::from_secs(60), T0 + 6).await.unwrap();
    assert_eq!(again.len(), 1, "a note re-embeds its incident");
    assert_eq!(again[0].target_id, job.target_id);
    assert!(matches!(s.add_note("sre", 999_999, None, "x", T0).await, Err(StoreError::NotFound(_))));
    assert!(matches!(s.add_note("sre", job.target_id, None, "  ", T0).await, Err(StoreError::Invalid(_))));
}

async fn held_alerts_are_stored_without_a_job_until_resolved(s: SqlxStore) {
    let (hook, raw) = common::webhook("firing", &[("own", "FirebreakDown", "gateway crash looping"), ("other", "DiskFull", "98%")]);
    let holds = [Some(Hold::SelfAlert), None];
    let out = s.record_webhook("alertmanager", &hook, &raw, &holds, T0).await.unwrap();
    assert_eq!((out.new, out.held), (2, 1));
    let again = s.record_webhook("alertmanager", &hook, &raw, &holds, T0 + 1).await.unwrap();
    assert_eq!((again.repeated, again.held), (2, 1), "a resend stays held and writes no job");
    let jobs = s.claim_jobs("w", Stage::Keywords, 10, Duration::from_secs(60), T0 + 2).await.unwrap();
    assert_eq!(jobs.len(), 1, "only the other alert is embedded while ours fires");
    let listed = s.list_incidents(&IncidentQuery { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(listed.len(), 2, "a held alert is stored and listed");

    // Resolved: the trouble is over, its embedding job is written (once).
    let (hook, raw) = common::webhook("resolved", &[("own", "FirebreakDown", "gateway crash looping")]);
    let out = s.record_webhook("alertmanager", &hook, &raw, &[], T0 + 3).await.unwrap();
    assert_eq!((out.resolved, out.held), (1, 0));
    let jobs = s.claim_jobs("w", Stage::Keywords, 10, Duration::from_secs(60), T0 + 4).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(s.incident(jobs[0].target_id).await.unwrap().unwrap().head.fingerprint, "own");
    s.record_webhook("alertmanager", &hook, &raw, &[], T0 + 5).await.unwrap();
    assert!(s.claim_jobs("w", Stage::Keywords, 10, Duration::from_secs(60), T0 + 6).await.unwrap().is_empty(), "queued once");
}

/// Claims everything claimable and completes it; returns the target ids claimed.
async fn drain(s: &SqlxStore, at: i64) -> Vec<i64> {
    let jobs = s.claim_jobs("w", Stage::Keywords, 100, Duration::from_secs(60), at).await.unwrap();
    for j in &jobs {
        assert!(s.complete_job(j.id, "w", at).await.unwrap());
    }
    let mut ids: Vec<i64> = jobs.iter().map(|j| j.target_id).collect();
    ids.sort();
    ids
}

async fn a_young_alertnames_incidents_are_requeued_while_its_template_forms(s: SqlxStore) {
    let id = |fp: &'static str| {
        let s = s.clone();
        async move { s.list_incidents(&IncidentQuery { limit: 50, ..Default::default() }).await.unwrap().into_iter().find(|i| i.head.fingerprint == fp).unwrap().head.id }
    };
    let send = |fp: &'static str, at: i64| {
        let s = s.clone();
        async move {
            let (hook, raw) = common::webhook("firing", &[(fp, "DiskFull", "disk almost full")]);
            s.record_webhook("alertmanager", &hook, &raw, &[], at).await.unwrap()
        }
    };
    send("a", T0).await;
    assert_eq!(drain(&s, T0).await, vec![id("a").await]);
    // A second fingerprint of the same alertname: its own job, and the first's again.
    send("b", T0 + 1).await;
    let mut want = vec![id("a").await, id("b").await];
    want.sort();
    assert_eq!(drain(&s, T0 + 1).await, want);
    // A resend of a known fingerprint is no new evidence: nothing but its own (none).
    send("b", T0 + 2).await;
    assert!(drain(&s, T0 + 2).await.is_empty());
    // Siblings whose jobs still wait get no second job.
    send("c", T0 + 3).await;
    send("d", T0 + 4).await;
    assert_eq!(drain(&s, T0 + 4).await.len(), 4, "a, b, c, d once each");
    // Four other fingerprints: the template has its history, nothing more is re-queued.
    send("e", T0 + 5).await;
    assert_eq!(drain(&s, T0 + 5).await, vec![id("e").await]);

    // What the template is learnt from: one per other fingerprint, newest first.
    let sib = s.alert_siblings("DiskFull", "e", 3).await.unwrap();
    assert_eq!(sib.len(), 3);
    assert_eq!(sib[0].get("summary").map(String::as_str), Some("disk almost full"));
    assert_eq!(s.alert_siblings("DiskFull", "e", 20).await.unwrap().len(), 4);
    assert!(s.alert_siblings("Other", "e", 20).await.unwrap().is_empty());
}

async fn an_items_jobs_run_one_at_a_time_oldest_first(s: SqlxStore) {
    let (hook, raw) = common::webhook("firing", &[("fp9", "PostgresDown", "connection refused")]);
    s.record_webhook("alertmanager", &hook, &raw, &[], T0).await.unwrap();
    let id = s.list_incidents(&IncidentQuery { limit: 1, ..Default::default() }).await.unwrap()[0].head.id;
    s.add_note("sre", id, None, "first note", T0 + 1).await.unwrap();
    s.add_note("sre", id, None, "second note", T0 + 2).await.unwrap();
    // Three jobs for one incident: one is claimed, the oldest.
    let first = s.claim_jobs("w", Stage::Keywords, 10, Duration::from_secs(60), T0 + 3).await.unwrap();
    assert_eq!(first.len(), 1, "{first:?}");
    // While it is leased, the item's other jobs wait, even for another worker.
    assert!(s.claim_jobs("other", Stage::Keywords, 10, Duration::from_secs(60), T0 + 4).await.unwrap().is_empty());
    assert!(s.complete_job(first[0].id, "w", T0 + 5).await.unwrap());
    let second = s.claim_jobs("other", Stage::Keywords, 10, Duration::from_secs(60), T0 + 6).await.unwrap();
    assert_eq!(second.len(), 1);
    assert!(second[0].id > first[0].id);
    // A lease that ran out frees the item for the next job.
    let third = s.claim_jobs("w", Stage::Keywords, 10, Duration::from_secs(60), T0 + 6 + 61_000).await.unwrap();
    assert_eq!(third.iter().map(|j| j.id).collect::<Vec<_>>(), vec![second[0].id], "the expired one is taken again, oldest first");
}

/// Two-phase jobs: the keyword phase hands the job to the dense lane (attempts afresh,
/// counted as awaiting dense); a newer job's keyword phase is never held back by an older
/// job waiting for its dense phase, and supersedes it when it advances.
async fn jobs_advance_from_keywords_to_dense_and_newer_ones_supersede(s: SqlxStore) {
    let lease = Duration::from_secs(60);
    let (hook, raw) = common::webhook("firing", &[("fp7", "NodeDown", "node unreachable")]);
    s.record_webhook("alertmanager", &hook, &raw, &[], T0).await.unwrap();
    let id = s.list_incidents(&IncidentQuery { limit: 1, ..Default::default() }).await.unwrap()[0].head.id;
    assert!(s.claim_jobs("w", Stage::Dense, 10, lease, T0 + 1).await.unwrap().is_empty(), "nothing is at the dense stage yet");
    let a = s.claim_jobs("w", Stage::Keywords, 10, lease, T0 + 1).await.unwrap().remove(0);
    assert_eq!((a.stage, a.attempts), (Stage::Keywords, 1));
    assert!(!s.advance_job(a.id, "someone-else", T0 + 2).await.unwrap(), "only the lease holder advances it");
    assert!(s.advance_job(a.id, "w", T0 + 2).await.unwrap());
    let b = s.backlog(T0 + 502).await.unwrap();
    assert_eq!((b.pending, b.awaiting_dense, b.oldest_awaiting_dense_ms), (1, 1, 500), "{b:?}");
    let a2 = s.claim_jobs("w", Stage::Dense, 10, lease, T0 + 3).await.unwrap().remove(0);
    assert_eq!((a2.id, a2.stage, a2.attempts), (a.id, Stage::Dense, 1), "the dense phase counts its own attempts");
    // The embedder is away: the dense phase waits (deferred) …
    s.defer_job(a2.id, "w", "embedder paused", T0 + 60_000).await.unwrap();
    // … and a note added meanwhile has its words indexed at once, ahead of it.
    s.add_note("sre", id, None, "rebooted the node", T0 + 4).await.unwrap();
    let b1 = s.claim_jobs("w", Stage::Keywords, 10, lease, T0 + 5).await.unwrap();
    assert_eq!(b1.len(), 1, "{b1:?}");
    assert!(s.advance_job(b1[0].id, "w", T0 + 6).await.unwrap());
    // The older job is superseded: the newer one reads the item later.
    let dense = s.claim_jobs("w", Stage::Dense, 10, lease, T0 + 70_000).await.unwrap();
    assert_eq!(dense.iter().map(|j| j.id).collect::<Vec<_>>(), vec![b1[0].id], "{dense:?}");
    assert!(s.complete_job(b1[0].id, "w", T0 + 70_001).await.unwrap());
    let b = s.backlog(T0 + 70_002).await.unwrap();
    assert_eq!((b.pending, b.awaiting_dense, b.done), (0, 0, 2), "{b:?}");
}

async fn vector_cache_round_trips(s: SqlxStore) {
    assert_eq!(s.cached_vector("m", "h").await.unwrap(), None);
    let v = vec![0.25f32, -1.5, 3.0e-8];
    s.cache_vector("m", "h", &v, T0).await.unwrap();
    s.cache_vector("m", "h", &[9.0], T0).await.unwrap(); // first writer wins
    assert_eq!(s.cached_vector("m", "h").await.unwrap(), Some(v));
    assert_eq!(s.cached_vector("other-model", "h").await.unwrap(), None);
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (store, _dir, _url) = crate::common::sqlite().await;
                    super::$name(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (store, _db) = crate::common::postgres().await;
                    super::$name(store.clone()).await;
                    store.pool().close().await;
                }
            )*
        }
    };
}

on_both_backends!(
    resends_update_one_occurrence_and_queue_one_job,
    a_bad_alert_rejects_the_whole_webhook_and_stores_nothing,
    ingest_is_idempotent_by_content,
    leases_hand_each_job_to_one_worker_and_expire,
    renewed_leases_hold_until_their_new_end,
    concurrent_claimers_never_share_a_job,
    notes_are_stored_and_requeue_the_incident,
    vector_cache_round_trips,
    held_alerts_are_stored_without_a_job_until_resolved,
    a_young_alertnames_incidents_are_requeued_while_its_template_forms,
    an_items_jobs_run_one_at_a_time_oldest_first,
    jobs_advance_from_keywords_to_dense_and_newer_ones_supersede,
);

#[tokio::test]
async fn sqlite_store_survives_reopen() {
    let (store, dir, url) = common::sqlite().await;
    let (hook, raw) = common::webhook("firing", &[("fp1", "A", "x")]);
    store.record_webhook("alertmanager", &hook, &raw, &[], T0).await.unwrap();
    store.pool().close().await;
    drop(store);
    let store = SqlxStore::open(&firebreak_gateway::pipeline::store::sql::StoreConfig::new(&url)).await.unwrap();
    assert_eq!(store.claim_jobs("w", Stage::Keywords, 10, Duration::from_secs(1), T0).await.unwrap().len(), 1);
    drop(dir);
}

/// A writer that holds SQLite's lock past the busy timeout makes intake "unavailable"
/// (503 + Retry-After upstream), not an internal error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_sqlite_database_is_unavailable_not_broken() {
    use sqlx::Connection;
    let (store, dir, _) = common::sqlite().await;
    let path = dir.path().join("firebreak.db");
    let mut blocker = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut blocker).await.unwrap();
    let (hook, raw) = common::webhook("firing", &[("fp1", "A", "x")]);
    let err = store.record_webhook("alertmanager", &hook, &raw, &[], T0).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    // Once the lock is gone the same webhook is stored.
    assert_eq!(store.record_webhook("alertmanager", &hook, &raw, &[], T0).await.unwrap().new, 1);
}
