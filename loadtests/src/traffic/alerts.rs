//! An alert storm as Alertmanager delivers it: webhooks of grouped alerts at a steady rate,
//! the same alerts resent again and again (the storm is a few hundred distinct problems
//! notified over and over), and every 5xx retried with backoff until it is taken, the way
//! Alertmanager's webhook notifier does (it drops 4xx).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;

use super::{Call, Endpoints};

/// What to send.
#[derive(Debug, Clone)]
pub struct Storm {
    /// The gateway, or the replicas, the webhooks go to.
    pub to: Endpoints,
    pub token: String,
    pub alerts_per_second: u32,
    pub alerts_per_webhook: usize,
    /// Distinct alerts; after these, every alert is a resend.
    pub distinct: usize,
    pub duration: Duration,
    /// How long a webhook is retried before it counts as lost.
    pub give_up_after: Duration,
    /// Webhooks in flight at once: Alertmanager delivers each group on its own, a few
    /// hundred at most; a handful makes a closed loop that measures throughput.
    pub max_in_flight: usize,
}

/// What happened.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct StormOutcome {
    pub webhooks: u64,
    pub alerts_sent: u64,
    /// Webhooks finally answered 2xx.
    pub accepted: u64,
    /// Attempts answered 5xx (retried).
    pub retried: u64,
    /// Webhooks never accepted (gave up, or a 4xx: Alertmanager would have dropped them).
    pub lost: u64,
    #[serde(skip)]
    pub calls: Vec<Call>,
    /// From first send to the 2xx, per accepted webhook (ms).
    #[serde(skip)]
    pub to_accept_ms: Vec<f64>,
    /// Fingerprints in accepted webhooks.
    #[serde(skip)]
    pub acknowledged: BTreeSet<String>,
}

const NAMES: &[(&str, &str)] = &[
    ("KubePodCrashLooping", "Pod is restarting repeatedly"),
    ("KubePodNotReady", "Pod has been in a non-ready state"),
    ("NodeFilesystemAlmostOutOfSpace", "Filesystem has less than 5% space left"),
    ("NodeHighLoad", "Node load is far above its core count"),
    ("KubeDeploymentReplicasMismatch", "Deployment has not matched the expected number of replicas"),
    ("PostgresqlDown", "PostgreSQL instance is down"),
    ("TargetDown", "Targets are down"),
    ("KubeJobFailed", "Job failed to complete"),
];
const NAMESPACES: &[&str] = &["mail", "photos", "monitoring", "databases", "ingress", "firebreak-lab"];

/// The alertname, namespace and summary of the storm's alert with fingerprint `fp`: what
/// a search for it is made of.
pub fn described(fp: &str) -> Option<(&'static str, &'static str, String)> {
    let i = usize::from_str_radix(fp, 16).ok()?;
    let (name, summary) = NAMES[i % NAMES.len()];
    let ns = NAMESPACES[(i / NAMES.len()) % NAMESPACES.len()];
    Some((name, ns, format!("{summary} ({ns})")))
}

/// The storm's summaries, one per alertname: queries whose answers every replica must agree on.
pub fn summaries() -> Vec<String> {
    NAMES.iter().map(|(_, summary)| summary.to_string()).collect()
}

/// Alert number `i` of the storm: its identity never changes, so a resend is a repeat.
fn alert(i: usize, storm_start: &str) -> Value {
    let (name, summary) = NAMES[i % NAMES.len()];
    let ns = NAMESPACES[(i / NAMES.len()) % NAMESPACES.len()];
    json!({
        "status": "firing",
        "labels": {"alertname": name, "namespace": ns, "severity": if i.is_multiple_of(3) { "critical" } else { "warning" },
                   "pod": format!("app-{}-{:05x}", i % 17, i), "instance": format!("10.0.{}.{}:9100", i % 7, i % 250)},
        "annotations": {"summary": format!("{summary} ({ns})"), "description": format!("{summary}; namespace {ns} is affected.")},
        "startsAt": storm_start,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": format!("{i:016x}")
    })
}

/// Sends the storm; returns when every webhook was accepted or given up.
pub async fn run(s: Storm, started: Instant) -> StormOutcome {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("an HTTP client");
    let storm_start = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let per_second = (s.alerts_per_second as f64 / s.alerts_per_webhook as f64).max(0.1);
    let interval = Duration::from_secs_f64(1.0 / per_second);
    let out = Arc::new(Mutex::new(StormOutcome::default()));
    let in_flight = Arc::new(Semaphore::new(s.max_in_flight.max(1)));
    let end = Instant::now() + s.duration;
    let mut tasks = tokio::task::JoinSet::new();
    let mut next = 0usize;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while Instant::now() < end {
        tick.tick().await;
        let alerts: Vec<Value> = (0..s.alerts_per_webhook).map(|k| alert((next + k) % s.distinct, &storm_start)).collect();
        next += s.alerts_per_webhook;
        let fps: Vec<String> = alerts.iter().map(|a| a["fingerprint"].as_str().unwrap_or_default().to_owned()).collect();
        let body = json!({"version": "4", "groupKey": format!("{{}}:{{group=\"{next}\"}}"), "truncatedAlerts": 0, "status": "firing",
                          "receiver": "firebreak", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
                          "externalURL": "http://alertmanager:9093", "alerts": alerts})
        .to_string();
        let permit = in_flight.clone().acquire_owned().await.expect("semaphore open");
        let (http, s2, out) = (http.clone(), s.clone(), out.clone());
        let first = next / s.alerts_per_webhook;
        tasks.spawn(async move {
            let _permit = permit;
            deliver(&http, &s2, body, fps, first, started, &out).await;
        });
    }
    while tasks.join_next().await.is_some() {}
    Arc::try_unwrap(out).map(Mutex::into_inner).unwrap_or_default()
}

/// One webhook until 2xx, a 4xx (dropped, as Alertmanager does), or `give_up_after`.
/// Webhook number `n` goes to endpoint `n`, each retry to the next one.
async fn deliver(http: &reqwest::Client, s: &Storm, body: String, fps: Vec<String>, n: usize, started: Instant, out: &Mutex<StormOutcome>) {
    let first = Instant::now();
    let mut backoff = Duration::from_millis(250);
    {
        let mut o = out.lock().await;
        o.webhooks += 1;
        o.alerts_sent += fps.len() as u64;
    }
    for attempt in 0.. {
        let sent = Instant::now();
        let resp = http
            .post(format!("{}/v1/alerts", s.to.pick(n + attempt)))
            .bearer_auth(&s.token)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        let (status, retry_after) = match &resp {
            Ok(r) => (r.status().as_u16(), r.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse::<u64>().ok())),
            Err(_) => (0, None),
        };
        let mut o = out.lock().await;
        o.calls.push(Call::new(started, sent, status));
        if (200..300).contains(&status) {
            o.accepted += 1;
            o.to_accept_ms.push(first.elapsed().as_secs_f64() * 1000.0);
            o.acknowledged.extend(fps);
            return;
        }
        if (400..500).contains(&status) || first.elapsed() > s.give_up_after {
            o.lost += 1;
            return;
        }
        o.retried += 1;
        drop(o);
        let wait = retry_after.map(Duration::from_secs).unwrap_or(backoff).min(Duration::from_secs(5));
        tokio::time::sleep(wait).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
