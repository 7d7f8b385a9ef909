//! MCP (the Model Context Protocol) at `/mcp`: the incident memory as tools for agents
//! (HolmesGPT, kagent, Claude Code, LibreChat's agents), on the gateway's listener.
//!
//! Streamable HTTP, stateless: every POST carries one JSON-RPC message and is answered on
//! its own (JSON, or SSE when the client asks for a stream), so any replica answers any
//! call and nothing is held between calls. Clients negotiating the 2025 revisions
//! (`initialize` first) and the stateless 2026-07-28 one are both served; the protocol is
//! rmcp's, the official Rust SDK's. The tools ([`tools`]) are adapters over the query
//! services; the guards in front ([`guard`]) are the REST routes' own, per tool.
//!
//! Browsers: a request carrying an `Origin` header is refused unless that origin is
//! listed (`--mcp-allowed-origins`), as the protocol asks; agents send none. Without
//! tokens the gateway serves loopback only and `/mcp` also checks the `Host` header
//! against the loopback names, so a web page cannot reach a local trial through DNS
//! rebinding; with tokens every Host is accepted unless `--mcp-allowed-hosts` lists them.

pub mod guard;
pub mod metrics;
pub mod tools;

use std::sync::Arc;

use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

pub use guard::McpGuard;
pub use metrics::ToolMetrics;
pub use tools::Tools;

/// The endpoint's settings (each has a flag and a `FIREBREAK_*` variable).
#[derive(Debug, Clone, Default)]
pub struct McpSettings {
    /// Browser origins allowed to call (`https://chat.example.com`); none by default.
    pub allowed_origins: Vec<String>,
    /// `Host` values accepted; empty: the loopback names without tokens, any with them.
    pub allowed_hosts: Vec<String>,
}

/// The names a loopback-only gateway is reached by.
const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The MCP service for `/mcp`. `open`: the gateway has no tokens (loopback only).
pub fn service(tools: Tools, settings: &McpSettings, open: bool, max_body_bytes: usize) -> StreamableHttpService<Tools, NeverSessionManager> {
    let hosts: Vec<String> = match (&settings.allowed_hosts[..], open) {
        ([], true) => LOOPBACK_HOSTS.iter().map(|h| h.to_string()).collect(),
        ([], false) => Vec::new(),
        (listed, _) => listed.to_vec(),
    };
    let mut config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_allowed_origins(settings.allowed_origins.clone())
        .enforce_origin_validation()
        .with_max_request_body_bytes(max_body_bytes);
    config = if hosts.is_empty() { config.disable_allowed_hosts() } else { config.with_allowed_hosts(hosts) };
    StreamableHttpService::new(move || Ok(tools.clone()), Arc::new(NeverSessionManager::default()), config)
}

/// The endpoint as the OpenAPI document shows it; the protocol itself is JSON-RPC,
/// described by MCP's own schema (docs/mcp.md).
#[utoipa::path(post, path = "/mcp", tag = "mcp", operation_id = "mcp",
    request_body(content = Object, content_type = "application/json",
        description = "One JSON-RPC 2.0 message: initialize, server/discover, tools/list, tools/call, ping, a notification. Batches are refused."),
    responses((status = 200, description = "The JSON-RPC response (application/json; text/event-stream when the client accepts only that); a tool's failure is a result with isError"),
              (status = 202, description = "A notification or response from the client, accepted"),
              (status = 400, description = "A batch, or not a JSON-RPC message: a JSON-RPC error", body = Object),
              (status = 401, description = "No or unknown token: a JSON-RPC error, code -32401, with WWW-Authenticate", body = Object),
              (status = 403, description = "A tool beyond the token's scopes (-32403), or a browser Origin not in --mcp-allowed-origins", body = Object),
              (status = 406, description = "Accept lists neither application/json nor text/event-stream"),
              (status = 413, description = "A body over --max-body-bytes (-32413)", body = Object),
              (status = 429, description = "The source over the rate of the tool's route class (-32429), with Retry-After and x-ratelimit-*", body = Object)))]
#[allow(dead_code)]
pub fn endpoint() {}
