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

use cli::{Cli, Command, IngestArgs, ServeArgs};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // qdrant-edge warns at every start about process-wide flags only Qdrant's server sets;
    // its real errors still show.
    firebreak_embedder::process::init_logging_with("info,qdrant_edge::common=error");
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
    gateway.shutdown(grace).await;
    Ok(ExitCode::SUCCESS)
}
