//! `GET /metrics`, and the metrics of the API's own refusals and of ingest runs, so a
//! sender that is being turned away, or a CronJob that never ends, shows up on a dashboard
//! before anyone asks. Requests by route and their latency (RED) are counted by the layer
//! in `firebreak_http::red`, around every route.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use axum::extract::State;

use super::ApiState;
use crate::log_throttle::Throttle;

/// Every metric of the gateway, in the OpenMetrics text format. Open (no token): the
/// scraper must reach it while every API guard is refusing.
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "metrics",
    responses((status = 200, description = "Prometheus metrics: OpenMetrics 1.0 text, every family with its HELP line", body = String, content_type = "application/openmetrics-text")))]
pub async fn metrics(State(state): State<ApiState>) -> axum::response::Response {
    firebreak_http::render_metrics(&state.registry)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

/// The handlers' metrics.
#[derive(Clone)]
pub struct ApiMetrics {
    alerts_refused: Family<ReasonLabel, Counter>,
    run_age: Family<SourceLabel, Gauge>,
    /// One log line a minute per kind of refusal (crate::log_throttle).
    pub log: std::sync::Arc<Throttle>,
}

impl ApiMetrics {
    pub fn new(registry: &mut Registry) -> Self {
        let m = ApiMetrics { alerts_refused: Family::default(), run_age: Family::default(), log: Default::default() };
        registry.register(
            "firebreak_alerts_refused",
            "Webhooks refused for their content (Alertmanager drops a notification answered 4xx), by error code",
            m.alerts_refused.clone(),
        );
        registry.register(
            "firebreak_ingest_run_age_seconds",
            "Age of each source's latest ingest run at its last call; above --ingest-run-max-age the run is refused (409)",
            m.run_age.clone(),
        );
        m
    }

    pub fn alert_refused(&self, code: &'static str) {
        self.alerts_refused.get_or_create(&ReasonLabel { reason: code }).inc();
    }

    pub fn ingest_run_age(&self, source: &str, seconds: i64) {
        self.run_age.get_or_create(&SourceLabel { source: source.to_owned() }).set(seconds);
    }
}
