//! RED request metrics — rate, errors, duration — for every route of a service, so an
//! operator can alert on a 5xx rate of `/v1/alerts` or on search p99 without knowing the
//! service's own metrics:
//! `firebreak_http_requests_total{route, method, status}` and
//! `firebreak_http_request_duration_seconds{route}`, buckets from 1 ms to 10 s.
//!
//! The route label is the matched route's template (`/v1/incidents/{id}`), never the
//! request's path, and the method one of the standard ones or `other`: a scanner walking
//! random URLs or inventing methods adds no series. A request no route matched counts as
//! `unmatched`. Install it with `Router::layer` outside every other layer, so that a
//! request shed, refused or rate-limited before its handler is counted too; the duration
//! runs until the response's head is ready (a streamed body's tail is not in it).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Seconds: 1 ms to 10 s, about three buckets a decade, so p99 is resolved both for a
/// keyword search (milliseconds) and for a webhook waiting on a slow disk (seconds).
pub const BUCKETS: [f64; 13] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The route label of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The request metrics of one service; cheap to clone.
#[derive(Clone)]
pub struct Red {
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

impl Red {
    pub fn new(registry: &mut Registry) -> Self {
        let red = Red { requests: Family::default(), duration: Family::new_with_constructor(histogram as fn() -> Histogram) };
        registry.register(
            "firebreak_http_requests",
            "HTTP requests answered, by route template, method and status (refusals by a guard included)",
            red.requests.clone(),
        );
        registry.register(
            "firebreak_http_request_duration_seconds",
            "Time from a request's arrival to its response head, by route template",
            red.duration.clone(),
        );
        red
    }

    fn observe(&self, route: String, method: &Method, status: u16, seconds: f64) {
        self.requests.get_or_create(&RequestLabels { route: route.clone(), method: method_label(method), status }).inc();
        self.duration.get_or_create(&RouteLabels { route }).observe(seconds);
    }
}

/// The method as a label: the standard ones by name, anything else `other`.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// The middleware: `router.layer(axum::middleware::from_fn_with_state(red, red::record))`.
pub async fn record(State(red): State<Red>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or(UNMATCHED, |p| p.as_str()).to_owned();
    let method = req.method().clone();
    let start = Instant::now();
    let resp = next.run(req).await;
    red.observe(route, &method, resp.status().as_u16(), start.elapsed().as_secs_f64());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::middleware::from_fn_with_state;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    async fn call(app: &Router, method: &str, uri: &str) -> u16 {
        let req = axum::http::Request::builder().method(method).uri(uri).body(Body::empty()).unwrap();
        app.clone().oneshot(req).await.unwrap().status().as_u16()
    }

    #[tokio::test]
    async fn routes_are_counted_by_template_and_unknowns_add_no_series() {
        let mut registry = Registry::default();
        let red = Red::new(&mut registry);
        let app = Router::new()
            .route("/v1/items/{id}", get(|| async { "ok" }))
            .layer(from_fn_with_state(red, record));
        assert_eq!(call(&app, "GET", "/v1/items/1").await, 200);
        assert_eq!(call(&app, "GET", "/v1/items/2").await, 200);
        assert_eq!(call(&app, "POST", "/v1/items/3").await, 405);
        assert_eq!(call(&app, "GET", "/random/scan/path").await, 404);
        assert_eq!(call(&app, "BREW", "/v1/items/4").await, 405);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        let line = |l: &str| out.lines().any(|x| x == l);
        assert!(line(r#"firebreak_http_requests_total{route="/v1/items/{id}",method="GET",status="200"} 2"#), "{out}");
        assert!(line(r#"firebreak_http_requests_total{route="/v1/items/{id}",method="POST",status="405"} 1"#), "{out}");
        assert!(line(r#"firebreak_http_requests_total{route="unmatched",method="GET",status="404"} 1"#), "{out}");
        assert!(line(r#"firebreak_http_requests_total{route="/v1/items/{id}",method="other",status="405"} 1"#), "{out}");
        assert!(!out.contains("/random") && !out.contains("/v1/items/1"), "{out}");
        assert!(line(r#"firebreak_http_request_duration_seconds_bucket{le="10.0",route="/v1/items/{id}"} 4"#), "{out}");
        assert!(line(r#"firebreak_http_request_duration_seconds_count{route="/v1/items/{id}"} 4"#), "{out}");
    }
}
