//! Process plumbing shared by Firebreak's binaries (`firebreak`, `firebreak-embedder`):
//! logging and graceful shutdown, set up the same way everywhere.

use std::io::IsTerminal;

/// Logs to stderr, filtered by `FIREBREAK_LOG` (default `info`). Colour only on a
/// terminal: escape codes in `kubectl logs` or a log shipper are noise.
pub fn init_logging() {
    init_logging_with("info");
}

/// As [`init_logging`], with another default filter (a binary may quiet a dependency's
/// start-up chatter; `FIREBREAK_LOG` still overrides it).
pub fn init_logging_with(default_filter: &str) {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FIREBREAK_LOG").unwrap_or_else(|_| default_filter.into()),
        )
        .init();
}

/// Resolves on SIGTERM (what Kubernetes sends) or Ctrl-C, so servers stop accepting and
/// finish the requests they already accepted.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing accepted requests");
}
