//! `POST /v1/alerts`: the Alertmanager webhook receiver.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::Json;
use firebreak_http::json_body_with_raw;

use super::errors::{rejected, store_error, ApiError};
use super::ApiState;
use crate::alertmanager::Webhook;
use crate::auth::Caller;
use crate::clock::now_millis;
use crate::pipeline::store::WebhookOutcome;

/// Stores the notification and answers with what it did. The 200 comes after the commit.
///
/// Links: the incidents these alerts opened, and the past incidents like the first one.
#[utoipa::path(post, path = "/v1/alerts", tag = "intake", operation_id = "receiveAlerts",
    request_body(content = Webhook, description = "Alertmanager's webhook payload (version 4), as it sends it", example = json!({
        "version": "4", "groupKey": "{}:{alertname=\"KubePodCrashLooping\"}", "truncatedAlerts": 0,
        "status": "firing", "receiver": "firebreak",
        "groupLabels": {"alertname": "KubePodCrashLooping"},
        "commonLabels": {"alertname": "KubePodCrashLooping", "namespace": "mail", "severity": "warning"},
        "commonAnnotations": {}, "externalURL": "http://alertmanager.monitoring:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "KubePodCrashLooping", "namespace": "mail", "pod": "postfix-0", "container": "postfix", "severity": "warning"},
            "annotations": {"summary": "Pod mail/postfix-0 is crash looping", "description": "Pod mail/postfix-0 (postfix) is in waiting state (reason: CrashLoopBackOff)."},
            "startsAt": "2026-12-07T03:12:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.monitoring:9090/graph?g0.expr=kube_pod_container_status_waiting_reason", "fingerprint": "3f0a1b2c4d5e6f70"
        }]
    })),
    responses((status = 200, description = "Stored", body = WebhookOutcome, links(
                  ("incidentsOfTheseAlerts" = (operation_id = "listIncidents", description = "The occurrences stored under the first alert's name",
                      parameters(("alertname" = "$request.body#/alerts/0/labels/alertname")))),
                  ("pastIncidentsLikeThisAlert" = (operation_id = "search", description = "Have we seen the first alert before, and what fixed it?",
                      request_body = json!({"alert": "$request.body#/alerts/0", "query": null}))))),
              (status = 400, body = super::openapi::ErrorBody), (status = 413, body = super::openapi::ErrorBody),
              (status = 422, body = super::openapi::ErrorBody), (status = 503, body = super::openapi::ErrorBody)))]
pub async fn receive(
    State(state): State<ApiState>,
    Caller(source): Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<WebhookOutcome>, ApiError> {
    let (hook, raw): (Webhook, Bytes) =
        json_body_with_raw(body, state.limits.max_body_bytes, "an Alertmanager webhook payload (version 4)")?;
    // Alertmanager drops a notification answered 4xx: every such refusal is logged and
    // counted, so a broken sender is found from the gateway's side too.
    let refuse = |e: ApiError| {
        state.metrics.alert_refused(e.code);
        if let Some(more) = state.metrics.log.due(e.code) {
            tracing::warn!(receiver = %hook.receiver, error = e.code, detail = %e.detail, refused_since_last_line = more, "webhook refused for its content");
        }
        e
    };
    state.limits.input.check_webhook(&hook).map_err(|r| refuse(rejected(r)))?;
    let mut holds = state.self_alerts.holds(&hook);
    state.storm.holds(&hook, &mut holds);
    let raw = String::from_utf8_lossy(&raw);
    let outcome = match state.store.record_webhook(&source, &hook, &raw, &holds, now_millis()).await {
        Ok(o) => o,
        Err(e) => {
            let e = store_error(e);
            return Err(if e.status.is_client_error() { refuse(e) } else { e });
        }
    };
    state.wake.notify_one();
    tracing::info!(
        receiver = %hook.receiver, alerts = outcome.alerts, new = outcome.new,
        repeated = outcome.repeated, resolved = outcome.resolved, held = outcome.held, "alerts stored"
    );
    Ok(Json(outcome))
}
