//! Prometheus and Alertmanager as a cluster runs them in front of Firebreak, from Debian's
//! `prometheus` and `prometheus-alertmanager` packages: started on loopback with generated
//! configs, Prometheus evaluating rules and sending to Alertmanager, Alertmanager grouping
//! and delivering to the gateway's webhook with a bearer token.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::server::Server;

/// Where the binaries are (`--prometheus`, `--alertmanager`; default: the PATH).
#[derive(Debug, Clone)]
pub struct Binaries {
    pub prometheus: PathBuf,
    pub alertmanager: PathBuf,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Alertmanager with one receiver, the gateway's `/v1/alerts`: groups by alertname, sends
/// after a second, resends a changed group every two, and resolved alerts too.
pub fn alertmanager(bin: &Path, dir: &Path, gateway_url: &str, token: &str) -> anyhow::Result<Server> {
    std::fs::create_dir_all(dir.join("am-data"))?;
    let token_file = dir.join("alertmanager-token");
    std::fs::write(&token_file, token)?;
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: firebreak\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 2s\n  repeat_interval: 1h\n\
             receivers:\n  - name: firebreak\n    webhook_configs:\n      - url: {gateway_url}/v1/alerts\n        send_resolved: true\n\
             \x20       http_config:\n          authorization:\n            type: Bearer\n            credentials_file: {}\n",
            token_file.display()
        ),
    )?;
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()?))
        .arg("--cluster.listen-address=");
    Server::spawn(cmd, "Listening on", "address=").with_context(|| format!("starting {}", bin.display()))
}

/// Prometheus evaluating the rules in `DIR/rules.yml` (none yet: [`load_rules`]) every
/// second and sending to `alertmanager` (its URL).
pub fn prometheus(bin: &Path, dir: &Path, alertmanager: &str) -> anyhow::Result<Server> {
    std::fs::create_dir_all(dir.join("prom-data"))?;
    let rules_file = dir.join("rules.yml");
    std::fs::write(&rules_file, "groups: []\n")?;
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  evaluation_interval: 1s\nrule_files: [{}]\n\
             alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{}']\n",
            rules_file.display(),
            alertmanager.trim_start_matches("http://")
        ),
    )?;
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("prom-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()?))
        .arg("--web.enable-lifecycle")
        // Prometheus drops a notification when it has no Alertmanager yet and resends a
        // firing alert only every minute by default: a rule that fires for 20 s could be
        // lost in between. The drill's rules are short, so it resends every 2 s.
        .arg("--rules.alert.resend-delay=2s");
    Server::spawn(cmd, "Listening on", "address=").with_context(|| format!("starting {}", bin.display()))
}

/// Waits until Prometheus is ready and has found its Alertmanager: before that, a
/// firing alert is dropped for want of somewhere to send it
/// (`prometheus_notifications_dropped_total` counted exactly that).
pub async fn wait_ready(prometheus: &Server) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let ready = format!("{}/-/ready", prometheus.url);
    let found = format!("{}/api/v1/alertmanagers", prometheus.url);
    for _ in 0..240 {
        let is_ready = http.get(&ready).send().await.is_ok_and(|r| r.status().is_success());
        let has_am = match http.get(&found).send().await {
            Ok(r) => r.json::<serde_json::Value>().await.ok().and_then(|v| v["data"]["activeAlertmanagers"].as_array().map(|a| !a.is_empty())).unwrap_or(false),
            Err(_) => false,
        };
        if is_ready && has_am {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    anyhow::bail!("Prometheus not ready, or without an Alertmanager, within a minute:\n{}", prometheus.log_tail(20))
}

/// Gives a ready Prometheus `rules` (written to `DIR/rules.yml`, then a reload), so that
/// times in the rules can count from now, however long it took to start.
pub async fn load_rules(prometheus: &Server, dir: &Path, rules: &str) -> anyhow::Result<()> {
    std::fs::write(dir.join("rules.yml"), rules)?;
    reqwest::Client::new().post(format!("{}/-/reload", prometheus.url)).send().await?.error_for_status().context("reloading Prometheus")?;
    Ok(())
}

/// Sum of a counter on a Prometheus-style `/metrics` page of `url`.
pub async fn counter(url: &str, name: &str) -> Option<f64> {
    let page = reqwest::get(format!("{url}/metrics")).await.ok()?.text().await.ok()?;
    crate::sampler::metric_sum(&page, name)
}
