//! `firebreak`: the gateway. `serve` runs the HTTP API, the outbox worker and the
//! embedding scheduler; `migrate` applies the schema and exits; `ingest` is the CronJob
//! client that sends documents to a gateway (crate `firebreak-ingest`).
//!
//! With no flags but the model, `serve` runs the embedded default: SQLite and a
//! qdrant-edge shard under `--data-dir`, the embedder in-process under its CPU budget.

mod cli;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use firebreak_gateway::app::{open_store, Gateway};
use firebreak_gateway::serve::{self, ConnLimits};

use cli::{Cli, Command, EvalArgs, IngestArgs, ServeArgs};

fn main() -> ExitCode {
    let renamed = firebreak_embedder::process::adopt_renamed_env();
    let cli = Cli::parse();
    // qdrant-edge warns at every start about process-wide flags only Qdrant's server sets;
    // its real errors still show.
    // `eval` runs a private gateway whose every request would log a line: its own
    // figures are the output, so only warnings show unless FIREBREAK_LOG asks for more.
    let default_log = match cli.command {
        Command::Eval(_) => "warn,qdrant_edge::common=error",
        _ => "info,qdrant_edge::common=error",
    };
    firebreak_embedder::process::init_logging_with(default_log);
    firebreak_embedder::process::warn_renamed_env(&renamed);
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(cli.runtime_threads()).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("firebreak: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Migrate(args) => {
                open_store(&args.data_dir, args.database_url.as_deref(), args.db_max_connections).await.map(|_| ExitCode::SUCCESS)
            }
            Command::Serve(args) => serve(*args).await,
            Command::Ingest(args) => ingest(args).await,
            Command::Eval(args) => eval(*args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("firebreak: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs one ingest; the summary goes to stdout as one JSON line (for the CronJob's log
/// and scripts), a sentence for people to stderr.
async fn ingest(args: IngestArgs) -> anyhow::Result<ExitCode> {
    let summary = firebreak_ingest::run(args.config()?).await?;
    println!("{}", serde_json::to_string(&summary)?);
    let c = &summary.counts;
    let left = if summary.left_at_least { format!("at least {}", c.left) } else { c.left.to_string() };
    match &summary.stopped {
        None => eprintln!(
            "firebreak ingest: run {} done: {} sent, {} unchanged, {} skipped, {} bad inputs, {} refused",
            summary.run_id, c.sent, c.unchanged, c.skipped_delivered + c.skipped_since, c.bad_inputs, c.refused
        ),
        Some(why) => eprintln!(
            "firebreak ingest: run {} STOPPED: {why}. Done: {} sent, {} unchanged. Left: {left} documents; the next run resumes them",
            summary.run_id, c.sent, c.unchanged
        ),
    }
    for e in &summary.errors {
        eprintln!("  {e}");
    }
    Ok(if summary.finished() { ExitCode::SUCCESS } else { ExitCode::from(3) })
}

/// Measures retrieval on each set, against `--url` or a fresh embedded gateway per set,
/// and gates every set's figures.
async fn eval(args: EvalArgs) -> anyhow::Result<ExitCode> {
    use firebreak_gateway::eval;
    let sets = args.set.iter().map(|p| eval::EvalSet::load(p)).collect::<anyhow::Result<Vec<_>>>()?;
    let mut names: Vec<&str> = sets.iter().map(|s| s.name.as_str()).collect();
    names.sort();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        anyhow::bail!("two sets are named {:?}: reports and the gate tell sets apart by file name", w[0]);
    }
    if args.url.is_some() && sets.len() > 1 {
        anyhow::bail!("--url measures one set: a second would be ranked among the first one's incidents");
    }
    // Read before the runs: a gate file that cannot be read should not cost a measurement.
    let floors = match &args.gate {
        Some(path) => {
            let doc = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Some((path, eval::gate::floors(&doc).with_context(|| format!("in {}", path.display()))?))
        }
        None => None,
    };
    let opts = eval::EvalOptions { k: args.results.max(1), drain_timeout: Duration::from_secs(args.drain_timeout_secs) };
    let mut reports = Vec::with_capacity(sets.len());
    for set in &sets {
        let report = match &args.url {
            Some(url) => eval::run(&eval::Client::new(url, args.token.clone())?, set, &opts).await?,
            None => eval_embedded(&args.serve, set, &opts).await?,
        };
        print!("{}", report.render(args.verbose));
        println!();
        reports.push(report);
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&reports)?).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some((path, floors)) = floors {
        let worse: Vec<String> = reports.iter().flat_map(|r| eval::gate::regressions(&r.set, &r.figures, &floors)).collect();
        if !worse.is_empty() {
            eprintln!("firebreak eval: REGRESSION against {}:", path.display());
            for w in &worse {
                eprintln!("  {w}");
            }
            return Ok(ExitCode::from(1));
        }
        eprintln!("firebreak eval: no figure of {} below those recorded in {}", names.join(", "), path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// One set against a private gateway in a temporary directory: nobody else calls it, so
/// its rate limits and budgets would only slow the measurement down.
async fn eval_embedded(
    serve_args: &ServeArgs,
    set: &firebreak_gateway::eval::EvalSet,
    opts: &firebreak_gateway::eval::EvalOptions,
) -> anyhow::Result<firebreak_gateway::eval::EvalReport> {
    use firebreak_gateway::eval;
    let dir = tempfile::tempdir()?;
    let mut cfg = serve_args.config()?;
    cfg.data_dir = dir.path().to_path_buf();
    cfg.database_url = None;
    cfg.api.rates = firebreak_gateway::api::RateLimits::unlimited();
    cfg.budget = firebreak_gateway::guards::budget::BudgetLimits::unlimited();
    cfg.tokens = Default::default();
    let gateway = Gateway::start(cfg).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let limits = ConnLimits { header_read_timeout: Duration::from_secs(5), grace: Duration::from_secs(1) };
    let server = tokio::spawn(serve::serve(listener, gateway.router(), limits, async move {
        let _ = stopped.await;
    }));
    let report = eval::run(&eval::Client::new(&url, None)?, set, opts).await;
    let _ = stop.send(());
    let _ = server.await;
    gateway.shutdown(Duration::from_secs(1)).await;
    report
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let listen = args.listen;
    let grace = Duration::from_secs(args.shutdown_grace_secs);
    let header_read_timeout = Duration::from_millis(args.header_read_timeout_ms.max(100));
    let cfg = args.config()?;
    firebreak_gateway::auth::check_bind(listen, &cfg.tokens).map_err(|e| anyhow::anyhow!(e))?;
    let gateway = Gateway::start(cfg).await?;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    tracing::info!(listen = %listener.local_addr()?, "firebreak serving");
    let limits = ConnLimits { header_read_timeout, grace };
    serve::serve(listener, gateway.router(), limits, firebreak_embedder::process::shutdown_signal()).await;
    let stopping = std::time::Instant::now();
    gateway.shutdown(grace).await;
    // The last line: an operator reading a pod's log after a rollout sees it ended cleanly.
    tracing::info!(took = ?stopping.elapsed(), "firebreak stopped");
    Ok(ExitCode::SUCCESS)
}
