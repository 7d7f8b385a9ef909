//! `serve`: the OpenAI-compatible service (embeddings, and chat with `--chat-model`), with graceful shutdown on SIGTERM/SIGINT so a
//! rolling update finishes the requests it accepted.

use std::process::ExitCode;

use firebreak_embedder::http::{router, AppState, HttpLimits};
use firebreak_embedder::chat::ChatEngine;
use firebreak_embedder::Embedder;
use prometheus_client::registry::Registry;

use crate::cli::ServeArgs;

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.http_threads.max(1))
        .thread_name("fb-http")
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut registry = Registry::default();
        let embedder = Embedder::start(args.engine.config()?, &mut registry)?;
        let chat = match args.chat.config() {
            Some(cfg) => Some(ChatEngine::start(cfg, embedder.budget().clone(), embedder.gate().clone(), &mut registry)?),
            None => None,
        };
        let limits = HttpLimits {
            max_request_bytes: args.max_request_bytes,
            max_inputs: args.max_inputs,
            max_concurrent_requests: args.max_concurrent_requests,
        };
        let has_chat = chat.is_some();
        let state = AppState::new(embedder, chat, registry, limits);
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        tracing::info!(listen = %listener.local_addr()?, chat = has_chat, "serving /v1/embeddings");
        axum::serve(listener, router(state)).with_graceful_shutdown(firebreak_embedder::process::shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    })
}
