//! Request rate per authenticated source and route: GCRA with a burst (governor), keyed
//! by the [`Principal`]'s source, never by IP (a NAT or sidecar makes IPs meaningless).
//!
//! Every answer carries `x-ratelimit-limit` (the burst), `x-ratelimit-remaining` and
//! `x-ratelimit-reset` (seconds until the burst is whole again), so a well-behaved client
//! paces itself before it is refused. Refused requests get `Retry-After`.
//!
//! The alert route refuses with **503**, not 429: Alertmanager's webhook integration
//! retries 5xx and drops a notification answered with any 4xx, 429 included. A rate limit
//! exists to protect the node, never to lose an alert, so alerts are told "later", which
//! Alertmanager understands. Every other client gets the standard 429.

use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::api::errors::ApiError;
use crate::auth::Principal;
use crate::log_throttle::Throttle;

/// A sustained rate and the burst allowed above it. Written `PER_MINUTE[:BURST]` in flags
/// (`600:120`), or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_minute: u32,
    pub burst: u32,
}

impl Rate {
    pub const fn new(per_minute: u32, burst: u32) -> Self {
        Rate { per_minute, burst }
    }

    /// Time for one request's worth of allowance to come back.
    fn interval(&self) -> Duration {
        Duration::from_secs(60) / self.per_minute.max(1)
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (rate, burst) = match s.split_once(':') {
            Some((r, b)) => (r, Some(b)),
            None => (s, None),
        };
        let parse = |v: &str, what: &str| -> Result<u32, String> {
            match v.trim().parse::<u32>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("{what} in {s:?} must be a whole number above 0 (write PER_MINUTE[:BURST])")),
            }
        };
        let per_minute = parse(rate, "the rate per minute")?;
        let burst = match burst {
            Some(b) => parse(b, "the burst")?,
            None => per_minute.div_ceil(5).max(1),
        };
        Ok(Rate { per_minute, burst })
    }
}

/// The routes that have a rate of their own. Queries share one: search, listing, status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteClass {
    Alerts,
    Ingest,
    Query,
    Notes,
    Embeddings,
    Answers,
}

impl RouteClass {
    pub const ALL: [RouteClass; 6] =
        [RouteClass::Alerts, RouteClass::Ingest, RouteClass::Query, RouteClass::Notes, RouteClass::Embeddings, RouteClass::Answers];

    pub fn as_str(self) -> &'static str {
        match self {
            RouteClass::Alerts => "alerts",
            RouteClass::Ingest => "ingest",
            RouteClass::Query => "query",
            RouteClass::Notes => "notes",
            RouteClass::Embeddings => "embeddings",
            RouteClass::Answers => "answers",
        }
    }
}

/// Per-source rates of each route class (`None`: unlimited, for tests and trusted setups).
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    pub alerts: Option<Rate>,
    pub ingest: Option<Rate>,
    pub query: Option<Rate>,
    pub notes: Option<Rate>,
    pub embeddings: Option<Rate>,
    pub answers: Option<Rate>,
}

impl Default for RateLimits {
    /// Per source. Alertmanager sends one notification per group per `group_interval`, so
    /// 10/s sustained is a storm already; an ingest call carries up to 256 documents, so 2
    /// calls/s is far more than the embedder can follow; queries are people and agents.
    fn default() -> Self {
        RateLimits {
            alerts: Some(Rate::new(600, 120)),
            ingest: Some(Rate::new(120, 20)),
            query: Some(Rate::new(300, 60)),
            notes: Some(Rate::new(60, 20)),
            embeddings: Some(Rate::new(120, 20)),
            // A person asks a question every few seconds at most; the LLM lane's own
            // queue and token budget bound what the answers cost.
            answers: Some(Rate::new(30, 10)),
        }
    }
}

impl RateLimits {
    /// No limits at all.
    pub fn unlimited() -> Self {
        RateLimits { alerts: None, ingest: None, query: None, notes: None, embeddings: None, answers: None }
    }

    fn get(&self, class: RouteClass) -> Option<Rate> {
        match class {
            RouteClass::Alerts => self.alerts,
            RouteClass::Ingest => self.ingest,
            RouteClass::Query => self.query,
            RouteClass::Notes => self.notes,
            RouteClass::Embeddings => self.embeddings,
            RouteClass::Answers => self.answers,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusedLabel {
    route: &'static str,
    source: String,
}

type Keyed = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// One route class's limiter. The key space is the token table's sources (plus
/// `anonymous`), so the state stays small whatever the traffic.
#[derive(Clone)]
pub struct RouteRate {
    class: RouteClass,
    rate: Option<(Rate, Arc<Keyed>)>,
    refused: Family<RefusedLabel, Counter>,
    log: Arc<Throttle>,
}

/// The limiters of all route classes, built once: routes of one class share one
/// allowance per source (a search and an incident read both spend the query rate).
#[derive(Clone)]
pub struct Rates {
    routes: Vec<RouteRate>,
}

impl Rates {
    pub fn new(limits: RateLimits, registry: &mut Registry) -> Self {
        let refused = Family::<RefusedLabel, Counter>::default();
        registry.register(
            "firebreak_rate_limited",
            "Requests refused by the per-source rate limit, by route class and source",
            refused.clone(),
        );
        let log = Arc::new(Throttle::default());
        let routes = RouteClass::ALL
            .into_iter()
            .map(|class| {
                let rate = limits.get(class).map(|r| {
                    let per = NonZeroU32::new(r.per_minute.max(1)).expect("max(1)");
                    let burst = NonZeroU32::new(r.burst.max(1)).expect("max(1)");
                    let quota = Quota::per_minute(per).allow_burst(burst);
                    (r, Arc::new(RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>()))
                });
                RouteRate { class, rate, refused: refused.clone(), log: log.clone() }
            })
            .collect();
        Rates { routes }
    }

    /// The limiter for one route class.
    pub fn route(&self, class: RouteClass) -> RouteRate {
        self.routes.iter().find(|r| r.class == class).cloned().expect("every class is built")
    }
}

fn set_headers(h: &mut HeaderMap, rate: Rate, remaining: u32) {
    let reset = rate.interval() * rate.burst.saturating_sub(remaining);
    for (name, v) in [("x-ratelimit-limit", rate.burst as u64), ("x-ratelimit-remaining", remaining as u64), ("x-ratelimit-reset", reset.as_secs_f64().ceil() as u64)] {
        h.insert(name, HeaderValue::from(v));
    }
}

/// What one request was allowed: the rate-limit headers its answer carries.
pub struct Allowance(Option<(Rate, u32)>);

impl Allowance {
    /// Sets `x-ratelimit-*` on the answer (nothing for an unlimited class).
    pub fn stamp(&self, h: &mut HeaderMap) {
        if let Some((rate, remaining)) = self.0 {
            set_headers(h, rate, remaining);
        }
    }
}

impl RouteRate {
    /// Charges one request to the source it was authenticated as; the refusal, ready to
    /// send, when the source is over its rate. For routes whose class depends on the
    /// request (`/mcp`: the tool called); the others use [`limit`].
    pub fn charge(&self, req: &Request) -> Result<Allowance, Response> {
        let Some((rate, limiter)) = &self.rate else { return Ok(Allowance(None)) };
        let source = req.extensions().get::<Principal>().map(|p| p.source.clone()).unwrap_or_else(|| "anonymous".into());
        match limiter.check_key(&source) {
            Ok(snapshot) => Ok(Allowance(Some((*rate, snapshot.remaining_burst_capacity())))),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let wait = Duration::from_secs(wait.as_secs_f64().ceil() as u64).max(Duration::from_secs(1));
                self.refused.get_or_create(&RefusedLabel { route: self.class.as_str(), source: source.clone() }).inc();
                if let Some(more) = self.log.due(&format!("{}/{source}", self.class.as_str())) {
                    tracing::warn!(%source, route = self.class.as_str(), ?wait, refused_since_last_line = more, "source over its request rate: refusing");
                }
                // Alertmanager retries 5xx only (see the module docs).
                let status =
                    if self.class == RouteClass::Alerts { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::TOO_MANY_REQUESTS };
                let detail = format!(
                    "source {source:?} is over {} requests/min (burst {}) on {} routes",
                    rate.per_minute,
                    rate.burst,
                    self.class.as_str()
                );
                let mut resp = ApiError::new(status, "rate_limited", detail).retry_after(wait).into_response();
                set_headers(resp.headers_mut(), *rate, 0);
                Err(resp)
            }
        }
    }
}

/// The middleware; runs after authentication, which put the [`Principal`] in the request.
pub async fn limit(State(route): State<RouteRate>, req: Request, next: Next) -> Response {
    match route.charge(&req) {
        Ok(allowance) => {
            let mut resp = next.run(req).await;
            allowance.stamp(resp.headers_mut());
            resp
        }
        Err(refusal) => refusal,
    }
}

#[cfg(test)]
mod tests {
    use super::Rate;

    #[test]
    fn rates_parse_with_and_without_burst_and_refuse_zero() {
        assert_eq!("600:120".parse::<Rate>().unwrap(), Rate::new(600, 120));
        assert_eq!("60".parse::<Rate>().unwrap(), Rate::new(60, 12));
        assert_eq!("1".parse::<Rate>().unwrap(), Rate::new(1, 1));
        assert!("0:5".parse::<Rate>().is_err());
        assert!("10:0".parse::<Rate>().is_err());
        assert!("ten".parse::<Rate>().is_err());
    }
}
