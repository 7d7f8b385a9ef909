//! `firebreak-embedder bench`: throughput and latency per batch size on a fixed generated
//! corpus, and the achieved GFLOP/s against this machine's own matmul peak measured in the
//! same run, so the ratio means something on any node.

use std::time::Instant;

use candle_core::{Device, Tensor};

use crate::budget::CpuBudget;
use crate::engine::Embedder;
use crate::kernels::amx;
use crate::error::Result;
use crate::queue::Priority;

/// A small deterministic PRNG (SplitMix64): the corpus must be identical on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const SERVICES: &[&str] = &[
    "checkout-api", "payments-gateway", "auth-service", "postgres-primary", "redis-cache", "ingress-nginx",
    "coredns", "longhorn-manager", "immich-server", "mailu-front", "librechat", "qdrant", "kube-apiserver",
];
const HOSTS: &[&str] = &["node01", "node02", "k8s-node-14", "gpu-node-2", "db-02", "worker-22", "edge-1"];
const SYMPTOMS: &[&str] = &[
    "OOMKilled restarts", "CrashLoopBackOff", "readiness probe failures", "elevated 503 responses",
    "PVC stuck in Pending", "DNS resolution failures", "certificate expiry warnings", "load average above 150",
    "ImagePullBackOff", "connection pool exhaustion", "disk pressure evictions", "slow queries",
];
const CAUSES: &[&str] = &[
    "a bulk ingest CronJob saturating the shared node", "an expired pull secret", "a Service selector matching two pods",
    "a memory leak after the last deploy", "a single CoreDNS replica evicted during a drain", "rotated IAM credentials",
    "an etcd quorum loss during the VLAN migration", "a runaway embedding job", "a full WAL volume",
];
const ACTIONS: &[&str] = &[
    "rolled back the deployment", "raised the memory limit to 2Gi", "added a second replica and a PodDisruptionBudget",
    "fixed the selector to include app.kubernetes.io/component", "recreated the pull secret", "paused the CronJob",
    "expanded the volume and vacuumed", "cordoned and drained the node", "rate limited the ingest client",
];
const CHAT: &[&str] = &[
    "can you check why the pods keep restarting", "I think it started after the upgrade last night",
    "the dashboard shows CPU pinned at 100 percent on node02", "is this the same thing we saw in March",
    "let's not restart it yet, grab the logs first", "Alertmanager fired again for the same fingerprint",
    "the ingest job has been running for seven hours", "we should put a budget on the embedder",
    "who owns the backup job, it failed twice this week", "ok that fixed it, closing the incident",
];

fn sentence(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => format!(
            "[{}] {} on {}: {} for {} minutes.",
            rng.pick(&["critical", "warning", "SEV2", "info"]),
            rng.pick(SERVICES),
            rng.pick(HOSTS),
            rng.pick(SYMPTOMS),
            2 + rng.below(58)
        ),
        1 => format!("Root cause for {} was {}; we {}.", rng.pick(SERVICES), rng.pick(CAUSES), rng.pick(ACTIONS)),
        2 => format!("{} reported {} caused by {}.", rng.pick(HOSTS), rng.pick(SYMPTOMS), rng.pick(CAUSES)),
        _ => format!("{}.", rng.pick(CHAT)),
    }
}

/// `n` alert- and chat-like texts of 8 to 200 words, the same on every run.
pub fn corpus(n: usize) -> Vec<String> {
    let mut rng = Rng(20_240_601);
    (0..n)
        .map(|_| {
            let target = 8 + rng.below(193);
            let mut words: Vec<String> = Vec::new();
            while words.len() < target {
                words.extend(sentence(&mut rng).split_whitespace().map(str::to_owned));
            }
            words.truncate(target);
            words.join(" ")
        })
        .collect()
}

/// Best f32 matmul rate of candle on this machine inside `budget`, in GFLOP/s: the ceiling
/// the model's dense layers are compared against. Square 1024³ and the model's own FFN
/// shape are both tried, best of several runs each, so a noisy neighbour on a shared node
/// lowers neither the peak nor the ratio by accident.
pub fn matmul_peak_gflops(budget: &CpuBudget) -> Result<f64> {
    budget.install(|| {
        let mut best = 0f64;
        for (m, k, n) in [(1024, 1024, 1024), (2048, 384, 1536), (2048, 1536, 384)] {
            let a = Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu)?;
            let b = Tensor::randn(0f32, 1.0, (k, n), &Device::Cpu)?;
            let _ = a.matmul(&b)?;
            for _ in 0..10 {
                let t = Instant::now();
                let c = a.matmul(&b)?;
                let dt = t.elapsed().as_secs_f64();
                drop(c);
                best = best.max(2.0 * (m * k * n) as f64 / dt / 1e9);
            }
        }
        Ok(best)
    })
}

/// Best rate of this engine's own bf16 AMX tile matmul on the model's FFN shapes inside
/// `budget`, in GFLOP/s, or `None` without AMX. Printed beside the f32 peak when the bf16
/// path runs: its matmuls are then several times the f32 peak, so the ratio to the f32
/// peak says how much faster than the f32 ceiling the engine runs, and this one how far
/// the rest of the model (attention, norms, GELU) keeps it from the tiles' own rate.
pub fn amx_peak_gflops(budget: &CpuBudget) -> Option<f64> {
    bf16_peak_gflops(budget, amx::Kernel::Amx)
}

/// As [`amx_peak_gflops`], for either bf16 kernel; `None` where it cannot run. On a CPU
/// with AVX512-BF16 and no AMX, `bench` prints the `vdpbf16ps` kernel's rate beside the f32
/// peak whatever the engine runs: whether it beats f32 there is the question (issue 26).
pub fn bf16_peak_gflops(budget: &CpuBudget, kernel: amx::Kernel) -> Option<f64> {
    if !kernel.usable() {
        return None;
    }
    budget.install(|| {
        let mut best = 0f64;
        for (m, k, n) in [(2048, 384, 1536), (2048, 1536, 384)] {
            let w: Vec<f32> = (0..k * n).map(|i| ((i % 17) as f32 - 8.0) * 0.01).collect();
            let w = amx::PackedWeights::pack(&w, k, n)?;
            let a: Vec<u16> = (0..m * k).map(|i| amx::to_bf16(((i % 13) as f32 - 6.0) * 0.1)).collect();
            let mut c = vec![0f32; m * n];
            for _ in 0..10 {
                let t = Instant::now();
                amx::matmul_with(kernel, &mut c, &a, m, &w, amx::Start::Output, None);
                best = best.max(2.0 * (m * k * n) as f64 / t.elapsed().as_secs_f64() / 1e9);
            }
        }
        Some(best)
    })
}

/// Figures for one client batch size.
#[derive(Debug, Clone)]
pub struct BatchFigures {
    pub batch: usize,
    pub sentences_per_s: f64,
    pub tokens_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub gflops: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let k = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[k]
}

/// Embeds `texts` in consecutive calls of `batch` texts from one client, timing each call.
pub async fn measure(engine: &Embedder, texts: &[String], batch: usize) -> Result<BatchFigures> {
    // Warm-up: first-touch of buffers and weights.
    engine.embed(texts.iter().take(batch).cloned().collect(), Priority::Bulk).await?;
    let cfg = &engine.model().bert;
    let (mut tokens, mut flops) = (0usize, 0f64);
    let mut lat = Vec::new();
    let start = Instant::now();
    for chunk in texts.chunks(batch) {
        let t = Instant::now();
        let out = engine.embed(chunk.to_vec(), Priority::Bulk).await?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        for e in &out {
            tokens += e.tokens;
            flops += cfg.flops_for_sequence(e.tokens);
        }
    }
    let wall = start.elapsed().as_secs_f64();
    lat.sort_by(|a, b| a.total_cmp(b));
    Ok(BatchFigures {
        batch,
        sentences_per_s: texts.len() as f64 / wall,
        tokens_per_s: tokens as f64 / wall,
        p50_ms: percentile(&lat, 0.5),
        p99_ms: percentile(&lat, 0.99),
        gflops: flops / wall / 1e9,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn corpus_is_deterministic_and_in_range() {
        let a = super::corpus(50);
        assert_eq!(a, super::corpus(50));
        for t in &a {
            let n = t.split_whitespace().count();
            assert!((8..=200).contains(&n), "{n} words");
        }
    }
}

/// What the chat model does on this machine: reading a prompt, writing an answer.
#[derive(Debug, Clone)]
pub struct ChatFigures {
    pub runs: usize,
    pub prompt_tokens: usize,
    /// Prompt tokens read per second (time to first token, the prompt's share of it).
    pub prompt_tokens_per_s: f64,
    /// New tokens per second after the first.
    pub generated_tokens_per_s: f64,
    pub ttft_p50_ms: f64,
    pub ttft_p99_ms: f64,
    pub answer_p50_ms: f64,
    pub answer_p99_ms: f64,
}

/// `runs` greedy answers of at most `new_tokens` to a prompt of incident context about
/// the size the gateway sends (the corpus's texts as numbered items, `context_texts` of
/// them), one after another on an idle engine.
pub async fn measure_chat(chat: &crate::chat::ChatEngine, runs: usize, context_texts: usize, new_tokens: usize) -> Result<ChatFigures> {
    use crate::chat::{Event, Generate, Turn};
    let items: Vec<String> = corpus(context_texts).iter().enumerate().map(|(i, t)| format!("[{}] {t}", i + 1)).collect();
    let question = format!("Context:\n{}\n\nQuestion: have we seen this before, and what fixed it?", items.join("\n"));
    let turns = vec![Turn { role: "system".into(), text: "Answer from the context and cite it.".into() }, Turn { role: "user".into(), text: question }];
    let prompt_tokens = chat.prompt_tokens(&turns)?;
    let (mut ttft, mut total, mut decode_rate) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let mut g = chat.generate(Generate { turns: turns.clone(), max_tokens: Some(new_tokens), temperature: None, seed: 0 })?;
        let mut first = None;
        while let Some(e) = g.events.recv().await {
            match e {
                Event::Text(_) => {
                    first.get_or_insert_with(Instant::now);
                }
                Event::Done { completion_tokens, .. } => {
                    let end = Instant::now();
                    let first = first.unwrap_or(end);
                    ttft.push(first.duration_since(started).as_secs_f64());
                    total.push(end.duration_since(started).as_secs_f64());
                    let after_first = end.duration_since(first).as_secs_f64();
                    if completion_tokens > 1 && after_first > 0.0 {
                        decode_rate.push((completion_tokens - 1) as f64 / after_first);
                    }
                    break;
                }
                Event::Failed(why) => return Err(crate::error::EmbedError::Inference(why)),
            }
        }
    }
    let pct = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1] * 1000.0
    };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let ttft_mean = mean(&ttft);
    Ok(ChatFigures {
        runs: ttft.len(),
        prompt_tokens,
        prompt_tokens_per_s: prompt_tokens as f64 / ttft_mean.max(1e-9),
        generated_tokens_per_s: mean(&decode_rate),
        ttft_p50_ms: pct(&mut ttft.clone(), 0.5),
        ttft_p99_ms: pct(&mut ttft, 0.99),
        answer_p50_ms: pct(&mut total.clone(), 0.5),
        answer_p99_ms: pct(&mut total, 0.99),
    })
}
