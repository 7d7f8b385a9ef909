//! Scenario 5, throughput: what one gateway sustains on this node with its inference budget
//! (`--cpu-threads`), end to end, with latency percentiles.
//!
//! 1. **Alerts** for the first half of `--duration`: `--concurrency` Alertmanagers send
//!    webhooks back to back (closed loop), the alerts cycling over `--distinct-alerts` as
//!    real notification traffic does (resends of a few hundred live alerts). Figures:
//!    alerts and webhooks accepted per second, accept latency, and when every incident
//!    was embedded.
//! 2. **Documents** for the second half: the ingest client on an export of what the
//!    embedder does in that time. Figures: documents accepted per second, and documents
//!    embedded per second from the first send to the last job done.
//! 3. **Searches** at `--searches-per-second` throughout, answered while the rest runs.
//!
//! The rate limits and embedding budgets are off (they would measure the policy, not the
//! node); the CPU budget stays, so the figures are what the node gives within it.

use serde_json::json;
use tokio::time::Instant;

use super::harness::{self, Holdings, Sampling, Setup, IO_ALLOWANCE};
use super::Options;
use crate::latency::Percentiles;
use crate::report::{Cpu, Invariant, Run};
use crate::server::Server;
use crate::traffic::{alerts, bulk, searches};
use crate::verify::Reader;

/// The guards that cap intake by policy, turned off; the CPU budget is kept.
pub(super) const UNCAPPED: &[&str] = &[
    "--alerts-rate", "off", "--ingest-rate", "off", "--query-rate", "off",
    "--embed-budget-texts", "off", "--embed-budget-tokens", "off",
    "--source-embed-budget-texts", "off", "--source-embed-budget-tokens", "off",
];

/// Offered alert rate of the closed loop: far above what any gateway takes, so the
/// senders are always waiting on the gateway, never on their clock.
const FLOOD_ALERTS_PER_SECOND: u32 = 1_000_000;

pub(super) fn per_second(n: f64, secs: f64) -> f64 {
    if secs > 0.0 {
        n / secs
    } else {
        0.0
    }
}

pub async fn run(o: &Options) -> anyhow::Result<Run> {
    let setup = Setup::new()?;
    let tokens = &setup.tokens;
    let cap = setup.capacity(o, o.cpu_threads).await?.texts_per_s;
    let half = o.duration / 2;
    let documents = (cap * half.as_secs_f64()).round().max(100.0) as usize;
    let export = bulk::export(&setup.dir.path().join("export"), documents)?;
    let args: Vec<String> = ["--cpu-threads".to_string(), o.cpu_threads.to_string()].into_iter().chain(UNCAPPED.iter().map(|s| s.to_string())).collect();
    let launch = setup.launch(o, &args);
    let server = Server::start(&launch)?;
    let started = Instant::now();
    let sampling = Sampling::start(&server, &tokens.monitor, started);
    let reader = Reader::new(&server.url, &tokens.monitor);
    tracing::info!(capacity_texts_per_s = cap, documents, concurrency = o.concurrency, "throughput");

    let people = tokio::spawn(searches::run(
        searches::Searches { url: server.url.clone(), token: tokens.sre.clone(), per_second: o.searches_per_second, duration: o.duration },
        started,
    ));
    let flood = alerts::Storm {
        alerts_per_second: FLOOD_ALERTS_PER_SECOND,
        duration: half,
        max_in_flight: o.concurrency,
        ..harness::storm(o, &server.url, &tokens.alertmanager)
    };
    let storm = alerts::run(flood, started).await;
    let alerts_secs = started.elapsed().as_secs_f64();
    let alerts_embedded_at = harness::outbox_done(&reader, started, o.drain_timeout, true).await;

    let docs_start = started.elapsed().as_secs_f64();
    let ingest = bulk::send(server.url.clone(), tokens.cronjob.clone(), export, half + o.drain_timeout).await?;
    let docs_accepted = started.elapsed().as_secs_f64();
    let held = Holdings::read(&reader, started, o.drain_timeout).await?;
    let drained_at = held.drained_at;
    let people = people.await?;
    let samples = sampling.finish().await?;
    server.stop()?;

    let accepted_ms: Vec<f64> = storm.calls.iter().filter(|c| (200..300).contains(&c.status)).map(|c| c.ms).collect();
    let accept = Percentiles::of(&accepted_ms);
    let search_ms: Vec<f64> = people.calls.iter().filter(|c| c.status == 200).map(|c| c.ms).collect();
    let search = Percentiles::of(&search_ms);
    let alerts_accepted = storm.accepted as f64 * o.alerts_per_webhook as f64;
    let alerts_per_s = per_second(alerts_accepted, alerts_secs);
    let docs_per_s = per_second(documents as f64, docs_accepted - docs_start);
    let docs_embedded_per_s = drained_at.map(|t| per_second(documents as f64, t - docs_start));
    let budget = o.cpu_threads as f64 + IO_ALLOWANCE;
    let cpu = Cpu::of(&samples, budget);
    let max_rss = samples.iter().filter_map(|s| s.rss_mib).fold(0.0, f64::max);
    let c = &ingest.counts;
    let fmt_rate = |v: Option<f64>| v.map_or("never".to_owned(), |r| format!("{r:.1}/s"));
    let mut invariants = vec![
        Invariant::check(
            "alerts sustained",
            storm.lost == 0 && storm.accepted > 0,
            format!(
                "{alerts_per_s:.0} alerts/s ({:.0} webhooks/s of {}) for {alerts_secs:.0} s with {} senders; accept p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms; {} lost",
                per_second(storm.accepted as f64, alerts_secs),
                o.alerts_per_webhook,
                o.concurrency,
                accept.p50_ms,
                accept.p95_ms,
                accept.p99_ms,
                storm.lost
            ),
        ),
        Invariant::check(
            "alerts embedded",
            alerts_embedded_at.is_some(),
            format!("{} incidents embedded by {} s", held.stored.len(), alerts_embedded_at.map_or("never".into(), |t| format!("{t:.0}"))),
        ),
        Invariant::check(
            "documents sustained",
            ingest.finished() && c.sent == documents as u64 && held.done_bulk == documents as i64,
            format!("{documents} documents accepted at {docs_per_s:.0}/s, embedded at {} (one job each: {} done)", fmt_rate(docs_embedded_per_s), held.done_bulk),
        ),
        Invariant::check(
            "searches answered under load",
            people.sent > 0 && people.answered == people.sent,
            format!("{} of {} answered ({} keyword-only); p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms", people.answered, people.sent, people.degraded, search.p50_ms, search.p95_ms, search.p99_ms),
        ),
        Invariant::check(
            "gateway CPU within its budget",
            cpu.p95 <= budget,
            format!("p50 {:.2}, p95 {:.2}, max {:.2} cores; budget {budget:.2} ({} inference + {IO_ALLOWANCE} I/O) of {} cores", cpu.p50, cpu.p95, cpu.max, o.cpu_threads, cpu.node_cores),
        ),
        Invariant::check("memory bounded", max_rss < 1024.0, format!("peak RSS {max_rss:.0} MiB")),
    ];
    invariants.extend(held.invariants(&storm.acknowledged, documents));
    let figures = json!({
        "capacity_texts_per_s": cap,
        "concurrency": o.concurrency,
        "alerts_per_s": alerts_per_s,
        "webhooks_per_s": per_second(storm.accepted as f64, alerts_secs),
        "alert_accept_ms": accept,
        "alerts_phase_s": alerts_secs,
        "alerts_embedded_s": alerts_embedded_at,
        "documents": documents,
        "documents_accepted_per_s": docs_per_s,
        "documents_embedded_per_s": docs_embedded_per_s,
        "documents_phase_s": [docs_start, drained_at],
        "search_ms": search,
        "alerts": storm,
        "searches": people,
        "ingest": ingest,
        "final_status": held.status,
    });
    let chart = harness::chart(o, "throughput", "throughput: alerts, then documents", &samples, &storm.calls, budget);
    Ok(Run { label: "throughput".into(), server_args: launch.args, figures, cpu, max_rss_mib: max_rss, invariants, chart, samples })
}
