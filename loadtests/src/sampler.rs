//! What the gateway is doing, twice a second: its process CPU and memory (from /proc, so
//! the gateway's own figures are not trusted for the verdict), the outbox and scheduler
//! queues and the embedding counter (from /v1/status and /metrics). A restarted server
//! is followed through [`Target`].

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

/// Interval between samples.
pub const EVERY: Duration = Duration::from_millis(500);

/// The server being watched; a drill that restarts it updates `url` and `pid`.
#[derive(Default)]
pub struct Target {
    pub url: Mutex<String>,
    pub pid: AtomicU32,
    /// A token with `search:read`, for `/v1/status`.
    pub token: String,
}

impl Target {
    pub fn new(token: &str) -> Self {
        Target { token: token.to_owned(), ..Target::default() }
    }

    pub fn set(&self, url: &str, pid: u32) {
        *self.url.lock().unwrap_or_else(|p| p.into_inner()) = url.to_owned();
        self.pid.store(pid, Ordering::SeqCst);
    }

    pub fn url(&self) -> String {
        self.url.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// One sample; `None` where the server did not answer (down, or restarting).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sample {
    /// Seconds since the scenario started.
    pub t: f64,
    /// Cores the gateway process used since the last sample.
    pub cpu_cores: Option<f64>,
    pub rss_mib: Option<f64>,
    /// Outbox jobs not done (pending and leased).
    pub outbox_open: Option<i64>,
    /// Outbox jobs done since the store was created.
    pub outbox_done: Option<i64>,
    /// Of the open ones, bulk (document) jobs.
    pub bulk_open: Option<i64>,
    /// Texts waiting in the scheduler's class queues.
    pub queued_texts: Option<i64>,
    /// Texts embedded since the server started (all classes).
    pub embedded_texts: Option<f64>,
    /// Points in the vector index.
    pub index_points: Option<i64>,
    /// Dependencies whose circuit breaker is not closed (open or half-open).
    pub breakers_open: Option<Vec<String>>,
    /// The pressure guard's level (`normal`, `bulk_paused`, `alert_paused`) and the PSI
    /// figure it was decided on: why bulk work waits, when it does.
    pub pressure: Option<String>,
    pub psi_percent: Option<f64>,
    /// Embedding requests the budget refused, and jobs deferred (back-pressure of any
    /// kind), since the server started.
    pub budget_refused: Option<f64>,
    pub jobs_deferred: Option<f64>,
}

fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its closing ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib / 1024.0)
}

/// Sum of every series of a counter in a Prometheus text page.
pub fn metric_sum(page: &str, name: &str) -> Option<f64> {
    let mut found = None;
    for line in page.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(name) else { continue };
        if !(rest.starts_with(' ') || rest.starts_with('{')) {
            continue;
        }
        if let Some(v) = rest.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) {
            *found.get_or_insert(0.0) += v;
        }
    }
    found
}

/// Samples until `stop` is set; returns the series.
pub async fn run(target: Arc<Target>, started: Instant, stop: Arc<AtomicBool>) -> Vec<Sample> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().expect("an HTTP client");
    let tps = ticks_per_second();
    let mut out = Vec::new();
    let mut last: Option<(u32, u64, Instant)> = None;
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        let pid = target.pid.load(Ordering::SeqCst);
        let url = target.url();
        let mut s = Sample { t: now.duration_since(started).as_secs_f64(), ..Sample::default() };
        if let Some(ticks) = cpu_ticks(pid) {
            if let Some((lp, lt, li)) = last.filter(|(lp, _, _)| *lp == pid) {
                let secs = now.duration_since(li).as_secs_f64();
                if secs > 0.0 && lp == pid {
                    s.cpu_cores = Some(ticks.saturating_sub(lt) as f64 / tps / secs);
                }
            }
            last = Some((pid, ticks, now));
            s.rss_mib = rss_mib(pid);
        }
        if let Ok(Ok(status)) = http.get(format!("{url}/v1/status")).bearer_auth(&target.token).send().await.map(|r| r.error_for_status()) {
            if let Ok(v) = status.json::<Value>().await {
                let o = &v["outbox"];
                // No figures while the database is down: unknown, not zero.
                s.outbox_open = o["pending"].as_i64().map(|p| p + o["leased"].as_i64().unwrap_or(0));
                s.bulk_open = o["bulk_open"].as_i64();
                s.outbox_done = o["done"].as_i64();
                s.index_points = v["dependencies"]["index"]["points"].as_i64();
                s.breakers_open = v["breakers"]
                    .as_object()
                    .map(|b| b.iter().filter(|(_, state)| state.as_str() != Some("closed")).map(|(dep, _)| dep.clone()).collect());
                s.pressure = v["pressure"].as_str().map(str::to_owned);
                s.psi_percent = v["pressure_detail"]["some_avg10_percent"].as_f64();
                s.queued_texts = v["scheduler"]["classes"].as_object().map(|c| c.values().filter_map(|x| x["queued"].as_i64()).sum());
            }
        }
        if let Ok(r) = http.get(format!("{url}/metrics")).send().await {
            if let Ok(page) = r.text().await {
                s.embedded_texts = metric_sum(&page, "firebreak_scheduler_embedded_texts_total");
                s.budget_refused = metric_sum(&page, "firebreak_embed_budget_refused_total");
                s.jobs_deferred = metric_sum(&page, "firebreak_outbox_jobs_deferred_total");
            }
        }
        out.push(s);
        tokio::time::sleep_until(now + EVERY).await;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_summed_over_their_series() {
        let page = "# HELP x\nfirebreak_x_total{class=\"a\"} 2\nfirebreak_x_total{class=\"b\"} 3.5\nfirebreak_x_total_other 9\n";
        assert_eq!(metric_sum(page, "firebreak_x_total"), Some(5.5));
        assert_eq!(metric_sum(page, "firebreak_y_total"), None);
    }

    #[test]
    fn own_process_cpu_is_readable() {
        assert!(cpu_ticks(std::process::id()).is_some());
        assert!(rss_mib(std::process::id()).unwrap() > 0.0);
    }
}
