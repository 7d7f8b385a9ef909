//! The real alert path end to end: Prometheus evaluates rules that fire, Alertmanager
//! groups and delivers them with a bearer token to a real `firebreak serve` on a private
//! PostgreSQL cluster, and the alert becomes searchable; the rule stops firing, and the
//! occurrence is closed. Then the database is stopped before a second alert fires:
//! the gateway answers 503, Alertmanager keeps retrying, and once the database is back the
//! alert is stored. Nothing is simulated: Debian's `prometheus` and
//! `prometheus-alertmanager` with generated configs.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use super::harness::{Sampling, Setup, IO_ALLOWANCE};
use super::Options;
use crate::postgres::Cluster;
use crate::prometheus::{self, Binaries};
use crate::report::{Cpu, Invariant, Run};
use crate::server::Server;

const FIRST: &str = "FirebreakE2EMailDiskFull";
const SECOND: &str = "FirebreakE2EThumbnailsFailing";
/// Seconds after the rules are loaded: the first rule stops firing; the database is stopped;
/// the second rule starts firing; the database is started again.
const FIRST_RESOLVES: u64 = 20;
const DB_STOPS: u64 = 40;
const SECOND_FIRES: u64 = 45;
const DB_STARTS: u64 = 60;

fn rules(t0: u64) -> String {
    format!(
        r#"groups:
  - name: firebreak-e2e
    interval: 1s
    rules:
      - alert: {FIRST}
        expr: vector(time()) < {resolve}
        labels: {{severity: critical, namespace: mail}}
        annotations:
          summary: The mail spool volume is almost full
          description: /var/mail on the mail node is 97% full; delivery will stop when it fills.
      - alert: {SECOND}
        expr: vector(time()) > {second}
        labels: {{severity: warning, namespace: photos}}
        annotations:
          summary: Photo thumbnails fail after the upgrade
          description: The thumbnail worker exits with code 137 since the last rollout.
"#,
        resolve = t0 + FIRST_RESOLVES,
        second = t0 + SECOND_FIRES
    )
}

/// Polls `/v1/incidents` with `query` until `pick` finds something, up to `limit`.
async fn wait_incident(http: &reqwest::Client, url: &str, token: &str, query: &str, limit: Duration, started: Instant) -> Option<(f64, Value)> {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if let Ok(r) = http.get(format!("{url}/v1/incidents?{query}")).bearer_auth(token).send().await {
            if let Ok(v) = r.json::<Value>().await {
                if let Some(i) = v["incidents"].as_array().and_then(|a| a.first()) {
                    return Some((started.elapsed().as_secs_f64(), i.clone()));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    None
}

/// Polls a dense-only search (so only an embedded alert is found) until the first hit is
/// `alertname`.
async fn wait_searchable(http: &reqwest::Client, url: &str, token: &str, alertname: &str, limit: Duration, started: Instant) -> Option<f64> {
    let until = Instant::now() + limit;
    let body = json!({"query": "mail server disk is filling up", "k": 3, "mode": "dense"});
    while Instant::now() < until {
        if let Ok(r) = http.post(format!("{url}/v1/search")).bearer_auth(token).json(&body).send().await {
            if let Ok(v) = r.json::<Value>().await {
                if v["results"][0]["incident"]["alertname"] == alertname {
                    return Some(started.elapsed().as_secs_f64());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    None
}

pub async fn run(o: &Options) -> anyhow::Result<Run> {
    let bins = Binaries { prometheus: o.prometheus.clone(), alertmanager: o.alertmanager.clone() };
    let setup = Setup::new()?;
    let tokens = &setup.tokens;
    let mut pg = Cluster::init(crate::postgres::find_bin(o.pg_bin.as_deref())?)?;
    pg.start()?;
    let args = vec!["--database-url".to_string(), pg.url(), "--cpu-threads".into(), o.cpu_threads.to_string()];
    let launch = setup.launch(o, &args);
    let server = Server::start(&launch)?;
    let am = prometheus::alertmanager(&bins.alertmanager, setup.dir.path(), &server.url, &tokens.alertmanager)?;
    let prom = prometheus::prometheus(&bins.prometheus, setup.dir.path(), &am.url)?;
    prometheus::wait_ready(&prom).await?;
    let t0 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let started = Instant::now();
    prometheus::load_rules(&prom, setup.dir.path(), &rules(t0)).await?;
    let at = |s: u64| started + Duration::from_secs(s);
    let sampling = Sampling::start(&server, &tokens.monitor, started);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let limit = Duration::from_secs(FIRST_RESOLVES + 10);
    tracing::info!(gateway = %server.url, alertmanager = %am.url, prometheus = %prom.url, "the alert path is up");

    let stored = wait_incident(&http, &server.url, &tokens.monitor, &format!("alertname={FIRST}"), limit, started).await;
    let searchable = wait_searchable(&http, &server.url, &tokens.sre, FIRST, limit, started).await;
    let closed = wait_incident(&http, &server.url, &tokens.monitor, &format!("alertname={FIRST}&status=resolved"), o.drain_timeout, started).await;

    tokio::time::sleep_until(at(DB_STOPS)).await;
    let failed_before = prometheus::counter(&am.url, "alertmanager_notifications_failed_total").await.unwrap_or(0.0);
    tokio::task::block_in_place(|| pg.stop())?;
    let stopped_at = started.elapsed().as_secs_f64();
    tracing::warn!(at_s = stopped_at, "PostgreSQL stopped; the second alert fires at {SECOND_FIRES} s");
    tokio::time::sleep_until(at(DB_STARTS)).await;
    let failed_while_down = prometheus::counter(&am.url, "alertmanager_notifications_failed_total").await.unwrap_or(0.0) - failed_before;
    let starting_at = started.elapsed().as_secs_f64();
    tokio::task::block_in_place(|| pg.start())?;
    tracing::info!(at_s = starting_at, "PostgreSQL started again");
    let second = wait_incident(&http, &server.url, &tokens.monitor, &format!("alertname={SECOND}"), o.drain_timeout, started).await;

    let all: Value = http.get(format!("{}/v1/incidents?limit=50", server.url)).bearer_auth(&tokens.monitor).send().await?.json().await?;
    let samples = sampling.finish().await?;
    // Their own words, for when an invariant breaks.
    let logs = json!({"prometheus": prom.log_tail(40), "alertmanager": am.log_tail(40), "gateway": server.log_tail(40)});
    prom.stop()?;
    am.stop()?;
    server.stop()?;
    drop(pg);

    let n_incidents = all["incidents"].as_array().map_or(0, Vec::len);
    let secs = |v: Option<f64>| v.map_or("never".to_owned(), |s| format!("{s:.1} s"));
    let first_labels = stored.as_ref().map(|(_, i)| i.clone()).unwrap_or(Value::Null);
    let invariants = vec![
        Invariant::check(
            "Prometheus → Alertmanager → Firebreak delivers",
            stored.is_some(),
            format!("{FIRST} stored at {} (rules loaded at 0 s; 1 s evaluation, 1 s group wait)", secs(stored.as_ref().map(|s| s.0))),
        ),
        Invariant::check("the alert is searchable", searchable.is_some(), format!("first dense-search hit at {}", secs(searchable))),
        Invariant::check(
            "resolved closes the occurrence",
            closed.as_ref().is_some_and(|(_, i)| i["resolved_at"].is_string()),
            format!("rule stopped firing at {FIRST_RESOLVES} s; occurrence resolved at {}", secs(closed.as_ref().map(|c| c.0))),
        ),
        Invariant::check(
            "deliveries fail while the database is down",
            failed_while_down > 0.0,
            format!("database stopped {stopped_at:.0}–{starting_at:.0} s; Alertmanager counted {failed_while_down} failed notifications (503s) and kept retrying"),
        ),
        Invariant::check(
            "Alertmanager's retries deliver once it is back",
            second.as_ref().is_some_and(|(t, _)| *t >= starting_at),
            format!("{SECOND} stored at {}", secs(second.as_ref().map(|s| s.0))),
        ),
        Invariant::check("nothing else stored", n_incidents == 2, format!("{n_incidents} incidents")),
    ];
    let budget = o.cpu_threads as f64 + IO_ALLOWANCE;
    let cpu = Cpu::of(&samples, budget);
    let max_rss = samples.iter().filter_map(|s| s.rss_mib).fold(0.0, f64::max);
    let figures = json!({
        "first_stored_s": stored.as_ref().map(|s| s.0),
        "first_searchable_s": searchable,
        "first_resolved_s": closed.as_ref().map(|c| c.0),
        "database_stopped_s": stopped_at,
        "database_started_s": starting_at,
        "notifications_failed_while_down": failed_while_down,
        "second_stored_s": second.as_ref().map(|s| s.0),
        "first_incident": first_labels,
        "incidents": all,
        "logs": logs,
    });
    Ok(Run { label: "alertmanager".into(), server_args: launch.args, figures, cpu, max_rss_mib: max_rss, invariants, chart: None, samples })
}
