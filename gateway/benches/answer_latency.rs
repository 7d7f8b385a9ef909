//! Answer latency (docs/benchmarks.md, "Answers"): what `/v1/chat/completions` costs
//! end to end on this node, with the in-process SmolLM2 on the embedder's CPU budget —
//! time to first token and to the whole answer, the extractive answer's latency, and the
//! share of it that is retrieval (the same question's `/v1/search`).
//!
//! The history is the dev set's 40 past incidents with their notes, loaded through the
//! API as `firebreak eval` loads them; the questions are the dev set's new alerts, each
//! asked as a person would ("<its description> Have we seen this before, and what fixed
//! it?"), one after another on an otherwise idle gateway, streamed, `max_tokens` 64.
//!
//! ```sh
//! cargo bench --workspace --bench answer_latency                       # 10 questions, one inference thread
//! FIREBREAK_BENCH_QUESTIONS=20 FIREBREAK_CPU_THREADS=2 cargo bench --workspace --bench answer_latency
//! ```

use std::time::{Duration, Instant};

use firebreak_gateway::app::{EmbedderChoice, Gateway, GatewayConfig, LlmChoice};
use firebreak_gateway::eval::{self, Client, EvalSet};
use firebreak_gateway::serve::{self, ConnLimits};
use reqwest::Method;
use serde_json::{json, Value};

fn path(var: &str, default: &str) -> std::path::PathBuf {
    std::env::var_os(var).map(Into::into).unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(default))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn line(name: &str, mut v: Vec<f64>) {
    v.sort_by(f64::total_cmp);
    println!("{name:<34} {:>9.0} {:>9.0} {:>9.0}", percentile(&v, 0.5), percentile(&v, 0.99), v[v.len() - 1]);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("FIREBREAK_BENCH_QUESTIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let threads: usize = std::env::var("FIREBREAK_CPU_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let set = EvalSet::load(&path("FIREBREAK_FIXTURES", "../../shared/fixtures").join("incident-dev-set.json"))?;
    let dir = tempfile::tempdir()?;
    let mut cfg = GatewayConfig::embedded(dir.path(), path("FIREBREAK_MODEL_DIR", "../models/all-MiniLM-L6-v2"));
    if let EmbedderChoice::InProcess(e) = &mut cfg.embedder {
        e.cpu_threads = Some(threads);
    }
    cfg.answers.llm = LlmChoice::InProcess(firebreak_embedder::chat::ChatConfig::new(path("FIREBREAK_CHAT_MODEL", "../models/SmolLM2-135M-Instruct")));
    cfg.answers.lane.first_token_timeout = Duration::from_secs(300);
    cfg.answers.lane.breaker.slow_call = Some(Duration::from_secs(300));
    cfg.answers.lane.budget = firebreak_gateway::guards::budget::BudgetLimits::unlimited();
    cfg.budget = firebreak_gateway::guards::budget::BudgetLimits::unlimited();
    cfg.api.rates = firebreak_gateway::api::RateLimits::unlimited();
    cfg.pressure = firebreak_gateway::guards::pressure::PressureConfig::off();
    let gw = Gateway::start(cfg).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let limits = ConnLimits { header_read_timeout: Duration::from_secs(5), grace: Duration::from_secs(1) };
    tokio::spawn(serve::serve(listener, gw.router(), limits, std::future::pending()));
    let client = Client::new(&url, None)?;
    let t = Instant::now();
    eval::load(&client, &set).await?;
    eval::drain(&client, Duration::from_secs(600)).await?;
    println!("history: {} incidents with notes, loaded and indexed in {:.0} s; {threads} inference thread(s)", set.past.len(), t.elapsed().as_secs_f64());

    let http = reqwest::Client::new();
    let (mut search, mut extractive, mut ttft, mut whole, mut share) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut prompt_tokens = Vec::new();
    for q in set.queries.iter().take(n) {
        let description = q.annotations.get("description").cloned().unwrap_or_default();
        let question = format!("{description} Have we seen this before, and what fixed it?");
        let t = Instant::now();
        client.call(Method::POST, "/v1/search", Some(&json!({"query": question, "k": 5}))).await?;
        let search_ms = t.elapsed().as_secs_f64() * 1000.0;
        search.push(search_ms);

        let ask = |model: &str, stream: bool| json!({"model": model, "stream": stream, "max_tokens": 64, "stream_options": {"include_usage": true},
                                                     "messages": [{"role": "user", "content": question}]});
        let t = Instant::now();
        client.call(Method::POST, "/v1/chat/completions", Some(&ask("firebreak-extractive", false))).await?;
        extractive.push(t.elapsed().as_secs_f64() * 1000.0);

        let t = Instant::now();
        let mut resp = http.post(format!("{url}/v1/chat/completions")).json(&ask("firebreak", true)).send().await?.error_for_status()?;
        let (mut first, mut buf) = (None, String::new());
        while let Some(chunk) = resp.chunk().await? {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            if first.is_none() && buf.lines().filter_map(|l| l.strip_prefix("data: ")).filter_map(|d| serde_json::from_str::<Value>(d).ok()).any(|c| c["choices"][0]["delta"]["content"].as_str().is_some_and(|s| !s.is_empty())) {
                first = Some(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        let total = t.elapsed().as_secs_f64() * 1000.0;
        let usage = buf.lines().filter_map(|l| l.strip_prefix("data: ")).filter_map(|d| serde_json::from_str::<Value>(d).ok()).find_map(|c| c["usage"]["prompt_tokens"].as_f64());
        prompt_tokens.push(usage.unwrap_or(0.0));
        ttft.push(first.unwrap_or(total));
        whole.push(total);
        share.push(100.0 * search_ms / total);
    }
    prompt_tokens.sort_by(f64::total_cmp);
    println!("{n} questions, streamed, max_tokens 64; prompts of {:.0}-{:.0} tokens (median {:.0})", prompt_tokens[0], prompt_tokens[prompt_tokens.len() - 1], percentile(&prompt_tokens, 0.5));
    println!("{:<34} {:>9} {:>9} {:>9}", "", "p50 ms", "p99 ms", "max ms");
    line("search (/v1/search, the same text)", search);
    line("extractive answer", extractive);
    line("generated: time to first token", ttft);
    line("generated: whole answer", whole);
    share.sort_by(f64::total_cmp);
    println!("retrieval's share of a generated answer: median {:.1} %, at most {:.1} %", percentile(&share, 0.5), share[share.len() - 1]);
    gw.shutdown(Duration::from_secs(1)).await;
    Ok(())
}
