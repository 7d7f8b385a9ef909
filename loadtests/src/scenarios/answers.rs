//! Scenario 7, answers: `--concurrency` people in conversation with the answer endpoint
//! at once (50 in CI; each asks again 5 s after an answer) while an alert storm arrives, on a gateway whose LLM is the in-process chat model
//! on the same CPU budget as its embedder (`--chat-model`, SmolLM2). The promise under
//! test: asking questions, however many, never burns the node nor delays alerts.
//!
//! Invariants: every question answered 200 (generated, or extractive when the LLM lane is
//! full — the lane's queue refusing is the design); the model generated some of them;
//! every alert accepted, with accept p99 within `--max-alert-p99-ms`; the gateway's CPU
//! within `--cpu-threads` + the I/O allowance (measured on the process); memory bounded.

use serde_json::json;
use tokio::time::Instant;

use super::harness::{self, Sampling, Setup, IO_ALLOWANCE};
use super::Options;
use crate::latency::Percentiles;
use crate::report::{Cpu, Invariant, Run};
use crate::server::Server;
use crate::traffic::{alerts, chats};

pub async fn run(o: &Options) -> anyhow::Result<Run> {
    let setup = Setup::new()?;
    let tokens = &setup.tokens;
    let args: Vec<String> = [
        "--cpu-threads".to_string(),
        o.cpu_threads.to_string(),
        "--chat-model".into(),
        o.chat_model.display().to_string(),
        // The people asking are one token here: its rate would measure the policy.
        "--answers-rate".into(),
        "off".into(),
    ]
    .into_iter()
    .collect();
    let launch = setup.launch(o, &args);
    let server = Server::start(&launch)?;
    let started = Instant::now();
    let sampling = Sampling::start(&server, &tokens.monitor, started);
    tracing::info!(clients = o.concurrency, "answers");

    let asking = tokio::spawn(chats::run(
        chats::Chats {
            url: server.url.clone(),
            token: tokens.sre.clone(),
            clients: o.concurrency,
            duration: o.duration,
            max_tokens: 32,
            think: std::time::Duration::from_secs(5),
        },
        started,
    ));
    let storm = alerts::run(harness::storm(o, &server.url, &tokens.alertmanager), started).await;
    let asked = asking.await?;
    let samples = sampling.finish().await?;
    server.stop()?;

    let accepted_ms: Vec<f64> = storm.calls.iter().filter(|c| (200..300).contains(&c.status)).map(|c| c.ms).collect();
    let accept = Percentiles::of(&accepted_ms);
    let generated = Percentiles::of(&asked.generated_ms);
    let extractive = Percentiles::of(&asked.extractive_ms);
    let budget = o.cpu_threads as f64 + IO_ALLOWANCE;
    let cpu = Cpu::of(&samples, budget);
    let max_rss = samples.iter().filter_map(|s| s.rss_mib).fold(0.0, f64::max);
    let invariants = vec![
        Invariant::check(
            "every question answered",
            asked.sent > 0 && asked.failed == 0,
            format!(
                "{} asked by {} clients: {} generated (p50 {:.0} ms, p99 {:.0} ms), {} extractive (p50 {:.0} ms, p99 {:.0} ms), {} failed",
                asked.sent, o.concurrency, asked.generated, generated.p50_ms, generated.p99_ms, asked.extractive, extractive.p50_ms, extractive.p99_ms, asked.failed
            ),
        ),
        Invariant::check("the model answered some", asked.generated > 0, format!("{} generated answers", asked.generated)),
        Invariant::check(
            "alerts accepted in milliseconds",
            storm.lost == 0 && storm.accepted > 0 && accept.p99_ms <= o.max_alert_p99_ms,
            format!("{} webhooks accepted, {} lost; accept p50 {:.0} ms, p99 {:.0} ms (limit {:.0})", storm.accepted, storm.lost, accept.p50_ms, accept.p99_ms, o.max_alert_p99_ms),
        ),
        Invariant::check(
            "gateway CPU within its budget",
            cpu.p95 <= budget,
            format!("p50 {:.2}, p95 {:.2}, max {:.2} cores; budget {budget:.2} ({} inference + {IO_ALLOWANCE} I/O) of {} cores", cpu.p50, cpu.p95, cpu.max, o.cpu_threads, cpu.node_cores),
        ),
        Invariant::check("memory bounded", max_rss < 1024.0, format!("peak RSS {max_rss:.0} MiB")),
    ];
    let figures = json!({
        "clients": o.concurrency,
        "answers": asked,
        "generated_ms": generated,
        "extractive_ms": extractive,
        "alert_accept_ms": accept,
        "alerts": storm,
    });
    let chart = harness::chart(o, "answers", "answers: questions from many people during an alert storm", &samples, &storm.calls, budget);
    Ok(Run { label: "answers".into(), server_args: launch.args, figures, cpu, max_rss_mib: max_rss, invariants, chart, samples })
}
