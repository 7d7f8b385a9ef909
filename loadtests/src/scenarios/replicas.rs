//! Scenario 8, replicas: the production path — several `firebreak serve` processes on one
//! PostgreSQL and one Qdrant server, as the chart's `ha` preset deploys them — proven under
//! load. Needs a Qdrant server binary (`--qdrant`; none ships in a registry, see
//! docs/benchmarks.md "Qdrant server"); each run gets a private PostgreSQL cluster and a
//! private Qdrant on scratch storage, so the scenario may kill either.
//!
//! Four runs:
//! 1. **one** and 2. **three**: the same closed-loop alert flood (rates and budgets off,
//!    as in `throughput`) against one replica, then spread over three: alerts accepted per
//!    second and how soon every incident is embedded. On one node the replicas share its
//!    cores, so three are not faster there; they are for availability, and each brings
//!    its own cores on its own node.
//! 3. **failover**: Alertmanager-style traffic spread over three replicas (each webhook
//!    to the next, a retry to another, as through a Service) and a bulk ingest; replica B
//!    is SIGKILLed mid-stream and started again, replica C is stopped for good (SIGTERM,
//!    taken out of the endpoints first). Nothing acknowledged may be lost, each item
//!    embedded once (one point each, nothing failed, no job redone but the dead and the
//!    stopped replica's), B's leases taken over by the others only once they ran out
//!    (`--job-lease-secs`), and every replica still up finds every alert.
//! 4. **qdrant-outage**: three replicas under the storm, the Qdrant server SIGKILLed for
//!    60 s and started again on its storage: every webhook still 2xx, each replica's index
//!    breaker opens and closes by itself, every vector back-filled, nothing lost.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::harness::{self, Holdings, Sampling, Setup, IO_ALLOWANCE};
use super::throughput::{per_second, UNCAPPED};
use super::Options;
use crate::postgres::Cluster;
use crate::qdrant::Qdrant;
use crate::report::{Cpu, Invariant, Run};
use crate::server::{Launch, Server};
use crate::traffic::{alerts, bulk, Endpoints};
use crate::verify::Reader;

/// The replicas' job lease: short, so the takeover is seen within the run (the default,
/// 300 s, suits a real deployment where a false takeover costs a duplicate embedding).
const LEASE_SECS: u64 = 10;

/// How long the Qdrant server is away in the outage run.
const QDRANT_OUTAGE: Duration = Duration::from_secs(60);


/// The shared dependencies of one run.
struct Shared {
    pg: Cluster,
    qdrant: Qdrant,
}

impl Shared {
    async fn start(o: &Options, qdrant: &Path) -> anyhow::Result<Self> {
        let mut pg = Cluster::init(crate::postgres::find_bin(o.pg_bin.as_deref())?)?;
        pg.start()?;
        let qdrant = Qdrant::start(qdrant.to_path_buf()).await?;
        Ok(Shared { pg, qdrant })
    }

    /// Replica `i`'s launch: its own data directory (a pod's), the shared database and
    /// index, the run's flags.
    fn launch(&self, o: &Options, setup: &Setup, i: usize, args: &[String]) -> Launch {
        let shared = [
            "--database-url".to_string(),
            self.pg.url(),
            "--qdrant-url".into(),
            self.qdrant.url(),
            "--cpu-threads".into(),
            o.cpu_threads.to_string(),
            "--job-lease-secs".into(),
            LEASE_SECS.to_string(),
        ];
        let data = setup.dir.path().join(format!("replica-{i}"));
        Launch::new(o.firebreak.clone(), o.model.clone(), data, [setup.base_args(), shared.to_vec(), args.to_vec()].concat())
    }

    /// `n` replicas, started one after the other (the first creates the schema and the
    /// collection; the others find them).
    fn replicas(&self, o: &Options, setup: &Setup, n: usize, args: &[String]) -> anyhow::Result<Vec<(Launch, Server)>> {
        let mut out = Vec::new();
        for i in 0..n {
            let mut launch = self.launch(o, setup, i, args);
            let server = Server::start(&launch).with_context(|| format!("starting replica {i}"))?;
            launch.listen = server.addr().to_owned();
            out.push((launch, server));
        }
        Ok(out)
    }

    /// The outbox's jobs, as the database holds them: `(done, sum of their attempts,
    /// failed, pending)`.
    fn jobs(&self) -> anyhow::Result<(i64, i64, i64, i64)> {
        let row = self.pg.query(
            "SELECT count(*) FILTER (WHERE state = 'done'), coalesce(sum(attempts) FILTER (WHERE state = 'done'), 0), \
             count(*) FILTER (WHERE state = 'failed'), count(*) FILTER (WHERE state = 'pending') FROM embedding_jobs",
        )?;
        let f: Vec<i64> = row.trim().split('\t').map(|v| v.parse().unwrap_or(-1)).collect();
        Ok((f[0], f[1], f[2], f[3]))
    }

    /// Jobs leased by `owner` now, with the time their lease runs out (ms since the epoch).
    fn leased_by(&self, owner: &str) -> anyhow::Result<BTreeMap<i64, i64>> {
        let owner = owner.replace('\'', "''");
        let rows = self.pg.query(&format!("SELECT id, lease_until FROM embedding_jobs WHERE state = 'pending' AND lease_owner = '{owner}'"))?;
        Ok(rows
            .lines()
            .filter_map(|l| {
                let (id, until) = l.split_once('\t')?;
                Some((id.parse().ok()?, until.parse().ok()?))
            })
            .collect())
    }

    /// Ids of the jobs that took more than one attempt.
    fn redone(&self) -> anyhow::Result<BTreeSet<i64>> {
        Ok(self.pg.query("SELECT id FROM embedding_jobs WHERE attempts > 1")?.lines().filter_map(|l| l.trim().parse().ok()).collect())
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// This replica's name in job leases, from its `/v1/status`.
async fn replica_name(server: &Server, token: &str) -> anyhow::Result<String> {
    let s = Reader::new(&server.url, token).status().await?;
    s["replica"].as_str().map(str::to_owned).context("/v1/status has no replica name")
}

/// The run's result for the report, with the CPU of replica A (sampled).
fn finish(label: &str, launch: &Launch, samples: Vec<crate::sampler::Sample>, o: &Options, figures: Value, invariants: Vec<Invariant>) -> Run {
    let budget = o.cpu_threads as f64 + IO_ALLOWANCE;
    let cpu = Cpu::of(&samples, budget);
    let max_rss = samples.iter().filter_map(|s| s.rss_mib).fold(0.0, f64::max);
    Run { label: label.into(), server_args: launch.args.clone(), figures, cpu, max_rss_mib: max_rss, invariants, chart: None, samples }
}

/// Runs 1 and 2: the flood against `n` replicas.
pub async fn throughput(o: &Options, qdrant: &Path, n: usize) -> anyhow::Result<Run> {
    let setup = Setup::new()?;
    let tokens = &setup.tokens;
    let shared = Shared::start(o, qdrant).await?;
    let args: Vec<String> = UNCAPPED.iter().map(|s| s.to_string()).collect();
    let replicas = shared.replicas(o, &setup, n, &args)?;
    let urls: Vec<String> = replicas.iter().map(|(_, s)| s.url.clone()).collect();
    let started = Instant::now();
    let sampling = Sampling::start(&replicas[0].1, &tokens.monitor, started);
    let flood = alerts::Storm {
        alerts_per_second: 1_000_000,
        duration: o.duration / 2,
        max_in_flight: o.concurrency,
        to: Endpoints::new(urls.clone()),
        ..harness::storm(o, &urls[0], &tokens.alertmanager)
    };
    let storm = alerts::run(flood, started).await;
    let alerts_secs = started.elapsed().as_secs_f64();
    let reader = Reader::new(&urls[0], &tokens.monitor);
    let held = Holdings::read(&reader, started, o.drain_timeout).await?;
    let (done, attempts, _, _) = shared.jobs()?;
    let samples = sampling.finish().await?;
    let launch = replicas[0].0.clone();
    for (_, s) in replicas {
        s.stop()?;
    }
    let alerts_accepted = storm.accepted as f64 * o.alerts_per_webhook as f64;
    let accepted_ms: Vec<f64> = storm.calls.iter().filter(|c| (200..300).contains(&c.status)).map(|c| c.ms).collect();
    let accept = crate::latency::Percentiles::of(&accepted_ms);
    let embedded_per_s = held.drained_at.map(|t| per_second(held.stored.len() as f64, t));
    let mut invariants = vec![
        Invariant::check(
            "alerts sustained",
            storm.lost == 0 && storm.accepted > 0,
            format!(
                "{:.0} alerts/s over {n} replica(s) for {alerts_secs:.0} s with {} senders; accept p50 {:.0} ms, p99 {:.0} ms; {} lost",
                per_second(alerts_accepted, alerts_secs),
                o.concurrency,
                accept.p50_ms,
                accept.p99_ms,
                storm.lost
            ),
        ),
        Invariant::check(
            "every incident embedded",
            held.drained_at.is_some(),
            format!(
                "{} incidents embedded by {} s ({}), {done} jobs done in {attempts} attempts",
                held.stored.len(),
                held.drained_at.map_or("never".into(), |t| format!("{t:.0}")),
                embedded_per_s.map_or("never".into(), |r| format!("{r:.1} incidents/s"))
            ),
        ),
    ];
    invariants.extend(held.invariants(&storm.acknowledged, 0));
    let figures = json!({
        "replicas": n,
        "qdrant": shared.qdrant.version(),
        "alerts_per_s": per_second(alerts_accepted, alerts_secs),
        "webhooks_per_s": per_second(storm.accepted as f64, alerts_secs),
        "accept_p50_ms": accept.p50_ms,
        "accept_p99_ms": accept.p99_ms,
        "incidents": held.stored.len(),
        "embedded_by_s": held.drained_at,
        "incidents_embedded_per_s": embedded_per_s,
        "jobs_done": done,
        "job_attempts": attempts,
        "alerts": storm,
        "final_status": held.status,
    });
    Ok(finish(if n == 1 { "one" } else { "three" }, &launch, samples, o, figures, invariants))
}

/// What became of the jobs a replica held when it died: when each was taken by another
/// replica, against when its lease ran out.
#[derive(Debug, Default, serde::Serialize)]
struct Takeover {
    /// Jobs the replica held at the kill.
    held: usize,
    /// Of those, leased by another replica (or done) by the end of the watch.
    taken_over: usize,
    /// Taken over before their lease ran out (a live lease stolen): must be 0.
    early: usize,
    /// Seconds from the lease's end to the takeover: the least and the most.
    after_lease_end_s: (f64, f64),
    /// Seconds from the kill until the last was taken over.
    all_taken_after_kill_s: Option<f64>,
}

/// Watches the dead `owner`'s jobs (`held`: id → lease end) until every one is leased by
/// someone else or done, or `limit` passes; polls the database every 250 ms.
async fn watch_takeover(shared: &Shared, owner: &str, held: &BTreeMap<i64, i64>, killed: Instant, limit: Duration) -> anyhow::Result<Takeover> {
    let mut t = Takeover { held: held.len(), after_lease_end_s: (f64::MAX, 0.0), ..Default::default() };
    let mut waiting: BTreeMap<i64, i64> = held.clone();
    let until = Instant::now() + limit;
    while !waiting.is_empty() && Instant::now() < until {
        let still = shared.leased_by(owner)?;
        let now = now_ms();
        let gone: Vec<i64> = waiting.keys().filter(|id| !still.contains_key(id)).copied().collect();
        for id in gone {
            let lease_end = waiting.remove(&id).unwrap_or(now);
            let after = (now - lease_end) as f64 / 1000.0;
            t.taken_over += 1;
            // 250 ms: the poll's own granularity.
            if after < -0.25 {
                t.early += 1;
            }
            t.after_lease_end_s.0 = t.after_lease_end_s.0.min(after);
            t.after_lease_end_s.1 = t.after_lease_end_s.1.max(after);
        }
        if waiting.is_empty() {
            t.all_taken_after_kill_s = Some(killed.elapsed().as_secs_f64());
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    if t.held == 0 {
        t.after_lease_end_s = (0.0, 0.0);
        t.all_taken_after_kill_s = Some(0.0);
    }
    Ok(t)
}

/// For each storm alertname, the ids of a hybrid search's top 5 on `url`.
async fn top_ids(url: &str, token: &str) -> anyhow::Result<Vec<Vec<String>>> {
    let reader = Reader::new(url, token);
    let mut out = Vec::new();
    for q in crate::traffic::alerts::summaries() {
        let v = reader.search(&json!({"query": q, "k": 5})).await?;
        out.push(v["results"].as_array().into_iter().flatten().map(|r| format!("{}:{}", r["kind"], r["id"])).collect());
    }
    Ok(out)
}

/// Run 3: SIGKILL one replica and restart it, stop another for good.
pub async fn failover(o: &Options, qdrant: &Path) -> anyhow::Result<Run> {
    let setup = Setup::new()?;
    let tokens = &setup.tokens;
    let cap = setup.capacity(o, o.cpu_threads).await?.texts_per_s;
    let bulk_documents = (cap * o.duration.as_secs_f64()).round().max(100.0) as usize;
    let export = bulk::export(&setup.dir.path().join("export"), bulk_documents)?;
    let shared = Shared::start(o, qdrant).await?;
    let mut replicas = shared.replicas(o, &setup, 3, &[])?;
    let urls: Vec<String> = replicas.iter().map(|(_, s)| s.url.clone()).collect();
    let endpoints = Endpoints::new(urls.clone());
    let started = Instant::now();
    let sampling = Sampling::start(&replicas[0].1, &tokens.monitor, started);
    let storm = tokio::spawn(alerts::run(alerts::Storm { to: endpoints.clone(), ..harness::storm(o, &urls[0], &tokens.alertmanager) }, started));
    let ingest = tokio::spawn(bulk::send(urls[0].clone(), tokens.cronjob.clone(), export, o.duration + o.drain_timeout));

    // B dies mid-stream: its leases must wait out their time, then go to the others.
    tokio::time::sleep(o.duration / 3).await;
    let (launch_b, server_b) = replicas.remove(1);
    let owner_b = replica_name(&server_b, &tokens.monitor).await?;
    let killed = Instant::now();
    let killed_at = started.elapsed().as_secs_f64();
    server_b.kill()?;
    let held_b = shared.leased_by(&owner_b)?;
    tracing::warn!(at_s = killed_at, jobs = held_b.len(), "replica B killed (SIGKILL)");
    let server_b = harness::restart(&launch_b)?;
    let back_at = started.elapsed().as_secs_f64();
    let takeover = watch_takeover(&shared, &owner_b, &held_b, killed, Duration::from_secs(LEASE_SECS + 60)).await?;

    // C is stopped for good, as a scale-down: out of the endpoints, then SIGTERM.
    let until_c = (o.duration * 2 / 3).saturating_sub(started.elapsed());
    tokio::time::sleep(until_c).await;
    let (_, server_c) = replicas.remove(1);
    let owner_c = replica_name(&server_c, &tokens.monitor).await?;
    endpoints.remove(&server_c.url);
    let stopped_at = started.elapsed().as_secs_f64();
    server_c.stop()?;
    let held_c = shared.leased_by(&owner_c)?;
    tracing::warn!(at_s = stopped_at, jobs_left_leased = held_c.len(), "replica C stopped for good (SIGTERM)");

    let storm = storm.await?;
    let ingest = ingest.await??;
    let server_a = &replicas[0].1;
    let reader = Reader::new(&server_a.url, &tokens.monitor);
    let held = Holdings::read(&reader, started, o.drain_timeout).await?;
    let (done, attempts, failed, pending) = shared.jobs()?;
    let redone = shared.redone()?;
    let allowed: BTreeSet<i64> = held_b.keys().chain(held_c.keys()).copied().collect();
    let redone_elsewhere: Vec<i64> = redone.iter().filter(|id| !allowed.contains(id)).copied().collect();
    // Every replica still up finds every alert, and the same results for the same query.
    let mut missing = BTreeMap::new();
    for (name, url) in [("A", &server_a.url), ("B", &server_b.url)] {
        missing.insert(name, Reader::new(url, &tokens.monitor).unfindable(&storm.acknowledged, "hybrid").await?.len());
    }
    let (top_a, top_b) = (top_ids(&server_a.url, &tokens.sre).await?, top_ids(&server_b.url, &tokens.sre).await?);
    let status_b = Reader::new(&server_b.url, &tokens.monitor).status().await?;
    let samples = sampling.finish().await?;
    let (launch_a, server_a) = replicas.remove(0);
    server_a.stop()?;
    server_b.stop()?;

    let c = &ingest.counts;
    let mut invariants = vec![
        Invariant::check(
            "no alert lost",
            storm.lost == 0,
            format!("{} webhooks over 3 replicas, {} accepted, {} lost, {} retried (to another replica)", storm.webhooks, storm.accepted, storm.lost, storm.retried),
        ),
        Invariant::check(
            "every document stored once",
            ingest.finished() && c.sent + c.unchanged == bulk_documents as u64 && held.done_bulk == bulk_documents as i64,
            format!("{bulk_documents} documents sent through A, {} document jobs done", held.done_bulk),
        ),
        Invariant::check("outbox drained", held.drained_at.is_some() && pending == 0, format!("{:?} s; {pending} jobs pending, {failed} failed", held.drained_at)),
        Invariant::check(
            "the killed replica's leases honoured, then taken over",
            takeover.early == 0 && takeover.taken_over == takeover.held,
            format!(
                "B held {} jobs at the kill ({killed_at:.1} s); {} taken over, {} before their lease ran out; {:.1} to {:.1} s after each lease's end (--job-lease-secs {LEASE_SECS}); all {} s after the kill",
                takeover.held,
                takeover.taken_over,
                takeover.early,
                takeover.after_lease_end_s.0,
                takeover.after_lease_end_s.1,
                takeover.all_taken_after_kill_s.map_or("never".into(), |s| format!("{s:.1}"))
            ),
        ),
        Invariant::check(
            "no job redone but the killed and the stopped replica's",
            redone_elsewhere.is_empty(),
            format!(
                "{done} jobs done in {attempts} attempts; {} took more than one, {} of them not held by B at its kill or by C at its stop: {:?}",
                redone.len(),
                redone_elsewhere.len(),
                redone_elsewhere.iter().take(5).collect::<Vec<_>>()
            ),
        ),
        Invariant::check(
            "every replica up finds every alert",
            missing.values().all(|m| *m == 0),
            format!("missing from a hybrid search: {missing:?} of {}", storm.acknowledged.len()),
        ),
        Invariant::check(
            "every replica up gives the same results",
            top_a == top_b && !top_a.is_empty(),
            format!("{} queries' top 5 compared between A and B", top_a.len()),
        ),
        Invariant::check(
            "status names the replica that answered",
            status_b["replica"].as_str().is_some_and(|r| r != owner_b && !r.is_empty()),
            format!("B after its restart: {} (before: {owner_b})", status_b["replica"]),
        ),
    ];
    invariants.extend(held.invariants(&storm.acknowledged, bulk_documents));
    let figures = json!({
        "qdrant": shared.qdrant.version(),
        "lease_secs": LEASE_SECS,
        "bulk_documents": bulk_documents,
        "killed_at_s": killed_at,
        "back_at_s": back_at,
        "stopped_at_s": stopped_at,
        "takeover": takeover,
        "left_leased_by_c": held_c.len(),
        "jobs_done": done,
        "job_attempts": attempts,
        "jobs_redone": redone.len(),
        "drained_at_s": held.drained_at,
        "alerts": storm,
        "ingest": ingest,
        "final_status": held.status,
    });
    Ok(finish("failover", &launch_a, samples, o, figures, invariants))
}

/// When each replica's index breaker was first seen open and then closed again.
#[derive(Debug, Default, Clone, serde::Serialize)]
struct BreakerSeen {
    opened_at_s: Option<f64>,
    closed_at_s: Option<f64>,
}

/// Run 4: the Qdrant server away for a minute under load.
pub async fn qdrant_outage(o: &Options, qdrant: &Path) -> anyhow::Result<Run> {
    let setup = Setup::new()?;
    let tokens = &setup.tokens;
    let mut shared = Shared::start(o, qdrant).await?;
    let replicas = shared.replicas(o, &setup, 3, &[])?;
    let urls: Vec<String> = replicas.iter().map(|(_, s)| s.url.clone()).collect();
    let started = Instant::now();
    let sampling = Sampling::start(&replicas[0].1, &tokens.monitor, started);
    // The storm runs through the outage and a while after it.
    let lead = Duration::from_secs(10);
    let storm_cfg = alerts::Storm { to: Endpoints::new(urls.clone()), duration: lead + QDRANT_OUTAGE + Duration::from_secs(20), ..harness::storm(o, &urls[0], &tokens.alertmanager) };
    let storm = tokio::spawn(alerts::run(storm_cfg, started));
    // Each replica's index breaker, watched through its status every 500 ms.
    let watch_until = lead + QDRANT_OUTAGE + Duration::from_secs(180);
    let mut watchers = Vec::new();
    for url in &urls {
        let reader = Reader::new(url, &tokens.monitor);
        watchers.push(tokio::spawn(async move {
            let mut seen = BreakerSeen::default();
            while started.elapsed() < watch_until {
                if let Ok(s) = reader.status().await {
                    let state = s["breakers"]["index"].as_str().unwrap_or("");
                    let t = started.elapsed().as_secs_f64();
                    if state != "closed" && seen.opened_at_s.is_none() {
                        seen.opened_at_s = Some(t);
                    }
                    if state == "closed" && seen.opened_at_s.is_some() && seen.closed_at_s.is_none() {
                        seen.closed_at_s = Some(t);
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            seen
        }));
    }
    tokio::time::sleep(lead).await;
    let down_at = started.elapsed().as_secs_f64();
    shared.qdrant.kill()?;
    tracing::warn!(at_s = down_at, "Qdrant killed (SIGKILL)");
    tokio::time::sleep(QDRANT_OUTAGE).await;
    shared.qdrant.resume().await?;
    let up_at = started.elapsed().as_secs_f64();
    tracing::info!(at_s = up_at, "Qdrant back on its storage");

    let storm = storm.await?;
    let mut breakers = Vec::new();
    for w in watchers {
        breakers.push(w.await?);
    }
    let reader = Reader::new(&urls[0], &tokens.monitor);
    let held = Holdings::read(&reader, started, o.drain_timeout).await?;
    let dense_missing = reader.unfindable(&storm.acknowledged, "dense").await?;
    let (done, attempts, failed, _) = shared.jobs()?;
    let samples = sampling.finish().await?;
    let launch = replicas[0].0.clone();
    for (_, s) in replicas {
        s.stop()?;
    }
    let during: Vec<u16> = storm.calls.iter().filter(|c| c.t >= down_at && c.t <= up_at).map(|c| c.status).collect();
    let refused = during.iter().filter(|s| !(200..300).contains(*s)).count();
    let mut invariants = vec![
        Invariant::check(
            "alerts accepted while Qdrant was away",
            storm.lost == 0 && refused == 0 && !during.is_empty(),
            format!("{} webhooks sent during the {:.0} s outage, {refused} not 2xx; {} lost in all", during.len(), up_at - down_at, storm.lost),
        ),
        Invariant::check(
            "each replica's index breaker opened and closed by itself",
            breakers.iter().all(|b| b.opened_at_s.is_some_and(|t| t >= down_at - 1.0) && b.closed_at_s.is_some_and(|t| t >= up_at)),
            format!(
                "Qdrant down {down_at:.1}–{up_at:.1} s; per replica open → closed: {}",
                breakers
                    .iter()
                    .map(|b| format!(
                        "{} → {}",
                        b.opened_at_s.map_or("never".into(), |t| format!("{t:.1} s")),
                        b.closed_at_s.map_or("never".into(), |t| format!("{t:.1} s"))
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        Invariant::check("outbox drained", held.drained_at.is_some() && failed == 0, format!("{:?} s; {done} jobs done in {attempts} attempts, {failed} failed", held.drained_at)),
        Invariant::check(
            "every vector back-filled",
            dense_missing.is_empty(),
            format!("{} of {} acknowledged alerts not found by a dense search", dense_missing.len(), storm.acknowledged.len()),
        ),
    ];
    invariants.extend(held.invariants(&storm.acknowledged, 0));
    let figures = json!({
        "qdrant": shared.qdrant.version(),
        "qdrant_down_at_s": down_at,
        "qdrant_up_at_s": up_at,
        "breakers": breakers,
        "webhooks_during_outage": during.len(),
        "drained_at_s": held.drained_at,
        "jobs_done": done,
        "job_attempts": attempts,
        "alerts": storm,
        "final_status": held.status,
    });
    Ok(finish("qdrant-outage", &launch, samples, o, figures, invariants))
}

/// The Qdrant binary a run was given, checked before anything starts.
pub fn qdrant_bin(given: Option<&PathBuf>) -> anyhow::Result<PathBuf> {
    let bin = given.cloned().context("the replicas scenario needs a Qdrant server binary: --qdrant PATH (or FIREBREAK_QDRANT_BIN)")?;
    anyhow::ensure!(bin.is_file(), "{} is not a file", bin.display());
    Ok(bin)
}
