//! Long documents on the real tokenizer and index: cut into overlapping chunks that fit
//! the model, every chunk findable (the last one too), and a document that gets shorter
//! leaves no stale chunks behind.

use crate::common;

use std::time::{Duration, Instant};

use firebreak_gateway::app::Gateway;
use firebreak_gateway::pipeline::chunking::{by_model, ChunkPolicy};
use firebreak_gateway::clock::now_millis;
use firebreak_gateway::pipeline::store::NewDocument;
use serde_json::json;

fn long_text(paragraphs: usize, ending: &str) -> String {
    let mut t: Vec<String> = (0..paragraphs)
        .map(|i| format!("Paragraph {i}: the storage controller rebalanced volume replicas across the nodes of the cluster after maintenance window {i}."))
        .collect();
    t.push(ending.to_owned());
    t.join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_documents_are_chunked_indexed_and_shrink_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::one_core_gateway(dir.path());
    cfg.indexer.poll_interval = Duration::from_millis(50);
    let gw = Gateway::start(cfg).await.unwrap();
    let state = gw.state.clone();

    // The chunker on the real tokenizer: every chunk fits, consecutive chunks overlap.
    assert!(state.scheduler.backend().describe().starts_with("in-process"));
    let text = long_text(60, "Finally the certificate for the ingress controller expired at midnight.");
    let tok = firebreak_embedder::tokenize::TextTokenizer::load(
        &common::server::model_dir().join("tokenizer.json"),
        256,
        usize::MAX,
        usize::MAX,
    )
    .unwrap();
    let tok = std::sync::Arc::new(tok);
    let policy = ChunkPolicy::for_model(256);
    let chunks = by_model(tok.clone()).chunk(&text, policy);
    assert!(chunks.chunks.len() >= 6, "{} chunks", chunks.chunks.len());
    for c in &chunks.chunks {
        let n = tok.token_spans(c).unwrap().len();
        assert!(n <= policy.max_tokens, "a chunk of {n} tokens does not fit");
    }
    for pair in chunks.chunks.windows(2) {
        let tail: String = pair[0].chars().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect();
        assert!(pair[1].contains(tail.trim()), "chunks must overlap: …{tail:?} not in the next one");
    }

    let wait_drained = || async {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let b = state.store.backlog(now_millis()).await.unwrap();
            if b.pending == 0 && b.leased == 0 {
                return;
            }
            assert!(Instant::now() < deadline, "outbox never drained: {b:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let doc = |text: String| NewDocument { external_id: "storage-log".into(), title: Some("Storage log".into()), text, metadata: json!({}), updated_at: None };
    state.store.ingest("ingester", "wiki", "r1", &[doc(text.clone())], now_millis()).await.unwrap();
    state.wake.notify_one();
    wait_drained().await;
    let points = state.index.count(&Default::default()).await.unwrap();
    assert_eq!(points as usize, chunks.chunks.len(), "one point per chunk (title included in the text)");

    // The tail is as findable as the head.
    let q = firebreak_gateway::query::search::Query {
        source: "test".into(),
        text: "TLS certificate expiry on the ingress".into(),
        alert: None,
        k: 1,
        filter: Default::default(),
        mode: firebreak_gateway::query::search::Mode::Hybrid,
    };
    let r = state.searcher.search(&q).await.unwrap();
    assert_eq!(r.results[0].document.as_ref().unwrap().external_id, "storage-log");
    assert!(r.results[0].snippet.contains("certificate"), "the snippet is the matching chunk: {}", r.results[0].snippet);

    // The document shrinks to one chunk: the old chunks go.
    state.store.ingest("ingester", "wiki", "r2", &[doc("Storage is healthy again.".into())], now_millis()).await.unwrap();
    state.wake.notify_one();
    wait_drained().await;
    assert_eq!(state.index.count(&Default::default()).await.unwrap(), 1);
    gw.shutdown(Duration::from_secs(5)).await;
}
