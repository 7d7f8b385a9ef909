//! Bad inputs and broken model directories give clear errors that name the culprit, and
//! never panic.

use crate::common;

use std::path::Path;

use firebreak_embedder::{EmbedError, EngineConfig, Embedder, Priority};
use prometheus_client::registry::Registry;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_and_oversized_inputs_are_refused_and_long_ones_truncated() {
    let engine = common::engine(1);
    for text in ["", "   \n\t "] {
        let err = engine.embed(vec![text.into()], Priority::Interactive).await.unwrap_err();
        assert!(matches!(err, EmbedError::EmptyInput { index: 0 }), "{text:?}: {err}");
    }
    // One bad text fails the whole request, before anything is queued.
    let err = engine.embed(vec!["fine".into(), "".into()], Priority::Bulk).await.unwrap_err();
    assert!(matches!(err, EmbedError::EmptyInput { index: 1 }), "{err}");

    let megabyte = "word ".repeat((1 << 20) / 5);
    let err = engine.embed(vec![megabyte.clone()], Priority::Bulk).await.unwrap_err();
    assert!(matches!(err, EmbedError::InputTooLarge { limit: 262_144, .. }), "{err}");

    // Under a higher limit the same megabyte is truncated to max_seq_length, cheaply.
    let roomy = common::engine_with(|c| {
        c.cpu_threads = Some(1);
        c.max_input_chars = 2 << 20;
    });
    let started = std::time::Instant::now();
    let e = roomy.embed(vec![megabyte], Priority::Bulk).await.unwrap().remove(0);
    assert!(e.truncated && e.tokens == 256, "tokens {} truncated {}", e.tokens, e.truncated);
    println!("1 MB input embedded (truncated) in {:?}", started.elapsed());

    // A single 300 KB "word" without spaces becomes one [UNK]-style token run, not a hang.
    let blob = "x".repeat(200_000);
    let e = roomy.embed(vec![blob], Priority::Bulk).await.unwrap().remove(0);
    assert!(e.tokens >= 3);

    // The limit counts characters, as the API document's maxLength does: 100 characters of
    // two bytes each are within 100.
    let tight = common::engine_with(|c| {
        c.cpu_threads = Some(1);
        c.max_input_chars = 100;
    });
    assert!(tight.embed(vec!["é".repeat(100)], Priority::Bulk).await.is_ok());
    let err = tight.embed(vec!["é".repeat(101)], Priority::Bulk).await.unwrap_err();
    assert!(matches!(err, EmbedError::InputTooLarge { chars: 101, limit: 100, .. }), "{err}");
}

fn start(dir: &Path) -> Result<Embedder, EmbedError> {
    let mut cfg = EngineConfig::new(dir);
    cfg.cpu_threads = Some(1);
    Embedder::start(cfg, &mut Registry::default())
}

/// A scratch copy of the real model directory whose files can be broken one at a time.
fn scratch_model() -> tempfile::TempDir {
    let src = common::model_dir();
    let dir = tempfile::tempdir().unwrap();
    for f in ["config.json", "tokenizer.json", "model.safetensors", "sentence_bert_config.json", "modules.json"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    std::fs::create_dir(dir.path().join("1_Pooling")).unwrap();
    std::fs::copy(src.join("1_Pooling/config.json"), dir.path().join("1_Pooling/config.json")).unwrap();
    dir
}

fn edit_config(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = dir.join("config.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(p, serde_json::to_vec(&v).unwrap()).unwrap();
}

fn expect_error(dir: &Path, must_mention: &[&str]) {
    let err = match start(dir) {
        Ok(_) => panic!("a broken model directory must not load"),
        Err(e) => e.to_string(),
    };
    for m in must_mention {
        assert!(err.contains(m), "error {err:?} should mention {m:?}");
    }
}

#[tokio::test]
async fn broken_model_directories_are_refused_naming_the_file() {
    expect_error(Path::new("/nonexistent/model"), &["/nonexistent/model", "fetch-model.sh"]);

    let d = scratch_model();
    std::fs::write(d.path().join("config.json"), b"{ not json").unwrap();
    expect_error(d.path(), &["config.json", "invalid JSON"]);

    let d = scratch_model();
    edit_config(d.path(), |v| v["model_type"] = "llama".into());
    expect_error(d.path(), &["config.json", "llama", "BERT"]);

    let d = scratch_model();
    edit_config(d.path(), |v| v["num_attention_heads"] = 7.into());
    expect_error(d.path(), &["config.json", "num_attention_heads"]);

    let d = scratch_model();
    std::fs::remove_file(d.path().join("tokenizer.json")).unwrap();
    expect_error(d.path(), &["tokenizer.json"]);

    // A tokenizer from a bigger model than the weights were trained with.
    let d = scratch_model();
    edit_config(d.path(), |v| v["vocab_size"] = 1000.into());
    expect_error(d.path(), &["tokenizer.json", "mismatched tokenizer"]);

    // Weights truncated mid-download.
    let d = scratch_model();
    let p = d.path().join("model.safetensors");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 3]).unwrap();
    expect_error(d.path(), &["model.safetensors"]);

    // Weights of another model size.
    let d = scratch_model();
    edit_config(d.path(), |v| v["intermediate_size"] = 1024.into());
    expect_error(d.path(), &["model.safetensors", "intermediate.dense.weight", "shape"]);

    let d = scratch_model();
    std::fs::remove_file(d.path().join("model.safetensors")).unwrap();
    expect_error(d.path(), &["model.safetensors", "missing"]);

    let d = scratch_model();
    std::fs::write(d.path().join("1_Pooling/config.json"), br#"{"pooling_mode_max_tokens": true}"#).unwrap();
    expect_error(d.path(), &["1_Pooling/config.json", "pooling"]);
}

#[test]
fn embed_cli_answers_every_line_in_order_and_never_buffers_an_oversized_one() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_firebreak-embedder"))
        .args(["embed", "--cpu-threads", "1", "--max-input-chars", "4096", "--chunk", "2", "--model"])
        .arg(common::model_dir())
        .env("FIREBREAK_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        stdin.write_all(b"first line\n").unwrap();
        stdin.write_all(&vec![b'a'; 3 << 20]).unwrap(); // 3 MiB, no newline for a while
        stdin.write_all(b"\n\nlast line, no newline").unwrap();
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "bad lines make the exit code non-zero");
    let lines: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4, "one output line per input line");
    assert_eq!(lines[0]["tokens"], 4);
    assert_eq!(lines[1]["error"], "input_too_large");
    assert!(lines[1]["detail"].as_str().unwrap().contains("3145728 characters"));
    assert_eq!(lines[2]["error"], "empty_input");
    assert!(lines[3]["embedding"].as_array().is_some_and(|v| v.len() == 384));
}
