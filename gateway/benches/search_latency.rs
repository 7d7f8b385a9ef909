//! Search latency at 10 000 stored incidents, the query's embedding excluded (the issue's
//! figure: p99 under 50 ms). Everything else a search does is timed: the template lookup
//! in the store, both alert-aware probes and the general ones on the real qdrant-edge
//! shard, fusion, the explanations and hydration from SQLite.
//!
//! The history is made from the dev set's 40 past incidents: each becomes 250 incidents
//! of the same alertname (so 1 000 per alertname: the alertname filter narrows little),
//! on other nodes, with one more sentence from a sibling incident and a ticket number,
//! and is stored and indexed by a real embedded gateway (the real model embeds every
//! text; this takes a few minutes). Queries are the dev set's 40 alerts, five rounds:
//! each is first searched with the real embedder, recording its vectors, then timed with
//! those vectors handed over.
//!
//! ```sh
//! cargo bench --workspace --bench search_latency            # 10 000 incidents (the workspace: as built for the tests)
//! FIREBREAK_BENCH_INCIDENTS=2000 cargo bench --workspace --bench search_latency
//! # Keep the history in DIR, and reuse it when DIR already holds one (loading is most of
//! # the run: minutes for 10 000 incidents):
//! FIREBREAK_BENCH_DATA_DIR=DIR cargo bench --workspace --bench search_latency
//! ```
//!
//! Besides the figures, it prints what one index search of each kind costs alone (the
//! probes of one alert query, run one after another): where the time goes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use firebreak_gateway::app::{EmbedderChoice, Gateway, GatewayConfig};
use firebreak_gateway::pipeline::embedding::Class;
use firebreak_gateway::query::search::{Mode, Query};
use firebreak_gateway::pipeline::store::IncidentQuery;
use serde_json::{json, Value};

fn fixtures() -> std::path::PathBuf {
    std::env::var_os("FIREBREAK_FIXTURES").map(Into::into).unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures").into())
}

fn model() -> std::path::PathBuf {
    std::env::var_os("FIREBREAK_MODEL_DIR").map(Into::into).unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../models/all-MiniLM-L6-v2").into())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("FIREBREAK_BENCH_INCIDENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let set: Value = serde_json::from_str(&std::fs::read_to_string(fixtures().join("incident-dev-set.json"))?)?;
    let past = set["past"].as_array().cloned().unwrap_or_default();
    let queries = set["queries"].as_array().cloned().unwrap_or_default();

    let tmp = tempfile::tempdir()?;
    let kept = std::env::var_os("FIREBREAK_BENCH_DATA_DIR").map(std::path::PathBuf::from);
    let dir = kept.as_deref().unwrap_or(tmp.path());
    let mut cfg = GatewayConfig::embedded(dir, model());
    if let EmbedderChoice::InProcess(e) = &mut cfg.embedder {
        e.cpu_threads = Some(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
    }
    // Loading 10 000 alerts at once is not a storm to guard against here, and nobody
    // else shares this gateway.
    cfg.budget = firebreak_gateway::guards::budget::BudgetLimits::unlimited();
    cfg.api.rates = firebreak_gateway::api::RateLimits::unlimited();
    cfg.storm_alerts_per_minute = u64::MAX / 4;
    cfg.pressure.bulk_pause = 101.0;
    cfg.pressure.alert_pause = 101.0;
    cfg.max_bulk_backlog = usize::MAX / 4;
    let gw = Gateway::start(cfg).await?;
    let state = gw.state.clone();

    // The history, unless the kept data directory holds it already.
    let t = Instant::now();
    let stored = state.store.list_incidents(&IncidentQuery { limit: 1, ..Default::default() }).await?;
    if stored.is_empty() {
        load(&state, &past, n).await?;
    }
    let points = state.index.count(&Default::default()).await?;
    let how = if stored.is_empty() { "stored and indexed in" } else { "reused from FIREBREAK_BENCH_DATA_DIR, opened in" };
    println!("history: {n} incidents, {points} points, {how} {:.0} s", t.elapsed().as_secs_f64());
    breakdown(&state, &queries).await?;

    // The searches.
    let mut times = Vec::new();
    for round in 0..5 {
        for (qi, q) in queries.iter().enumerate() {
            let alert: firebreak_gateway::alertmanager::Alert = serde_json::from_value(json!({
                "status": "firing", "labels": q["labels"], "annotations": q["annotations"],
                "startsAt": "2026-11-01T00:00:00Z", "fingerprint": format!("query{round}-{qi}"),
            }))?;
            let query = Query {
                text: firebreak_gateway::pipeline::render::alert_query(&alert),
                alert: Some(alert),
                source: "bench".into(),
                k: 10,
                filter: Default::default(),
                mode: Mode::Hybrid,
            };
            let seen: Arc<Mutex<HashMap<String, Vec<f32>>>> = Default::default();
            let record = seen.clone();
            let scheduler = state.scheduler.clone();
            state
                .searcher
                .search_with(&query, |texts| async move {
                    let v = scheduler.embed(Class::Interactive, "bench", texts.clone()).await.map_err(|e| e.to_string())?;
                    let v: Vec<Vec<f32>> = v.into_iter().map(|e| e.values).collect();
                    record.lock().unwrap().extend(texts.into_iter().zip(v.clone()));
                    Ok(v)
                })
                .await?;
            let known = seen.lock().unwrap().clone();
            let t = Instant::now();
            let r = state
                .searcher
                .search_with(&query, |texts| async move { texts.iter().map(|t| known.get(t).cloned().ok_or_else(|| "unseen text".to_owned())).collect() })
                .await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            assert!(!r.degraded && !r.results.is_empty(), "{r:?}");
        }
    }
    times.sort_by(f64::total_cmp);
    println!(
        "search (hybrid, alert queries, k 10, embedding excluded), {} searches: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        times.len(),
        percentile(&times, 0.50),
        percentile(&times, 0.95),
        percentile(&times, 0.99),
        times.last().copied().unwrap_or(0.0)
    );
    gw.shutdown(Duration::from_secs(1)).await;
    Ok(())
}

/// Stores `n` incidents made from the dev set's past ones, each with its note, and waits
/// until every job is indexed.
async fn load(state: &firebreak_gateway::api::ApiState, past: &[Value], n: usize) -> anyhow::Result<()> {
    let mut resolutions = HashMap::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        let alerts: Vec<Value> = chunk
            .iter()
            .map(|&i| {
                let base = &past[i % past.len()];
                let variant = i / past.len();
                let cluster = (i % past.len()) / 4 * 4;
                let other = &past[cluster + variant % 4]["annotations"]["description"];
                let extra = other.as_str().unwrap_or("").split(". ").nth(1).unwrap_or("");
                let mut labels = base["labels"].clone();
                labels["instance"] = json!(format!("node-{}:9100", variant % 97));
                let mut annotations = base["annotations"].clone();
                annotations["description"] =
                    json!(format!("{} Seen on node-{} at {:02}:{:02}. {extra}", base["annotations"]["description"].as_str().unwrap_or(""), variant % 97, variant % 24, variant % 60));
                let fp = format!("bench{i:06}");
                resolutions.insert(fp.clone(), format!("{} Ticket OPS-{variant}.", base["resolution"].as_str().unwrap_or("")));
                json!({"status": "resolved", "labels": labels, "annotations": annotations, "fingerprint": fp,
                       "startsAt": format!("2026-0{}-1{}T00:00:00Z", 1 + variant % 9, variant % 10), "endsAt": "2026-10-01T00:00:00Z"})
            })
            .collect();
        let hook: firebreak_gateway::alertmanager::Webhook = serde_json::from_value(json!({"status": "resolved", "alerts": alerts}))?;
        state.store.record_webhook("bench", &hook, "{}", &[], firebreak_gateway::clock::now_millis()).await?;
    }
    let mut before = None;
    loop {
        let page = state.store.list_incidents(&IncidentQuery { limit: 500, before_id: before, ..Default::default() }).await?;
        for i in &page {
            if let Some(r) = resolutions.get(&i.head.fingerprint) {
                state.store.add_note("bench", i.head.id, Some("sre"), r, firebreak_gateway::clock::now_millis()).await?;
            }
        }
        match page.last() {
            Some(last) if page.len() == 500 => before = Some(last.head.id),
            _ => break,
        }
    }
    state.wake.notify_one();
    loop {
        let b = state.store.backlog(firebreak_gateway::clock::now_millis()).await?;
        if b.pending + b.leased == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

/// What each kind of index search costs alone, averaged over the queries: the cause
/// ranking's probes (cause and notes fields, every incident and the alert's own
/// alertname; dense and keyword) and the general ones.
async fn breakdown(state: &firebreak_gateway::api::ApiState, queries: &[Value]) -> anyhow::Result<()> {
    use firebreak_gateway::pipeline::index::{Field, IndexFilter, Probe};
    use firebreak_gateway::pipeline::store::JobKind;
    let mut kinds: Vec<(String, f64)> = Vec::new();
    for q in queries {
        let text = q["annotations"]["description"].as_str().unwrap_or("").to_owned();
        let alertname = q["labels"]["alertname"].as_str().unwrap_or("").to_owned();
        let v = state.scheduler.embed(Class::Interactive, "bench", vec![text.clone()]).await.map_err(|e| anyhow::anyhow!(e.to_string()))?;
        let dense = v.into_iter().next().map(|e| e.values).unwrap_or_default();
        let keywords = state.searcher.keywords.query(&text);
        let mut filters = Vec::new();
        for field in [Field::Cause, Field::Notes] {
            let all = IndexFilter { kinds: vec![JobKind::Incident], fields: vec![field], ..Default::default() };
            let own = IndexFilter { alertname: Some(alertname.clone()), ..all.clone() };
            filters.push((format!("{field:?}, every incident"), all));
            filters.push((format!("{field:?}, own alertname"), own));
        }
        filters.push(("general (no filter)".to_owned(), IndexFilter::default()));
        let mut i = 0;
        for (name, f) in &filters {
            for (probe, label) in [(Probe::Dense(dense.clone()), "dense"), (Probe::Keywords(keywords.clone()), "keyword")] {
                let t = Instant::now();
                state.index.search(probe, f, 40).await?;
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                if kinds.len() <= i {
                    kinds.push((format!("{label:7} {name}"), 0.0));
                }
                kinds[i].1 += ms / queries.len() as f64;
                i += 1;
            }
        }
    }
    println!("one index search alone, mean over {} queries (limit 40):", queries.len());
    for (name, ms) in &kinds {
        println!("  {name:40} {ms:6.2} ms");
    }
    println!("  {:40} {:6.2} ms", "sum", kinds.iter().map(|(_, ms)| ms).sum::<f64>());
    Ok(())
}
