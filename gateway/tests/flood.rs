//! Memory stays bounded whatever the input rate: the real binary is flooded by hundreds of
//! clients at once, each sending a 2 MiB body, and its peak resident memory (VmHWM) must
//! stay far below what buffering them all would take. The in-flight limit sheds the
//! excess before reading a byte, and the body limit bounds what is read.

use crate::common;

use std::time::Duration;

use common::server::Server;

const CLIENTS: usize = 300;
const BODY: usize = 2 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_large_requests_keeps_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<String> = [
        "--data-dir", dir.path().to_str().unwrap(),
        "--embedder-url", "http://127.0.0.1:1",
        "--max-concurrent-requests", "16",
        // The rate limit would refuse nearly all of them before their bodies: switched off
        // to flood the body path itself, the worst case for memory.
        "--alerts-rate", "off",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let s = Server::start(&args);
    let before = s.memory_kib("VmRSS");
    // Valid JSON, 2 MiB, not a webhook: read in full, then refused with 400.
    let body = format!("{{\"padding\": \"{}\"}}", "x".repeat(BODY - 16));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    for _round in 0..2 {
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let req = client.post(format!("{}/v1/alerts", s.url)).header("content-type", "application/json").body(body.clone());
                tokio::spawn(async move { req.send().await.map(|r| r.status().as_u16().to_string()).unwrap_or_else(|_| "reset".into()) })
            })
            .collect();
        for t in tasks {
            *codes.entry(t.await.unwrap()).or_default() += 1;
        }
    }
    let peak = s.memory_kib("VmHWM");
    let grew_mib = peak.saturating_sub(before) / 1024;
    // Buffering every body at once would take 600 MiB; 16 in flight take about 32 MiB of
    // bodies (plus parse copies and allocator slack).
    assert!(grew_mib < 200, "peak RSS grew by {grew_mib} MiB under the flood ({codes:?}):\n{}", s.log());
    assert!(codes.get("503").copied().unwrap_or(0) > 0, "the excess was shed: {codes:?}");
    // Still serving.
    let health = reqwest::get(format!("{}/healthz", s.url)).await.unwrap();
    assert_eq!(health.status(), 200);
    eprintln!("flood: RSS {before} KiB before, peak {peak} KiB; answers {codes:?}");
    s.stop();
}
