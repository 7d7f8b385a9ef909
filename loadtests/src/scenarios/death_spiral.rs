//! Scenario 1, the death-spiral replay, and scenario 2, its unprotected baseline.
//!
//! The seed incident's traffic at once against one gateway: a bulk chat export that alone
//! needs `--bulk-factor` (10) times what the embedder can do in the run, an alert storm of
//! hundreds of alerts a second (mostly resends), and people searching throughout. The
//! protected gateway must keep its CPU within budget, accept and store every alert with a
//! low p99, answer every search (keyword-only allowed), turn the bulk away with 429 +
//! Retry-After, and still take all of it once the storm is over. The baseline runs the
//! same traffic with every guard relaxed, to show what the guards are for.

use serde_json::json;
use tokio::time::Instant;

use super::harness::{self, Sampling, Setup, IO_ALLOWANCE};
use super::Options;
use crate::latency::Percentiles;
use crate::report::{Cpu, Invariant, Run};
use crate::server::Server;
use crate::traffic::{alerts, bulk, searches};
use crate::verify::Reader;

/// The gateway's own default; `--max-bulk-backlog` overrides it.
const DEFAULT_MAX_BULK_BACKLOG: usize = 10_000;

/// The flags that turn every guard off: the baseline.
pub fn relaxed_args(node_cores: usize) -> Vec<String> {
    [
        "--alerts-rate", "off", "--ingest-rate", "off", "--query-rate", "off", "--embeddings-rate", "off",
        "--embed-budget-texts", "off", "--embed-budget-tokens", "off",
        "--source-embed-budget-texts", "off", "--source-embed-budget-tokens", "off",
        "--max-bulk-backlog", "100000000", "--storm-alerts-per-minute", "1000000000",
        "--pressure-bulk-pause", "101", "--pressure-alert-pause", "101",
        "--max-concurrent-requests", "100000", "--bulk-every", "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(["--cpu-threads".into(), node_cores.to_string()])
    .collect()
}

/// One gateway under the traffic.
pub async fn run_one(o: &Options, label: &str, relaxed: bool) -> anyhow::Result<Run> {
    let setup = Setup::new()?;
    let tokens = &setup.tokens;
    let cpu_threads = if relaxed { setup.node_cores } else { o.cpu_threads };
    // Sized to what the embedder does with the protected budget, for both runs alike.
    let capacity = setup.capacity(o, o.cpu_threads).await?;
    let cap = capacity.texts_per_s;
    let bulk_documents = (o.bulk_factor * cap * o.duration.as_secs_f64()).round().max(100.0) as usize;
    let max_backlog = o.max_bulk_backlog.unwrap_or(DEFAULT_MAX_BULK_BACKLOG);
    let args = if relaxed {
        relaxed_args(setup.node_cores)
    } else {
        // The embedding budget sized to this node as docs/protection.md advises: a minute of
        // the embedder's measured work in all, half of it for any one source.
        let per_minute = (cap * 60.0).round() as u64;
        let tokens_per_minute = (capacity.tokens_per_s * 60.0).round() as u64;
        [
            ["--cpu-threads".to_string(), cpu_threads.to_string()],
            ["--max-bulk-backlog".into(), max_backlog.to_string()],
            ["--embed-budget-texts".into(), per_minute.to_string()],
            ["--source-embed-budget-texts".into(), (per_minute / 2).to_string()],
            ["--embed-budget-tokens".into(), tokens_per_minute.to_string()],
            ["--source-embed-budget-tokens".into(), (tokens_per_minute / 2).to_string()],
        ]
        .concat()
    };
    let export = bulk::export(&setup.dir.path().join("export"), bulk_documents)?;
    tracing::info!(%label, capacity_texts_per_s = cap, capacity_tokens_per_s = capacity.tokens_per_s, bulk_documents, "starting the gateway under load");

    let launch = setup.launch(o, &args);
    let server = Server::start(&launch)?;
    let started = Instant::now();
    let sampling = Sampling::start(&server, &tokens.monitor, started);

    let storm = tokio::spawn(alerts::run(harness::storm(o, &server.url, &tokens.alertmanager), started));
    let people = tokio::spawn(searches::run(
        searches::Searches { url: server.url.clone(), token: tokens.sre.clone(), per_second: o.searches_per_second, duration: o.duration },
        started,
    ));
    let ingest = tokio::spawn(bulk::send(server.url.clone(), tokens.cronjob.clone(), export, o.duration + o.drain_timeout));
    let storm = storm.await?;
    let people = people.await?;
    let storm_over = started.elapsed();
    // The alerts' embedding is done once no incident job is open, while the bulk goes on.
    let reader = Reader::new(&server.url, &tokens.monitor);
    let alerts_embedded = {
        let (url, token, limit) = (server.url.clone(), tokens.monitor.clone(), o.drain_timeout);
        tokio::spawn(async move { harness::outbox_done(&Reader::new(&url, &token), started, limit, true).await })
    };
    let ingest = ingest.await??;
    let ingest_done = started.elapsed();
    let alerts_embedded_at = alerts_embedded.await?;
    let stored = reader.stored_fingerprints().await?;
    let final_status = reader.status().await?;
    let samples = sampling.finish().await?;
    let storm_logs = server.log_count("alert storm: identical alert texts");
    server.stop()?;

    let missing = storm.acknowledged.iter().filter(|fp| !stored.contains(*fp)).count();
    let accepted_ms: Vec<f64> = storm.calls.iter().filter(|c| (200..300).contains(&c.status)).map(|c| c.ms).collect();
    let accept = Percentiles::of(&accepted_ms);
    let to_accept = Percentiles::of(&storm.to_accept_ms);
    let search_ms: Vec<f64> = people.calls.iter().filter(|c| c.status == 200).map(|c| c.ms).collect();
    // The budget this node was given (the protected configuration's), for both runs: the
    // relaxed gateway shows what happens without it.
    let budget = o.cpu_threads as f64 + IO_ALLOWANCE;
    let cpu = Cpu::of(&samples, budget);
    let max_rss = samples.iter().filter_map(|s| s.rss_mib).fold(0.0, f64::max);
    let c = &ingest.counts;
    let invariants = vec![
        Invariant::check("every alert accepted", storm.lost == 0, format!("{} webhooks, {} accepted, {} lost, {} retried after 5xx", storm.webhooks, storm.accepted, storm.lost, storm.retried)),
        Invariant::check("every accepted alert stored", missing == 0, format!("{} distinct alerts acknowledged, {} stored, {missing} missing", storm.acknowledged.len(), stored.len())),
        Invariant::check(
            "alert accept p99 stays low",
            accept.p99_ms <= o.max_alert_p99_ms,
            format!("p50 {:.0} ms, p99 {:.0} ms (limit {:.0} ms), max {:.0} ms", accept.p50_ms, accept.p99_ms, o.max_alert_p99_ms, accept.max_ms),
        ),
        Invariant::check(
            "searches keep answering",
            people.sent > 0 && people.answered as f64 >= people.sent as f64 * 0.99,
            format!("{} sent, {} answered ({} keyword-only), p99 {:.0} ms", people.sent, people.answered, people.degraded, Percentiles::of(&search_ms).p99_ms),
        ),
        Invariant::check(
            "gateway CPU within its budget",
            cpu.p95 <= budget,
            format!(
                "p50 {:.2}, p95 {:.2}, max {:.2} cores; budget {budget:.2} ({} inference + {IO_ALLOWANCE} I/O) of {} cores; this run: {cpu_threads} inference threads",
                cpu.p50, cpu.p95, cpu.max, o.cpu_threads, cpu.node_cores
            ),
        ),
        Invariant::check("bulk turned away with Retry-After", c.waits > 0, format!("{} ingest calls told to wait, {:.0} s waited", c.waits, ingest.waited_seconds)),
        Invariant::check(
            "bulk ingest finishes after the storm",
            ingest.finished() && c.sent + c.unchanged == bulk_documents as u64,
            format!("{} of {bulk_documents} documents stored, finished at {:.0} s (storm over at {:.0} s)", c.sent + c.unchanged, ingest_done.as_secs_f64(), storm_over.as_secs_f64()),
        ),
        Invariant::check(
            "alerts embedded after the storm",
            alerts_embedded_at.is_some(),
            match alerts_embedded_at {
                Some(t) => format!("no alert job open at {t:.0} s"),
                None => format!("alert jobs still open {} s after the ingest", o.drain_timeout.as_secs()),
            },
        ),
        Invariant::check("memory bounded", max_rss < 1024.0, format!("peak RSS {max_rss:.0} MiB")),
    ];
    let figures = json!({
        "capacity_texts_per_s": cap,
        "capacity_tokens_per_s": capacity.tokens_per_s,
        "bulk_documents": bulk_documents,
        "max_bulk_backlog": if relaxed { None } else { Some(max_backlog) },
        "alerts": storm,
        "alert_accept_ms": accept,
        "alert_first_send_to_accept_ms": to_accept,
        "searches": people,
        "search_ms": Percentiles::of(&search_ms),
        "ingest": ingest,
        "storm_over_s": storm_over.as_secs_f64(),
        "ingest_done_s": ingest_done.as_secs_f64(),
        "alerts_embedded_s": alerts_embedded_at,
        "storm_mode_lines": storm_logs,
        "final_status": final_status,
    });
    let chart = harness::chart(o, label, &format!("{label}: death-spiral replay"), &samples, &storm.calls, budget);
    Ok(Run { label: label.into(), server_args: launch.args, figures, cpu, max_rss_mib: max_rss, invariants, chart, samples })
}
