//! Authentication: bearer tokens name a source and its scopes ([`tokens`]); a tower
//! layer ([`layer`]) checks each request against the scope its route needs and hands the
//! [`tokens::Principal`] on, so every limit downstream is keyed by who is asking, not by
//! an IP address that a NAT or a sidecar makes meaningless.
//!
//! Without any token the gateway serves loopback only (a local trial); bound anywhere
//! else without tokens it refuses to start ([`check_bind`]).

pub mod layer;
pub mod tokens;

use std::net::SocketAddr;

pub use layer::{require, AuthState, Caller};
pub use tokens::{Principal, Scope, Tokens};

/// Refuses an open (token-less) server on a non-loopback address; warns on loopback.
pub fn check_bind(addr: SocketAddr, tokens: &Tokens) -> Result<(), String> {
    if !tokens.is_empty() {
        tracing::info!(tokens = tokens.len(), "authentication on: bearer tokens required");
        return Ok(());
    }
    if addr.ip().is_loopback() {
        tracing::warn!(%addr, "no tokens configured: every request is accepted as `anonymous`; \
            this is only allowed on loopback (set --tokens-file or FIREBREAK_TOKENS to serve a network)");
        Ok(())
    } else {
        Err(format!(
            "refusing to serve {addr} without authentication: give --tokens-file or FIREBREAK_TOKENS \
             (or listen on 127.0.0.1 for a local trial)"
        ))
    }
}
