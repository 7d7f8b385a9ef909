//! `firebreak-loadtest`: the scenarios that prove Firebreak's first promise against a real
//! `firebreak serve` on loopback. Each starts and stops the servers it needs, writes a JSON
//! report and a chart per run, prints a one-line verdict, and exits 1 when an invariant
//! breaks.

mod chart;
mod latency;
mod postgres;
mod prometheus;
mod qdrant;
mod report;
mod sampler;
mod scenarios;
mod server;
mod traffic;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tokio::time::Instant;

use report::Report;
use scenarios::Options;

#[derive(Parser)]
#[command(name = "firebreak-loadtest", version, about = "Load tests and drills for Firebreak")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Bulk ingest of ~10x the embedder's capacity, an alert storm and searches at once.
    DeathSpiral(Common),
    /// The death-spiral traffic against the protected gateway and one with every guard
    /// relaxed, side by side in one report.
    Baseline(Common),
    /// SIGKILL the gateway mid-storm and mid-ingest, restart it on the same data, and
    /// check that everything acknowledged is stored and embedded exactly once.
    Crash(Common),
    /// PostgreSQL stopped and started, the remote embedder hung (SIGSTOP) and woken, under
    /// load: recovery times, and nothing lost or doubled.
    Deps(Common),
    /// Alerts/s and documents/s sustained within the CPU budget, with latency percentiles.
    Throughput(Common),
    /// Real Prometheus and Alertmanager in front of the gateway: an alert fires, is
    /// delivered, searchable and resolved; deliveries during a database outage are retried
    /// until stored.
    Alertmanager(Common),
    /// --concurrency people asking /v1/chat/completions at once during an alert storm, the
    /// LLM in-process on the embedder's CPU budget: all answered, alerts in milliseconds,
    /// CPU within the budget.
    Answers(Common),
    /// Three gateways on one PostgreSQL and one Qdrant server (needs --qdrant): 1 vs 3
    /// replicas' throughput; one replica SIGKILLed and restarted and one stopped for good
    /// mid-stream (nothing lost, each item embedded once, leases taken over only once they
    /// ran out); Qdrant killed for 60 s under load (intake unaffected, breakers open and
    /// close, vectors back-filled).
    Replicas(Common),
}

#[derive(Args, Clone)]
struct Common {
    /// How long the storm and the searches last (30s, 2m).
    #[arg(long, default_value = "60s", value_parser = duration)]
    duration: Duration,
    /// Report file (JSON); charts are written beside it. Default: loadtests/reports/SCENARIO.json.
    #[arg(long)]
    report: Option<PathBuf>,
    /// The firebreak binary (default: the one next to this binary).
    #[arg(long)]
    firebreak: Option<PathBuf>,
    /// Model directory (scripts/fetch-model.sh).
    #[arg(long, env = "FIREBREAK_MODEL_DIR")]
    model: Option<PathBuf>,
    /// Inference threads of the protected gateway.
    #[arg(long, default_value_t = 1)]
    cpu_threads: usize,
    #[arg(long, default_value_t = 300)]
    alerts_per_second: u32,
    #[arg(long, default_value_t = 30)]
    alerts_per_webhook: usize,
    /// Distinct alerts in the storm; the rest are resends.
    #[arg(long, default_value_t = 600)]
    distinct_alerts: usize,
    #[arg(long, default_value_t = 2.0)]
    searches_per_second: f64,
    /// Bulk documents as a multiple of what the embedder can do in --duration.
    #[arg(long, default_value_t = 10.0)]
    bulk_factor: f64,
    /// How long after the storm the bulk may take to be accepted and the alerts to be embedded.
    #[arg(long, default_value = "10m", value_parser = duration)]
    drain_timeout: Duration,
    /// --max-bulk-backlog of the protected gateway (default: a fifth of the bulk).
    #[arg(long)]
    max_bulk_backlog: Option<usize>,
    /// Alert accept p99 allowed, in milliseconds.
    #[arg(long, default_value_t = 1000.0)]
    max_alert_p99_ms: f64,
    /// The firebreak-embedder binary for `deps` (default: the one next to this binary).
    #[arg(long)]
    embedder: Option<PathBuf>,
    /// Directory of PostgreSQL's initdb and pg_ctl for `deps` (default: the newest
    /// /usr/lib/postgresql/*/bin, else the PATH).
    #[arg(long, env = "FIREBREAK_PG_BIN")]
    pg_bin: Option<PathBuf>,
    /// Webhooks in flight at once in `throughput` (a closed loop).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Prometheus binary for `alertmanager` (Debian's package: prometheus).
    #[arg(long, default_value = "prometheus")]
    prometheus: PathBuf,
    /// Alertmanager binary for `alertmanager` (Debian's package: prometheus-alertmanager).
    #[arg(long, default_value = "prometheus-alertmanager")]
    alertmanager: PathBuf,
    /// The chat model for `answers` (scripts/fetch-chat-model.sh).
    #[arg(long, env = "FIREBREAK_CHAT_MODEL", default_value = "models/SmolLM2-135M-Instruct")]
    chat_model: PathBuf,
    /// A Qdrant server binary for `replicas` (built from source: docs/benchmarks.md,
    /// "Qdrant server"); each run starts its own on scratch storage.
    #[arg(long, env = "FIREBREAK_QDRANT_BIN")]
    qdrant: Option<PathBuf>,
}

fn duration(s: &str) -> Result<Duration, String> {
    firebreak_ingest::duration::parse(s).ok_or_else(|| format!("{s:?} is not a duration (30s, 2m)"))
}

impl Common {
    fn options(&self, scenario: &str) -> Options {
        Options {
            duration: self.duration,
            firebreak: self.firebreak.clone().unwrap_or_else(|| server::sibling_binary("firebreak")),
            model: self.model.clone().unwrap_or_else(server::default_model),
            report: self.report.clone().unwrap_or_else(|| PathBuf::from(format!("loadtests/reports/{scenario}.json"))),
            cpu_threads: self.cpu_threads.max(1),
            alerts_per_second: self.alerts_per_second.max(1),
            alerts_per_webhook: self.alerts_per_webhook.max(1),
            distinct_alerts: self.distinct_alerts.max(1),
            searches_per_second: self.searches_per_second,
            bulk_factor: self.bulk_factor,
            drain_timeout: self.drain_timeout,
            max_bulk_backlog: self.max_bulk_backlog,
            max_alert_p99_ms: self.max_alert_p99_ms,
            embedder: self.embedder.clone().unwrap_or_else(|| server::sibling_binary("firebreak-embedder")),
            pg_bin: self.pg_bin.clone(),
            concurrency: self.concurrency.max(1),
            prometheus: self.prometheus.clone(),
            alertmanager: self.alertmanager.clone(),
            chat_model: self.chat_model.clone(),
            qdrant: self.qdrant.clone(),
        }
    }
}

async fn scenario(s: Scenario) -> anyhow::Result<Report> {
    let (name, common, labels): (&'static str, Common, &[(&str, bool)]) = match s {
        Scenario::DeathSpiral(c) => ("death-spiral", c, &[("protected", false)]),
        Scenario::Baseline(c) => ("baseline", c, &[("protected", false), ("relaxed", true)]),
        Scenario::Crash(c) => ("crash", c, &[("crash", false)]),
        Scenario::Deps(c) => ("deps", c, &[("deps", false)]),
        Scenario::Throughput(c) => ("throughput", c, &[("throughput", false)]),
        Scenario::Alertmanager(c) => ("alertmanager", c, &[("alertmanager", false)]),
        Scenario::Answers(c) => ("answers", c, &[("answers", false)]),
        Scenario::Replicas(c) => ("replicas", c, &[("one", false), ("three", false), ("failover", false), ("qdrant-outage", false)]),
    };
    let o = common.options(name);
    let qdrant = if name == "replicas" { Some(scenarios::replicas::qdrant_bin(o.qdrant.as_ref())?) } else { None };
    if let Some(dir) = o.report.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let started_at = chrono::Utc::now().to_rfc3339();
    let t = Instant::now();
    let mut runs = Vec::new();
    for (label, relaxed) in labels {
        runs.push(match name {
            "crash" => scenarios::crash::run(&o).await?,
            "deps" => scenarios::deps::run(&o).await?,
            "throughput" => scenarios::throughput::run(&o).await?,
            "alertmanager" => scenarios::alertmanager::run(&o).await?,
            "answers" => scenarios::answers::run(&o).await?,
            "replicas" => {
                let q = qdrant.as_deref().expect("checked above");
                match *label {
                    "one" => scenarios::replicas::throughput(&o, q, 1).await?,
                    "three" => scenarios::replicas::throughput(&o, q, 3).await?,
                    "failover" => scenarios::replicas::failover(&o, q).await?,
                    _ => scenarios::replicas::qdrant_outage(&o, q).await?,
                }
            }
            _ => scenarios::death_spiral::run_one(&o, label, *relaxed).await?,
        });
    }
    // The verdict is the protected gateway's; the relaxed one shows what the guards are for.
    let verdict = if runs.iter().filter(|r| r.label != "relaxed").all(|r| r.passed()) { "pass" } else { "fail" };
    let report = Report { scenario: name, verdict, started_at, duration_seconds: t.elapsed().as_secs_f64(), runs };
    std::fs::write(&o.report, serde_json::to_vec_pretty(&report)?)?;
    println!("{}: {} — report {}", name, verdict.to_uppercase(), o.report.display());
    for r in &report.runs {
        let failed: Vec<&str> = r.invariants.iter().filter(|i| !i.ok).map(|i| i.name).collect();
        println!(
            "  {}: {}/{} invariants hold{}",
            r.label,
            r.invariants.len() - failed.len(),
            r.invariants.len(),
            if failed.is_empty() { String::new() } else { format!("; broken: {}", failed.join(", ")) }
        );
        for i in &r.invariants {
            println!("    [{}] {}: {}", if i.ok { "ok" } else { "FAIL" }, i.name, i.detail);
        }
    }
    Ok(report)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("FIREBREAK_LOG").unwrap_or_else(|_| "info".into()))
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("firebreak-loadtest: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(scenario(cli.scenario)) {
        Ok(r) if r.verdict == "pass" => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("firebreak-loadtest: {e:#}");
            ExitCode::from(2)
        }
    }
}
