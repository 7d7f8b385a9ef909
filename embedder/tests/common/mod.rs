//! Shared helpers for the embedder's integration tests: where the real model and the
//! independent reference fixtures live. Both are required; a missing one fails loudly
//! with the command that provides it, rather than skipping the test.
#![allow(dead_code)]

use std::path::PathBuf;

use prometheus_client::registry::Registry;
use serde::Deserialize;

use firebreak_embedder::{EngineConfig, Embedder};

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The model directory: `FIREBREAK_MODEL_DIR`, or `models/all-MiniLM-L6-v2` in the workspace.
pub fn model_dir() -> PathBuf {
    let dir = std::env::var_os("FIREBREAK_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("models/all-MiniLM-L6-v2"));
    assert!(dir.join("model.safetensors").is_file(), "no model in {} (run scripts/fetch-model.sh)", dir.display());
    dir
}

/// The chat model directory: `FIREBREAK_CHAT_MODEL`, or `models/SmolLM2-135M-Instruct`.
pub fn chat_model_dir() -> PathBuf {
    let dir = std::env::var_os("FIREBREAK_CHAT_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("models/SmolLM2-135M-Instruct"));
    assert!(dir.exists(), "no chat model in {} (run scripts/fetch-chat-model.sh)", dir.display());
    dir
}

/// The registry's text exposition.
pub fn render(registry: &Registry) -> String {
    let mut s = String::new();
    prometheus_client::encoding::text::encode(&mut s, registry).unwrap();
    s
}

/// `../shared/fixtures` beside the checkout, or `FIREBREAK_FIXTURES`.
pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("FIREBREAK_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/fixtures"))
}

#[derive(Deserialize)]
pub struct Case {
    pub text: String,
    pub tokens: usize,
    pub embedding: Vec<f32>,
}

#[derive(Deserialize)]
pub struct Reference {
    pub max_seq_length: usize,
    pub cases: Vec<Case>,
}

pub fn reference() -> Reference {
    let path = fixtures_dir().join("minilm-l6-v2-reference.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap()
}

/// An engine on the real model with the given thread budget and default limits.
pub fn engine(threads: usize) -> Embedder {
    engine_with(|c| c.cpu_threads = Some(threads))
}

pub fn engine_with(f: impl FnOnce(&mut EngineConfig)) -> Embedder {
    let mut cfg = EngineConfig::new(model_dir());
    f(&mut cfg);
    Embedder::start(cfg, &mut Registry::default()).expect("engine starts")
}
