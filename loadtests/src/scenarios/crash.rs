//! Scenario 3, the crash drill: SIGKILL the gateway in the middle of an alert storm and a
//! bulk ingest, start it again on the same data, and show that everything acknowledged
//! before the kill is stored and embedded exactly once: every accepted alert is an
//! incident, every document has one job done, and the index holds exactly one point per
//! item (none missing, none twice). Every acknowledged alert is keyword-searchable soon
//! after the restart, while its dense vectors may still be waiting (the keyword phase
//! never waits on the embedder), and dense-searchable once the outbox drained.

use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use super::harness::{self, Holdings, Sampling, Setup, IO_ALLOWANCE};
use super::Options;
use crate::report::{Cpu, Invariant, Run};
use crate::server::Server;
use crate::traffic::{alerts, bulk};
use crate::verify::Reader;

/// When every acknowledged alert was found by a keyword search.
struct KeywordCheck {
    missing: usize,
    /// Seconds since the start of the drill.
    at_s: f64,
    /// Seconds spent waiting for it after the storm ended.
    waited_s: f64,
    /// Jobs still waiting for their dense phase at that moment.
    awaiting_dense: i64,
}

/// Searches (keyword mode) for every acknowledged alert until all are found, for at most
/// 30 s once storm mode has released what it held (storm mode stores a repeated text's
/// occurrences without indexing them until the storm ends: the earlier occurrence of the
/// same text is what a search finds meanwhile). The keyword phase of what the release
/// queues at once (hundreds of held occurrences, beside the bulk's) takes seconds; 30 s
/// leaves room for a loaded 2-core machine.
async fn keyword_searchable(reader: &Reader, acknowledged: &std::collections::BTreeSet<String>, started: Instant) -> anyhow::Result<KeywordCheck> {
    let storm_over = Instant::now() + Duration::from_secs(180);
    while Instant::now() < storm_over {
        let st = reader.status().await?;
        if st["storm"]["on"] == false && st["storm"]["release_pending"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let from = Instant::now();
    loop {
        let awaiting_dense = reader.status().await?["outbox"]["awaiting_dense"].as_i64().unwrap_or(-1);
        let missing = reader.unfindable(acknowledged, "keyword").await?.len();
        if missing == 0 || from.elapsed() > Duration::from_secs(30) {
            let at_s = started.elapsed().as_secs_f64();
            return Ok(KeywordCheck { missing, at_s, waited_s: from.elapsed().as_secs_f64(), awaiting_dense });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub async fn run(o: &Options) -> anyhow::Result<Run> {
    let setup = Setup::new()?;
    let tokens = &setup.tokens;
    let cap = setup.capacity(o, o.cpu_threads).await?.texts_per_s;
    // A bulk the gateway can embed within the drill: twice what it does in --duration.
    let bulk_documents = (2.0 * cap * o.duration.as_secs_f64()).round().max(100.0) as usize;
    let export = bulk::export(&setup.dir.path().join("export"), bulk_documents)?;
    let mut launch = setup.launch(o, &["--cpu-threads".into(), o.cpu_threads.to_string()]);
    let server = Server::start(&launch)?;
    launch.listen = server.addr().to_owned();
    let started = Instant::now();
    let sampling = Sampling::start(&server, &tokens.monitor, started);

    let storm = tokio::spawn(alerts::run(harness::storm(o, &server.url, &tokens.alertmanager), started));
    let ingest = tokio::spawn(bulk::send(server.url.clone(), tokens.cronjob.clone(), export, o.duration + o.drain_timeout));
    tokio::time::sleep(o.duration / 2).await;
    let killed_at = started.elapsed().as_secs_f64();
    server.kill()?;
    tracing::warn!(at_s = killed_at, "gateway killed (SIGKILL)");
    let server = harness::restart(&launch)?;
    let back_at = started.elapsed().as_secs_f64();
    sampling.target.set(&server.url, server.pid());
    tracing::info!(after_s = back_at - killed_at, "gateway back on the same data");

    let storm = storm.await?;
    let reader = Reader::new(&server.url, &tokens.monitor);
    // The storm is over; the bulk ingest (and the dense phase behind it) still runs.
    let keywords = keyword_searchable(&reader, &storm.acknowledged, started).await?;
    let ingest = ingest.await??;
    let held = Holdings::read(&reader, started, o.drain_timeout).await?;
    let dense_missing = reader.unfindable(&storm.acknowledged, "dense").await?;
    let samples = sampling.finish().await?;
    server.stop()?;

    let c = &ingest.counts;
    let budget = o.cpu_threads as f64 + IO_ALLOWANCE;
    let cpu = Cpu::of(&samples, budget);
    let max_rss = samples.iter().filter_map(|s| s.rss_mib).fold(0.0, f64::max);
    let mut invariants = vec![
        Invariant::check("the gateway came back at once", back_at - killed_at < 30.0, format!("killed at {killed_at:.1} s, serving again at {back_at:.1} s")),
        Invariant::check("no alert lost", storm.lost == 0, format!("{} webhooks, {} accepted, {} lost, {} retried (refused while down, or 5xx)", storm.webhooks, storm.accepted, storm.lost, storm.retried)),
        Invariant::check(
            "every document stored once",
            ingest.finished() && c.sent + c.unchanged == bulk_documents as u64 && held.done_bulk == bulk_documents as i64,
            format!("{} documents sent ({} new, {} already there after the kill), {} document jobs done", bulk_documents, c.sent, c.unchanged, held.done_bulk),
        ),
        Invariant::check("outbox drained", held.drained_at.is_some(), format!("{:?} s", held.drained_at)),
        Invariant::check(
            "every acknowledged alert keyword-searchable after the restart",
            keywords.missing == 0,
            format!(
                "{} of {} missing {:.1} s after the storm ended ({:.1} s after the restart), {} jobs still awaiting their dense vectors then",
                keywords.missing,
                storm.acknowledged.len(),
                keywords.waited_s,
                keywords.at_s - back_at,
                keywords.awaiting_dense
            ),
        ),
        Invariant::check(
            "every acknowledged alert dense-searchable once drained",
            dense_missing.is_empty(),
            format!("{} of {} missing: {:?}", dense_missing.len(), storm.acknowledged.len(), dense_missing.iter().take(5).collect::<Vec<_>>()),
        ),
    ];
    invariants.extend(held.invariants(&storm.acknowledged, bulk_documents));
    let figures = json!({
        "capacity_texts_per_s": cap,
        "bulk_documents": bulk_documents,
        "killed_at_s": killed_at,
        "back_at_s": back_at,
        "drained_at_s": held.drained_at,
        "keyword_searchable_at_s": keywords.at_s,
        "awaiting_dense_then": keywords.awaiting_dense,
        "alerts": storm,
        "ingest": ingest,
        "final_status": held.status,
    });
    let chart = harness::chart(o, "crash", "crash drill: SIGKILL mid-storm", &samples, &storm.calls, budget);
    Ok(Run { label: "crash".into(), server_args: launch.args, figures, cpu, max_rss_mib: max_rss, invariants, chart, samples })
}
