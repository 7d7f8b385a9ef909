//! The CUDA build on a machine with the driver's library but no GPU (CI: the link stub
//! scripts/cuda-toolkit.sh builds, whose every entry point answers
//! CUDA_ERROR_NO_DEVICE): asked for `cuda:0`, the real binary says why it falls back,
//! runs the CPU path, and still matches the fixture. Only in the `cuda` build
//! (scripts/cuda-check.sh); the CPU build proves its own fallback in tests/parity.rs.
#![cfg(feature = "cuda")]

use crate::common;

use std::io::Write;
use std::process::{Command, Stdio};

use firebreak_embedder::pooling::cosine;

#[test]
fn the_cuda_binary_without_a_gpu_falls_back_to_the_cpu_and_matches_the_fixture() {
    let reference = common::reference();
    let mut child = Command::new(env!("CARGO_BIN_EXE_firebreak-embedder"))
        .args(["embed", "--device", "cuda:0", "--cpu-threads", "1", "--model"])
        .arg(common::model_dir())
        .env("FIREBREAK_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the CUDA binary starts (LD_LIBRARY_PATH must reach the CUDA libraries and the driver stub)");
    let input: String = reference.cases.iter().map(|c| format!("{}\n", c.text.replace('\n', " "))).collect();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("falling back to the CPU path") && stderr.contains("CUDA device 0"), "{stderr}");
    assert!(!stderr.contains("not been built with cuda"), "this must be the CUDA build, refused by the driver: {stderr}");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), reference.cases.len());
    // The CPU path it falls back to runs bf16 on AMX tiles where the CPU has them (the
    // fallback line names it), held to the reduced-precision bound like f16 on a GPU.
    let min = if stderr.contains("packed-bf16") { 0.999 } else { 0.9999 };
    for (case, line) in reference.cases.iter().zip(&lines) {
        if case.text.contains('\n') {
            continue; // `embed` reads one text per line
        }
        let v: Vec<f32> = serde_json::from_value(line["embedding"].clone()).unwrap();
        let cos = cosine(&v, &case.embedding);
        assert!(cos >= min, "{:?}: cosine {cos}", case.text);
    }
}
