//! `firebreak`: the gateway. `serve` runs the HTTP API, the outbox worker and the
//! embedding scheduler; `migrate` applies the schema and exits.
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

use cli::{Cli, Command, ServeArgs};

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
                open_store(&args.data_dir, args.database_url.as_deref(), args.db_max_connections).await.map(|_| ())
            }
            Command::Serve(args) => serve(*args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("firebreak: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
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
    Ok(())
}
