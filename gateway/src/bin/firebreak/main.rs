//! `firebreak`: the gateway. `serve` runs the HTTP API; `migrate` applies the schema.
//!
//! Embedded default: with no `--database-url`, a SQLite file under `--data-dir`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use firebreak_gateway::api::{router, ApiLimits, ApiState};
use firebreak_gateway::store::sql::{redact, StoreConfig};
use firebreak_gateway::store::{Dialect, SqlxStore};

#[derive(Parser)]
#[command(name = "firebreak", version, about = "Rate-limited embedding and RAG gateway for Kubernetes operations")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (alerts, ingest, probes).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate(StoreArgs),
}

#[derive(Args, Clone)]
struct StoreArgs {
    /// Directory for the embedded SQLite database (and, later, the vector index).
    #[arg(long, env = "FIREBREAK_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// postgres://… for production; unset: SQLite in --data-dir.
    #[arg(long, env = "FIREBREAK_DATABASE_URL")]
    database_url: Option<String>,
    /// Database connections held at most.
    #[arg(long, env = "FIREBREAK_DB_MAX_CONNECTIONS", default_value_t = 8)]
    db_max_connections: u32,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Address to listen on.
    #[arg(long, env = "FIREBREAK_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Largest request body in bytes (413 beyond).
    #[arg(long, env = "FIREBREAK_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    max_body_bytes: usize,
    /// Most documents per ingest call (413 beyond).
    #[arg(long, env = "FIREBREAK_MAX_DOCUMENTS_PER_INGEST", default_value_t = 256)]
    max_documents_per_ingest: usize,
}

async fn open_store(args: &StoreArgs) -> anyhow::Result<SqlxStore> {
    let url = match &args.database_url {
        Some(u) => u.clone(),
        None => {
            std::fs::create_dir_all(&args.data_dir)
                .with_context(|| format!("creating data dir {}", args.data_dir.display()))?;
            Dialect::sqlite_url(&args.data_dir)
        }
    };
    let mut cfg = StoreConfig::new(&url);
    cfg.max_connections = args.db_max_connections;
    let store = SqlxStore::open(&cfg).await.with_context(|| format!("opening store {}", redact(&url)))?;
    tracing::info!(store = %redact(&url), "store ready (migrations applied)");
    Ok(store)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    firebreak_embedder::process::init_logging();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("firebreak: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Migrate(args) => open_store(&args).await.map(|_| ()),
            Command::Serve(args) => serve(args).await,
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
    let store = open_store(&args.store).await?;
    let limits = ApiLimits { max_body_bytes: args.max_body_bytes, max_documents_per_ingest: args.max_documents_per_ingest };
    let app = router(ApiState { store: Arc::new(store), limits });
    let listener = tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    tracing::info!(listen = %listener.local_addr()?, "firebreak serving");
    axum::serve(listener, app).with_graceful_shutdown(firebreak_embedder::process::shutdown_signal()).await?;
    Ok(())
}
