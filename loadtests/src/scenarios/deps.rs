//! Scenario 4, the dependency drills: the gateway as it runs in a cluster (PostgreSQL for
//! incidents and the outbox, `firebreak-embedder serve` as its remote embedder) under an
//! alert storm, a bulk ingest and searches, while
//!
//! 1. PostgreSQL is stopped (`pg_ctl stop -m fast`, as in a failover) and started again;
//! 2. the embedder hangs (SIGSTOP: it keeps its socket and accepts connections but never
//!    answers, the worst kind of dead) and then wakes up (SIGCONT).
//!
//! Both are real faults of real processes; nothing is simulated. While the database is down
//! no request may be answered 2xx (a 2xx means stored): alerts get 503 and Alertmanager
//! retries; the ingest CronJob, started into the outage, waits on Retry-After; searches
//! answer from the index alone, marked degraded. While the
//! embedder hangs, alerts are still accepted and stored, searches go
//! keyword-only, and the embedder's breaker opens instead of stacking timeouts. After each
//! fault the report gives the recovery time, and at the end nothing may be lost or doubled.
//!
//! The drill tightens the embedder deadline and the breaker pauses
//! ([`DRILL_ARGS`]) so the whole cycle fits in a minute; the defaults differ in time scale
//! only (docs/loadtests.md).

use serde_json::json;
use tokio::time::Instant;

use super::harness::{self, Holdings, Sampling, Setup, IO_ALLOWANCE};
use super::Options;
use crate::latency::Percentiles;
use crate::postgres::Cluster;
use crate::report::{Cpu, Invariant, Run};
use crate::sampler::Sample;
use crate::server::Server;
use crate::traffic::{alerts, bulk, searches, Call};
use crate::verify::Reader;

/// Deadlines shortened for the drill: a remote embedding call gives up after 2 s, and an
/// open breaker probes again after 1 s, doubling to 4 s.
pub const DRILL_ARGS: &[&str] = &["--embedder-timeout-secs", "2", "--breaker-open-ms", "1000", "--breaker-open-max-ms", "4000"];

/// A fault must be over, and service back, within this many seconds of the dependency's return.
pub const MAX_RECOVERY_S: f64 = 30.0;

/// When each fault starts and ends, as fractions of `--duration`.
const PG_DOWN: (f64, f64) = (0.15, 0.35);
const EMBEDDER_HUNG: (f64, f64) = (0.45, 0.75);

/// Seconds from `back` until the first alert webhook answered 2xx after it.
fn first_accept_after(calls: &[Call], back: f64) -> Option<f64> {
    calls.iter().filter(|c| (200..300).contains(&c.status)).map(|c| c.t + c.ms / 1000.0 - back).filter(|d| *d >= 0.0).reduce(f64::min)
}

/// Calls sent after `from` and answered before `to` with a 2xx.
fn accepted_within(calls: &[Call], from: f64, to: f64) -> usize {
    calls.iter().filter(|c| (200..300).contains(&c.status) && c.t >= from && c.t + c.ms / 1000.0 <= to).count()
}

/// The longest time, from `from` on, that the outbox had open jobs and none got done:
/// a job stuck on a lease shows here as minutes.
fn longest_stall(samples: &[Sample], from: f64) -> f64 {
    let mut worst = 0.0f64;
    // When a job was last seen done (or nothing was open), and the done count then.
    let mut progress: Option<(f64, i64)> = None;
    for s in samples.iter().filter(|s| s.t >= from) {
        let (Some(open), Some(done)) = (s.outbox_open, s.outbox_done) else { continue };
        match progress {
            Some((since, before)) if open > 0 && done <= before => worst = worst.max(s.t - since),
            _ => progress = Some((s.t, done)),
        }
    }
    worst
}

/// When the `dependency` breaker was first seen open in `[from, to)`; and when, after `to`,
/// it was seen closed with the embedding counter moving again.
fn breaker_cycle(samples: &[Sample], dependency: &str, from: f64, to: f64) -> (Option<f64>, Option<f64>) {
    let open = |s: &Sample| s.breakers_open.as_ref().is_some_and(|b| b.iter().any(|d| d == dependency));
    let opened = samples.iter().find(|s| s.t >= from && s.t < to && open(s)).map(|s| s.t);
    let embedded_at_return = samples.iter().filter(|s| s.t <= to).filter_map(|s| s.embedded_texts).fold(0.0, f64::max);
    let recovered = samples
        .iter()
        .find(|s| s.t > to && s.breakers_open.is_some() && !open(s) && s.embedded_texts.is_some_and(|e| e > embedded_at_return))
        .map(|s| s.t);
    (opened, recovered)
}

pub async fn run(o: &Options) -> anyhow::Result<Run> {
    let setup = Setup::new()?;
    let tokens = &setup.tokens;
    let cap = setup.capacity(o, o.cpu_threads).await?.texts_per_s;
    let secs = o.duration.as_secs_f64();
    // The embedder is away for a third of the run: a bulk it can do in half of it.
    let bulk_documents = (0.5 * cap * secs).round().max(100.0) as usize;
    let export = bulk::export(&setup.dir.path().join("export"), bulk_documents)?;

    let mut pg = Cluster::init(crate::postgres::find_bin(o.pg_bin.as_deref())?)?;
    pg.start()?;
    let embedder = Server::embedder(&o.embedder, &o.model, o.cpu_threads)?;
    let args: Vec<String> = [
        "--database-url".to_string(),
        pg.url(),
        "--embedder-url".into(),
        embedder.url.clone(),
        "--tokenizer".into(),
        o.model.join("tokenizer.json").display().to_string(),
    ]
    .into_iter()
    .chain(DRILL_ARGS.iter().map(|s| s.to_string()))
    .collect();
    let launch = setup.launch(o, &args);
    let server = Server::start(&launch)?;
    let started = Instant::now();
    let sampling = Sampling::start(&server, &tokens.monitor, started);
    tracing::info!(capacity_texts_per_s = cap, bulk_documents, database = %pg.url(), embedder = %embedder.url, "dependency drills");

    let storm = tokio::spawn(alerts::run(harness::storm(o, &server.url, &tokens.alertmanager), started));
    let people = tokio::spawn(searches::run(
        searches::Searches { url: server.url.clone(), token: tokens.sre.clone(), per_second: o.searches_per_second, duration: o.duration },
        started,
    ));

    let at = |f: f64| started + o.duration.mul_f64(f);
    let now = || started.elapsed().as_secs_f64();
    tokio::time::sleep_until(at(PG_DOWN.0)).await;
    tokio::task::block_in_place(|| pg.stop())?;
    let pg_stopped = now();
    tracing::warn!(at_s = pg_stopped, "PostgreSQL stopped");
    // The CronJob starts into the outage: it must wait it out on 503 + Retry-After.
    let ingest = tokio::spawn(bulk::send(server.url.clone(), tokens.cronjob.clone(), export, o.duration + o.drain_timeout));
    tokio::time::sleep_until(at(PG_DOWN.1)).await;
    let pg_starting = now();
    tokio::task::block_in_place(|| pg.start())?;
    tracing::info!(at_s = now(), "PostgreSQL started again");

    tokio::time::sleep_until(at(EMBEDDER_HUNG.0)).await;
    embedder.signal("STOP")?;
    let frozen = now();
    tracing::warn!(at_s = frozen, "embedder hung (SIGSTOP)");
    tokio::time::sleep_until(at(EMBEDDER_HUNG.1)).await;
    embedder.signal("CONT")?;
    let thawed = now();
    tracing::info!(at_s = thawed, "embedder awake (SIGCONT)");

    let storm = storm.await?;
    let people = people.await?;
    let ingest = ingest.await??;
    let reader = Reader::new(&server.url, &tokens.monitor);
    let held = Holdings::read(&reader, started, o.drain_timeout).await?;
    let samples = sampling.finish().await?;
    server.stop()?;
    embedder.stop()?;
    drop(pg);

    let c = &ingest.counts;
    let db_back = first_accept_after(&storm.calls, pg_starting);
    let false_acks = accepted_within(&storm.calls, pg_stopped, pg_starting);
    let refused_while_down = storm.calls.iter().filter(|c| c.t >= pg_stopped && c.t < pg_starting && c.status == 503).count();
    let (embedder_opened, embedder_back) = breaker_cycle(&samples, "embedder", frozen, thawed);
    let down_searches: Vec<&Call> = people.calls.iter().filter(|c| c.t >= pg_stopped && c.t < pg_starting).collect();
    let down_answered = down_searches.iter().filter(|c| c.status == 200).count();
    let hung_searches: Vec<&Call> = people.calls.iter().filter(|c| c.t >= frozen && c.t < thawed).collect();
    let hung_answered = hung_searches.iter().filter(|c| c.status == 200).count();
    let hung_ms: Vec<f64> = hung_searches.iter().filter(|c| c.status == 200).map(|c| c.ms).collect();
    let hung_alerts = accepted_within(&storm.calls, frozen, thawed);
    let budget = o.cpu_threads as f64 + IO_ALLOWANCE;
    let cpu = Cpu::of(&samples, budget);
    let max_rss = samples.iter().filter_map(|s| s.rss_mib).fold(0.0, f64::max);
    // A job whose outcome could not be written during the outage must not wait out its
    // lease (minutes) while the rest drains.
    let stall = longest_stall(&samples, thawed);
    let secs_or_never = |v: Option<f64>| v.map_or("never".to_owned(), |s| format!("{s:.1} s"));
    let mut invariants = vec![
        Invariant::check(
            "no 2xx while the database is down",
            false_acks == 0 && refused_while_down > 0,
            format!("stopped {pg_stopped:.1}–{pg_starting:.1} s: {refused_while_down} webhook attempts answered 503, {false_acks} answered 2xx"),
        ),
        Invariant::check(
            "alerts accepted again once the database is back",
            db_back.is_some_and(|s| s <= MAX_RECOVERY_S),
            format!("first 2xx {} after the start (limit {MAX_RECOVERY_S} s)", secs_or_never(db_back)),
        ),
        Invariant::check(
            "searches answer while the database is down",
            !down_searches.is_empty() && down_answered == down_searches.len(),
            format!("{down_answered} of {} answered (from the index alone, marked degraded)", down_searches.len()),
        ),
        Invariant::check(
            "alerts accepted while the embedder hangs",
            hung_alerts > 0,
            format!("hung {frozen:.1}–{thawed:.1} s: {hung_alerts} webhooks accepted meanwhile"),
        ),
        Invariant::check(
            "searches answer while the embedder hangs",
            !hung_searches.is_empty() && hung_answered == hung_searches.len(),
            format!(
                "{} of {} answered, p99 {:.0} ms ({} keyword-only in the whole run)",
                hung_answered,
                hung_searches.len(),
                Percentiles::of(&hung_ms).p99_ms,
                people.degraded
            ),
        ),
        Invariant::check(
            "the embedder's breaker opens, then closes when it is back",
            embedder_opened.is_some() && embedder_back.is_some_and(|t| t - thawed <= MAX_RECOVERY_S),
            format!(
                "open at {} ({} after the hang began), embedding again {} after the wake-up",
                secs_or_never(embedder_opened),
                secs_or_never(embedder_opened.map(|t| t - frozen)),
                secs_or_never(embedder_back.map(|t| t - thawed))
            ),
        ),
        Invariant::check("no alert lost", storm.lost == 0, format!("{} webhooks, {} accepted, {} lost, {} attempts retried", storm.webhooks, storm.accepted, storm.lost, storm.retried)),
        Invariant::check(
            "every document stored once",
            ingest.finished() && c.sent + c.unchanged == bulk_documents as u64 && held.done_bulk == bulk_documents as i64,
            format!("{bulk_documents} documents, {} sent, {} document jobs done, {:.0} s waited on Retry-After", c.sent, held.done_bulk, ingest.waited_seconds),
        ),
        Invariant::check("outbox drained", held.drained_at.is_some(), format!("drained at {}", secs_or_never(held.drained_at))),
        Invariant::check(
            "no job stuck after the faults",
            stall <= MAX_RECOVERY_S,
            format!("longest time with open jobs and none done after the wake-up: {stall:.1} s (limit {MAX_RECOVERY_S} s)"),
        ),
        Invariant::check("memory bounded", max_rss < 1024.0, format!("peak RSS {max_rss:.0} MiB")),
    ];
    invariants.extend(held.invariants(&storm.acknowledged, bulk_documents));
    let figures = json!({
        "capacity_texts_per_s": cap,
        "bulk_documents": bulk_documents,
        "postgres": {"stopped_s": pg_stopped, "started_s": pg_starting, "first_accept_after_s": db_back,
                     "attempts_refused_503": refused_while_down, "accepted_while_down": false_acks,
                     "searches_while_down": down_searches.len(), "searches_answered_while_down": down_answered},
        "embedder": {"hung_s": frozen, "woke_s": thawed, "breaker_open_s": embedder_opened, "embedding_again_s": embedder_back, "longest_stall_after_s": stall,
                     "webhooks_accepted_while_hung": hung_alerts, "searches_while_hung": hung_searches.len(),
                     "search_ms_while_hung": Percentiles::of(&hung_ms)},
        "drained_at_s": held.drained_at,
        "alerts": storm,
        "searches": people,
        "ingest": ingest,
        "final_status": held.status,
    });
    let chart = harness::chart(o, "deps", "dependency drills: PostgreSQL down, embedder hung", &samples, &storm.calls, budget);
    Ok(Run { label: "deps".into(), server_args: launch.args, figures, cpu, max_rss_mib: max_rss, invariants, chart, samples })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(t: f64, ms: f64, status: u16) -> Call {
        Call { t, ms, status }
    }

    #[test]
    fn recovery_is_the_first_accept_that_ends_after_the_return() {
        let calls = [call(1.0, 10.0, 200), call(5.0, 100.0, 503), call(10.0, 500.0, 200), call(11.0, 10.0, 200)];
        assert_eq!(first_accept_after(&calls, 9.0), Some(1.5));
        assert_eq!(first_accept_after(&calls, 12.0), None);
        // Sent during the outage and answered 2xx before it ended: a false acknowledgement.
        assert_eq!(accepted_within(&calls, 0.5, 9.0), 1);
        assert_eq!(accepted_within(&calls, 2.0, 9.0), 0);
    }

    #[test]
    fn a_breaker_cycle_needs_the_counter_moving_again() {
        let s = |t: f64, open: &[&str], embedded: f64| Sample {
            t,
            breakers_open: Some(open.iter().map(|d| d.to_string()).collect()),
            embedded_texts: Some(embedded),
            ..Sample::default()
        };
        let samples = [s(1.0, &[], 10.0), s(2.0, &["embedder"], 10.0), s(3.0, &["embedder"], 10.0), s(4.0, &[], 10.0), s(5.0, &[], 12.0)];
        assert_eq!(breaker_cycle(&samples, "embedder", 1.0, 3.0), (Some(2.0), Some(5.0)));
        assert_eq!(breaker_cycle(&samples, "store", 1.0, 3.0), (None, Some(5.0)));
    }

    #[test]
    fn a_stall_is_open_jobs_without_progress() {
        let s = |t: f64, open_done: Option<(i64, i64)>| Sample { t, outbox_open: open_done.map(|o| o.0), outbox_done: open_done.map(|o| o.1), ..Sample::default() };
        // Jobs done, then none for 4 s (the database down in between), then done again;
        // new jobs arriving while others get done are no stall.
        let samples = [
            s(0.0, Some((10, 0))),
            s(1.0, Some((8, 2))),
            s(2.0, Some((8, 2))),
            s(3.0, None),
            s(5.0, Some((8, 2))),
            s(6.0, Some((20, 5))),
            s(7.0, Some((0, 25))),
            s(9.0, Some((0, 25))),
        ];
        assert_eq!(longest_stall(&samples, 0.0), 4.0);
        assert_eq!(longest_stall(&samples, 5.5), 0.0);
    }
}
