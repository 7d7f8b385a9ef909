//! `bench`: prints the machine's matmul peak, then one line of figures per batch size;
//! with `--chat-model`, the chat model's prompt and generation rates and time to first token.

use std::process::ExitCode;

use firebreak_embedder::bench::{amx_peak_gflops, bf16_peak_gflops, corpus, matmul_peak_gflops, measure, measure_chat};
use firebreak_embedder::chat::ChatEngine;
use firebreak_embedder::Embedder;
use prometheus_client::registry::Registry;

use crate::cli::BenchArgs;

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        let mut cfg = args.engine.config()?;
        let largest = args.batch_sizes.iter().copied().max().unwrap_or(1);
        // Let each client call run as one batch, as large as asked.
        cfg.device.max_batch_size = cfg.device.max_batch_size.max(largest);
        cfg.device.max_batch_tokens = cfg.device.max_batch_tokens.max(largest * 512);
        cfg.device.explicit_batch = true;
        let engine = Embedder::start(cfg, &mut Registry::default())?;
        let texts = corpus(args.texts);
        let tokens: usize = texts
            .iter()
            .enumerate()
            .map(|(i, t)| engine.tokenizer().encode(i, t).map(|t| t.ids.len()).unwrap_or(0))
            .sum();
        let peak = matmul_peak_gflops(engine.budget())?;
        println!(
            "model {} on {} with {} thread(s); corpus {} texts, {} tokens (mean {:.1})",
            engine.model().name,
            engine.device_label(),
            engine.cpu_threads(),
            texts.len(),
            tokens,
            tokens as f64 / texts.len().max(1) as f64
        );
        println!("matmul peak (candle f32, best of 1024³ and FFN shapes): {peak:.1} GFLOP/s");
        if engine.device_label().contains("bf16") {
            if let Some(tiles) = amx_peak_gflops(engine.budget()) {
                println!("bf16 AMX tile matmul (this engine's kernel, FFN shapes): {tiles:.1} GFLOP/s; \"of peak\" below is of the f32 peak");
            }
        } else if !firebreak_embedder::kernels::amx::usable() {
            // AVX512-BF16 without AMX (AMD Zen 4): the engine runs f32; this says whether
            // the vdpbf16ps kernel would beat that peak here (not used by the engine yet).
            if let Some(dot) = bf16_peak_gflops(engine.budget(), firebreak_embedder::kernels::amx::Kernel::AvxDot) {
                println!("bf16 vdpbf16ps matmul (AVX512-BF16, FFN shapes, not used yet): {dot:.1} GFLOP/s ({:.2}x the f32 peak)", dot / peak);
            }
        }
        println!("{:>6} {:>12} {:>10} {:>9} {:>9} {:>9} {:>8}", "batch", "sentences/s", "tokens/s", "p50 ms", "p99 ms", "GFLOP/s", "of peak");
        for &b in &args.batch_sizes {
            let f = measure(&engine, &texts, b.max(1)).await?;
            println!(
                "{:>6} {:>12.1} {:>10.0} {:>9.1} {:>9.1} {:>9.1} {:>7.0}%",
                f.batch, f.sentences_per_s, f.tokens_per_s, f.p50_ms, f.p99_ms, f.gflops, 100.0 * f.gflops / peak
            );
        }
        if let Some(cfg) = args.chat.config() {
            let chat = ChatEngine::start(cfg, engine.budget().clone(), engine.gate().clone(), &mut Registry::default())?;
            let f = measure_chat(&chat, args.chat_runs, args.chat_context_texts, args.chat_new_tokens).await?;
            println!(
                "chat {} on the same {} thread(s): prompt {} tokens, {} runs of at most {} new tokens, greedy",
                chat.name(), engine.cpu_threads(), f.prompt_tokens, f.runs, args.chat_new_tokens
            );
            println!("{:>16} {:>16} {:>11} {:>11} {:>12} {:>12}", "prompt tokens/s", "new tokens/s", "TTFT p50 ms", "TTFT p99 ms", "answer p50", "answer p99");
            println!(
                "{:>16.0} {:>16.1} {:>11.0} {:>11.0} {:>12.0} {:>12.0}",
                f.prompt_tokens_per_s, f.generated_tokens_per_s, f.ttft_p50_ms, f.ttft_p99_ms, f.answer_p50_ms, f.answer_p99_ms
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}
