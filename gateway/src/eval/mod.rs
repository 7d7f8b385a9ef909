//! `firebreak eval`: how well search answers "have we seen this before, and what fixed
//! it?" on a set of past incidents and new alerts whose right answer is known.
//!
//! The set is loaded the way real history arrives: each past incident as an
//! Alertmanager webhook, its resolution as a note, then the resolved notification; the
//! outbox is waited out; then every new alert is searched for, as an alert, in each mode,
//! and the rank of the incident it should find is recorded. Everything goes through the
//! public HTTP API, so the same run measures an embedded gateway (the default: a fresh
//! one in a temporary directory) or a deployed one (`--url`, which should be fresh: the
//! set's incidents are added to whatever it holds).

pub mod client;
pub mod gate;
pub mod score;
pub mod set;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use reqwest::Method;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub use client::Client;
pub use score::{Figures, Outcome};
pub use set::EvalSet;

use firebreak_intake::search::Mode;

/// The modes measured, in the order they are printed.
pub const MODES: [Mode; 3] = [Mode::Hybrid, Mode::Dense, Mode::Keyword];

/// How a run goes.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Results asked for per search; an incident beyond them counts as not found.
    pub k: usize,
    /// Longest wait for the outbox to drain after loading.
    pub drain_timeout: Duration,
}

/// What a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// The set's name: its file's, without `.json` (the gate table's `set` column).
    pub set: String,
    pub past: usize,
    pub queries: usize,
    /// Per mode ("hybrid", "dense", "keyword").
    pub figures: BTreeMap<String, Figures>,
    /// The same figures over the queries whose expected incident fired under the query's
    /// own alertname (`same`) and under another one (`cross`): a ranking can win one kind
    /// and lose the other.
    pub by_alertname: BTreeMap<String, BTreeMap<String, Figures>>,
    /// Per query, per mode.
    pub outcomes: Vec<QueryOutcome>,
    /// Seconds from the first webhook until the outbox was empty.
    pub load_seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueryOutcome {
    pub expect: String,
    pub alertname: String,
    /// Whether the expected incident fired under the query's alertname.
    pub same_alertname: bool,
    pub modes: BTreeMap<String, Outcome>,
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Hybrid => "hybrid",
        Mode::Dense => "dense",
        Mode::Keyword => "keyword",
    }
}

/// A stable fingerprint per set entry, as Alertmanager's would be per label set.
fn fingerprint(key: &str) -> String {
    let d = Sha256::digest(key.as_bytes());
    d[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Past incidents start an hour apart, ending on 2026-01-01, in the set's order.
fn started(n: usize, total: usize) -> chrono::DateTime<chrono::Utc> {
    let end = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").map(|t| t.with_timezone(&chrono::Utc)).unwrap_or_default();
    end - chrono::Duration::hours((total - n) as i64)
}

fn webhook(status: &str, alert: Value) -> Value {
    json!({"version": "4", "groupKey": "{}:{firebreak-eval}", "status": status, "receiver": "firebreak-eval", "alerts": [alert]})
}

/// Per mode, the figures of the outcomes `keep` selects.
fn figures(outcomes: &[QueryOutcome], keep: impl Fn(&QueryOutcome) -> bool) -> BTreeMap<String, Figures> {
    MODES
        .iter()
        .map(|m| {
            let name = mode_name(*m);
            let per: Vec<Outcome> = outcomes.iter().filter(|q| keep(q)).map(|q| q.modes[name].clone()).collect();
            (name.to_owned(), Figures::of(&per))
        })
        .collect()
}

/// Loads the set's history into the gateway, then searches for every query in every mode.
pub async fn run(client: &Client, set: &EvalSet, o: &EvalOptions) -> anyhow::Result<EvalReport> {
    let t0 = Instant::now();
    let ids = load(client, set).await?;
    drain(client, o.drain_timeout).await?;
    let load_seconds = t0.elapsed().as_secs_f64();
    let by_id: HashMap<i64, &str> = ids.iter().map(|(k, id)| (*id, k.as_str())).collect();

    let mut outcomes = Vec::with_capacity(set.queries.len());
    for (n, q) in set.queries.iter().enumerate() {
        let alert = json!({
            "status": "firing", "labels": q.labels, "annotations": q.annotations,
            "startsAt": "2026-02-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": fingerprint(&format!("query/{n}")),
        });
        let mut modes = BTreeMap::new();
        for mode in MODES {
            let body = json!({"alert": alert, "k": o.k, "mode": mode, "kinds": ["incident"]});
            let r = search(client, &body, mode).await?;
            let results = r["results"].as_array().cloned().unwrap_or_default();
            let keys: Vec<Option<&str>> = results.iter().map(|h| h["id"].as_i64().and_then(|id| by_id.get(&id).copied())).collect();
            let rank = keys.iter().position(|k| *k == Some(q.expect.as_str())).map(|p| p + 1);
            let first = keys.first().copied().flatten().map(str::to_owned);
            let relevance = results.first().and_then(|h| h["relevance"].as_f64());
            let degraded = r["degraded"].as_bool().unwrap_or(false).then(|| r["degraded_reason"].as_str().unwrap_or("").to_owned());
            modes.insert(mode_name(mode).to_owned(), Outcome { rank, first, relevance, degraded });
        }
        let alertname = q.labels.get("alertname").cloned().unwrap_or_default();
        let same_alertname = set.past.iter().any(|p| p.key == q.expect && p.labels.get("alertname") == Some(&alertname));
        outcomes.push(QueryOutcome { expect: q.expect.clone(), alertname, same_alertname, modes });
    }
    let mut by_alertname = BTreeMap::new();
    for (name, same) in [("same", true), ("cross", false)] {
        if outcomes.iter().any(|q| q.same_alertname == same) {
            by_alertname.insert(name.to_owned(), figures(&outcomes, |q| q.same_alertname == same));
        }
    }
    Ok(EvalReport {
        set: set.name.clone(),
        past: set.past.len(),
        queries: set.queries.len(),
        figures: figures(&outcomes, |_| true),
        by_alertname,
        outcomes,
        load_seconds,
    })
}

/// Tries a search taking a query embedding this many times before giving up.
const EMBED_TRIES: u32 = 5;

/// One search. A dense or hybrid search answered keyword-only (the query's embedding
/// timed out behind the indexer's last jobs, say) is retried after a pause, and one that
/// stays so fails the run: its figures would be the keyword mode's under another name.
async fn search(client: &Client, body: &Value, mode: Mode) -> anyhow::Result<Value> {
    let mut tries = 0;
    loop {
        let r = client.call(Method::POST, "/v1/search", Some(body)).await?;
        tries += 1;
        if mode == Mode::Keyword || r["mode"].as_str() == Some(mode_name(mode)) {
            return Ok(r);
        }
        let reason = r["degraded_reason"].as_str().unwrap_or("no reason given").to_owned();
        if tries >= EMBED_TRIES {
            bail!("a {} search was answered {} {tries} times ({reason}): its figures would not be the {}'s", mode_name(mode), r["mode"], mode_name(mode));
        }
        tracing::warn!(mode = mode_name(mode), %reason, "search answered without its embedding: retrying");
        tokio::time::sleep(Duration::from_secs(1 << tries)).await;
    }
}

/// Past incidents in: firing, the note, resolved. Returns key → incident id.
pub async fn load(client: &Client, set: &EvalSet) -> anyhow::Result<HashMap<String, i64>> {
    let total = set.past.len();
    let alert = |n: usize, status: &str| {
        let p = &set.past[n];
        let starts = started(n, total);
        let ends = if status == "resolved" { (starts + chrono::Duration::minutes(30)).to_rfc3339() } else { "0001-01-01T00:00:00Z".into() };
        json!({"status": status, "labels": p.labels, "annotations": p.annotations, "startsAt": starts.to_rfc3339(),
               "endsAt": ends, "fingerprint": fingerprint(&p.key)})
    };
    for n in 0..total {
        client.call(Method::POST, "/v1/alerts", Some(&webhook("firing", alert(n, "firing")))).await?;
    }
    // Incident ids, found by fingerprint under each alertname.
    let mut ids = HashMap::new();
    let by_fp: HashMap<String, &str> = set.past.iter().map(|p| (fingerprint(&p.key), p.key.as_str())).collect();
    let mut names: Vec<&String> = set.past.iter().filter_map(|p| p.labels.get("alertname")).collect();
    names.sort();
    names.dedup();
    for name in names {
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/v1/incidents?limit=200&alertname={}", urlencode(name));
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={}", urlencode(c)));
            }
            let page = client.call(Method::GET, &path, None).await?;
            for i in page["incidents"].as_array().into_iter().flatten() {
                if let (Some(fp), Some(id)) = (i["fingerprint"].as_str(), i["id"].as_i64()) {
                    if let Some(key) = by_fp.get(fp) {
                        ids.entry(key.to_string()).or_insert(id);
                    }
                }
            }
            cursor = page["next_cursor"].as_str().map(str::to_owned);
            if cursor.is_none() {
                break;
            }
        }
    }
    for p in &set.past {
        let Some(id) = ids.get(&p.key) else { bail!("past incident {:?} was accepted but is not listed", p.key) };
        let note = json!({"text": p.resolution, "author": "firebreak-eval"});
        client.call(Method::POST, &format!("/v1/incidents/{id}/notes"), Some(&note)).await?;
    }
    for n in 0..total {
        client.call(Method::POST, "/v1/alerts", Some(&webhook("resolved", alert(n, "resolved")))).await?;
    }
    Ok(ids)
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Waits until nothing is pending or leased in the outbox.
pub async fn drain(client: &Client, limit: Duration) -> anyhow::Result<()> {
    let until = Instant::now() + limit;
    loop {
        let s = client.call(Method::GET, "/v1/status", None).await.context("reading /v1/status")?;
        let o = &s["outbox"];
        let (pending, leased, failed) = (o["pending"].as_i64(), o["leased"].as_i64(), o["failed"].as_i64().unwrap_or(0));
        if failed > 0 {
            bail!("{failed} embedding jobs failed: the figures would not be the ranking's");
        }
        if pending == Some(0) && leased == Some(0) {
            return Ok(());
        }
        if Instant::now() > until {
            bail!("the outbox did not drain within {limit:?}: {o}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

impl EvalReport {
    /// The summary table, and with `verbose` one line per query.
    pub fn render(&self, verbose: bool) -> String {
        let mut out = format!(
            "set {}: {} past incidents, {} queries (loaded and embedded in {:.1} s)\n",
            self.set, self.past, self.queries, self.load_seconds
        );
        let split = self.by_alertname.len() > 1;
        out.push_str(if split { "mode      top-1  top-3  MRR    | same alertname: top-1  top-3 | another: top-1  top-3\n" } else { "mode      top-1  top-3  MRR\n" });
        for m in MODES {
            let f = &self.figures[mode_name(m)];
            out.push_str(&format!("{:<8}  {:.3}  {:.3}  {:.3}", mode_name(m), f.top1, f.top3, f.mrr));
            if split {
                let (s, c) = (&self.by_alertname["same"][mode_name(m)], &self.by_alertname["cross"][mode_name(m)]);
                out.push_str(&format!("  |                 {:.3}  {:.3} |          {:.3}  {:.3}", s.top1, s.top3, c.top1, c.top3));
            }
            out.push('\n');
        }
        if split {
            let n = |same| self.outcomes.iter().filter(|q| q.same_alertname == same).count();
            out.push_str(&format!("({} queries expect an incident of their own alertname, {} one of another)\n", n(true), n(false)));
        }
        out.push_str("relevance of the first result, median (min–max): when right | when wrong\n");
        for m in MODES {
            let per: Vec<&Outcome> = self.outcomes.iter().map(|q| &q.modes[mode_name(m)]).collect();
            let show = |s: Option<(f64, f64, f64)>| s.map_or("-".to_owned(), |(med, lo, hi)| format!("{med:.2} ({lo:.2}–{hi:.2})"));
            let [right, wrong] = score::relevance_split(&per);
            out.push_str(&format!("{:<8}  {} | {}\n", mode_name(m), show(right), show(wrong)));
        }
        if verbose {
            out.push_str("\nquery  expected                                          alert  hybrid  dense  keyword  hybrid's first when wrong\n");
            for (n, q) in self.outcomes.iter().enumerate() {
                let alert = if q.same_alertname { "same" } else { "other" };
                let r = |m: &str| q.modes[m].rank.map_or("-".to_owned(), |r| r.to_string());
                let wrong = match &q.modes["hybrid"] {
                    o if o.rank == Some(1) => String::new(),
                    o => o.first.clone().unwrap_or_else(|| "(nothing)".into()),
                };
                out.push_str(&format!("{n:>5}  {:<48}  {alert:>5}  {:>6}  {:>5}  {:>7}  {wrong}\n", q.expect, r("hybrid"), r("dense"), r("keyword")));
            }
        }
        out
    }
}
