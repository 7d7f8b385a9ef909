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

/// Environment variables that were renamed, old name → new: the length limits became
/// characters (`…_BYTES` → `…_CHARS`), as the API documents count. A deployment that
/// still sets an old name keeps its value instead of silently falling back to the default.
pub const RENAMED_ENV: [(&str, &str); 5] = [
    ("FIREBREAK_MAX_INPUT_BYTES", "FIREBREAK_MAX_INPUT_CHARS"),
    ("FIREBREAK_MAX_QUERY_BYTES", "FIREBREAK_MAX_QUERY_CHARS"),
    ("FIREBREAK_MAX_LABEL_NAME_BYTES", "FIREBREAK_MAX_LABEL_NAME_CHARS"),
    ("FIREBREAK_MAX_LABEL_VALUE_BYTES", "FIREBREAK_MAX_LABEL_VALUE_CHARS"),
    ("FIREBREAK_ANSWER_MAX_QUESTION_BYTES", "FIREBREAK_ANSWER_MAX_QUESTION_CHARS"),
];

/// Copies each old variable of [`RENAMED_ENV`] that is set to its new name (unless the new
/// one is set too, which wins), before the flags are parsed; returns one warning per old
/// name seen, for the log once it is up. Call it first thing in `main`, while the process
/// has one thread.
pub fn adopt_renamed_env() -> Vec<String> {
    let mut warnings = Vec::new();
    for (old, new) in RENAMED_ENV {
        let Some(value) = std::env::var_os(old) else { continue };
        if std::env::var_os(new).is_some() {
            warnings.push(format!("{old} is ignored: {new} is set (the limit counts characters now)"));
        } else {
            std::env::set_var(new, value);
            warnings.push(format!("{old} is read as {new}: the limit counts characters now; rename it"));
        }
    }
    warnings
}

/// Logs what [`adopt_renamed_env`] found.
pub fn warn_renamed_env(warnings: &[String]) {
    for w in warnings {
        tracing::warn!("{w}");
    }
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
