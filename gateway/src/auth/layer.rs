//! The authentication layer, applied per route with the scope that route needs.
//!
//! Missing or unknown token: 401 with `WWW-Authenticate: Bearer`; a known token without
//! the scope: 403. Both are JSON errors and both are counted by reason, never logged
//! with the token.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::tokens::{Principal, Scope, Tokens};
use crate::api::errors::ApiError;
use crate::log_throttle::Throttle;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeniedLabel {
    reason: &'static str,
}

/// The token table and the refusal counter, shared by every route's layer.
#[derive(Clone)]
pub struct AuthState {
    tokens: Arc<Tokens>,
    denied: Family<DeniedLabel, Counter>,
    log: Arc<Throttle>,
}

impl AuthState {
    pub fn new(tokens: Arc<Tokens>, registry: &mut Registry) -> Self {
        let denied = Family::<DeniedLabel, Counter>::default();
        registry.register(
            "firebreak_auth_denied",
            "Requests refused by authentication, by reason (missing, invalid, scope)",
            denied.clone(),
        );
        AuthState { tokens, denied, log: Default::default() }
    }

    /// Whether the gateway has no tokens (every caller `anonymous`, loopback only).
    pub fn open(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Who is asking, or the refusal to send. `scope: None` accepts any valid token.
    fn authenticate(&self, req: &Request, scope: Option<Scope>) -> Result<Principal, ApiError> {
        if self.tokens.is_empty() {
            return Ok(Principal::anonymous());
        }
        let deny = |reason: &'static str, status: StatusCode, detail: String| {
            self.denied.get_or_create(&DeniedLabel { reason }).inc();
            if let Some(more) = self.log.due(reason) {
                tracing::warn!(reason, path = %req.uri().path(), denied_since_last_line = more, "request refused by authentication");
            }
            ApiError::new(status, if status == StatusCode::FORBIDDEN { "forbidden" } else { "unauthorized" }, detail)
        };
        let Some(header) = req.headers().get(AUTHORIZATION) else {
            return Err(deny("missing", StatusCode::UNAUTHORIZED, "send Authorization: Bearer <token>".into()));
        };
        let token = header.to_str().ok().and_then(|h| h.strip_prefix("Bearer ")).map(str::trim).unwrap_or("");
        let Some(p) = self.tokens.lookup(token) else {
            return Err(deny("invalid", StatusCode::UNAUTHORIZED, "unknown bearer token".into()));
        };
        if let Some(scope) = scope.filter(|s| !p.may(*s)) {
            return Err(deny(
                "scope",
                StatusCode::FORBIDDEN,
                format!("source {:?} lacks the {} scope for this route", p.source, scope.as_str()),
            ));
        }
        Ok(p.clone())
    }

    /// Authenticates `req` for `scope` (`None`: any valid token) and gives it its
    /// [`Principal`]; otherwise the refusal, ready to send. For routes whose scope depends
    /// on the request (`/mcp`: the tool called); the others use [`require`].
    pub fn admit(&self, req: &mut Request, scope: Option<Scope>) -> Result<(), Response> {
        match self.authenticate(req, scope) {
            Ok(p) => {
                req.extensions_mut().insert(p);
                Ok(())
            }
            Err(e) => {
                let unauthorized = e.status == StatusCode::UNAUTHORIZED;
                let mut resp = e.into_response();
                if unauthorized {
                    resp.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"firebreak\""));
                }
                Err(resp)
            }
        }
    }
}

/// Middleware for a route needing `scope`: use as
/// `middleware::from_fn_with_state((auth, Scope::X), require)`.
pub async fn require(State((auth, scope)): State<(AuthState, Scope)>, mut req: Request, next: Next) -> Response {
    match auth.admit(&mut req, Some(scope)) {
        Ok(()) => next.run(req).await,
        Err(refusal) => refusal,
    }
}

/// The authenticated source of a request, for handlers that key work by it (the
/// embedding budget). Outside the auth layer (never in the router) it is `anonymous`.
pub struct Caller(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Caller(parts.extensions.get::<Principal>().map(|p| p.source.clone()).unwrap_or_else(|| "anonymous".into())))
    }
}
