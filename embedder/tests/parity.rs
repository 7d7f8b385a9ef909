//! Parity with sentence-transformers: the fixture was computed independently (PyTorch,
//! exact GELU) from the same weights. Every case must match at cosine ≥ 0.9999, alone and
//! batched, on the production f32 CPU path and on the candle-ops reference path; the
//! reduced precisions (f16 as a GPU runs it, bf16 on AMX tiles) at ≥ 0.999.

use crate::common;

use firebreak_embedder::kernels::amx;
use firebreak_embedder::pooling::cosine;
use firebreak_embedder::{CpuKernels, DeviceKind, DeviceSpec, Embedder, Precision, Priority};

const MIN_COSINE: f32 = 0.9999;
const MIN_COSINE_REDUCED: f32 = 0.999;

/// The bound an engine is held to: reduced precision is labelled as such.
fn bound(engine: &Embedder) -> f32 {
    if engine.device_label().contains("bf16") {
        MIN_COSINE_REDUCED
    } else {
        MIN_COSINE
    }
}

/// Every fixture case alone and in one batch: cosine to the fixture at `min`, token
/// counts, truncation flags, unit norm, and alone == batched.
async fn matches_alone_and_in_one_batch(engine: &Embedder, min: f32) -> f32 {
    let reference = common::reference();
    assert_eq!(reference.max_seq_length, 256);
    assert_eq!(engine.model().max_seq_length, 256, "sentence_bert_config.json must override tokenizer.json's 128");

    let texts: Vec<String> = reference.cases.iter().map(|c| c.text.clone()).collect();
    let batched = engine.embed(texts.clone(), Priority::Bulk).await.unwrap();
    let mut worst = 1.0f32;
    for (case, got) in reference.cases.iter().zip(&batched) {
        let alone = engine.embed(vec![case.text.clone()], Priority::Interactive).await.unwrap().remove(0);
        for (label, e) in [("alone", &alone), ("batched", got)] {
            let cos = cosine(&e.vector, &case.embedding);
            worst = worst.min(cos);
            assert!(cos >= min, "{label} {:?}: cosine {cos}", case.text);
            assert_eq!(e.tokens, case.tokens, "{label} {:?}: token count", case.text);
            assert_eq!(e.truncated, case.tokens == 256, "{label} {:?}: truncated flag", case.text);
            let norm: f32 = e.vector.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "normalised like the model's Normalize module");
        }
        let same = cosine(&alone.vector, &got.vector);
        assert!(same >= 0.99999, "{:?}: alone vs batched cosine {same}", case.text);
    }
    worst
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_case_matches_alone_and_in_one_batch() {
    let engine = common::engine_with(|c| {
        c.cpu_threads = Some(2);
        c.device.precision = Precision::F32;
    });
    assert_eq!(engine.device_label(), "cpu packed-f32");
    matches_alone_and_in_one_batch(&engine, MIN_COSINE).await;
}

/// The AMX path: bf16 matmul inputs, f32 accumulation and everything else f32. Held to
/// the reduced-precision bound; where the CPU has no AMX (or the kernel refuses the tile
/// state), asking for bf16 runs f32, says so in the fallback metric, and is exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bf16_on_amx_tiles_stays_within_0_999_or_falls_back_to_f32() {
    let mut registry = prometheus_client::registry::Registry::default();
    let mut cfg = firebreak_embedder::EngineConfig::new(common::model_dir());
    cfg.cpu_threads = Some(2);
    cfg.device.precision = Precision::Bf16;
    let engine = Embedder::start(cfg, &mut registry).unwrap();
    let mut page = String::new();
    prometheus_client::encoding::text::encode(&mut page, &registry).unwrap();
    if amx::usable() {
        assert_eq!(engine.device_label(), "cpu packed-bf16-amx");
        assert!(page.contains("firebreak_embedder_device_fallbacks_total 0"), "{page}");
        let worst = matches_alone_and_in_one_batch(&engine, MIN_COSINE_REDUCED).await;
        eprintln!("bf16 on AMX tiles: worst cosine {worst}");
        // Auto picks the same path where AMX is there.
        assert_eq!(common::engine(2).device_label(), "cpu packed-bf16-amx");
    } else {
        eprintln!("this CPU or kernel offers no AMX-BF16: checking the f32 fallback instead");
        assert_eq!(engine.device_label(), "cpu packed-f32");
        assert!(page.contains("firebreak_embedder_device_fallbacks_total 1"), "{page}");
        matches_alone_and_in_one_batch(&engine, MIN_COSINE).await;
        assert_eq!(common::engine(2).device_label(), "cpu packed-f32");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candle_ops_reference_path_matches_the_fixture_too() {
    let reference = common::reference();
    let engine = common::engine_with(|c| {
        c.cpu_threads = Some(2);
        c.device.cpu_kernels = CpuKernels::CandleOps;
    });
    let texts: Vec<String> = reference.cases.iter().map(|c| c.text.clone()).collect();
    let got = engine.embed(texts, Priority::Bulk).await.unwrap();
    for (case, e) in reference.cases.iter().zip(&got) {
        let cos = cosine(&e.vector, &case.embedding);
        assert!(cos >= MIN_COSINE, "candle-ops {:?}: cosine {cos}", case.text);
    }
}

/// Half precision, as the GPU runs it by default, checked where it can be checked here:
/// the candle-ops forward pass (the code a CUDA device runs) in f16 on the CPU. The bound
/// for reduced precision is cosine ≥ 0.999 against the f32 fixture. (bf16 everywhere was
/// measured the same way and fell to 0.986: its 8-bit mantissa loses too much between
/// layers, so candle's bf16 is not offered; the AMX path keeps bf16 to the matmul inputs.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_precision_on_the_gpus_code_path_stays_within_0_999() {
    let reference = common::reference();
    for precision in [Precision::F16] {
        let engine = common::engine_with(|c| {
            c.cpu_threads = Some(2);
            c.device.cpu_kernels = CpuKernels::CandleOps;
            c.device.precision = precision;
        });
        let texts: Vec<String> = reference.cases.iter().map(|c| c.text.clone()).collect();
        let got = engine.embed(texts, Priority::Bulk).await.unwrap();
        let worst = reference.cases.iter().zip(&got).map(|(case, e)| cosine(&e.vector, &case.embedding)).fold(1.0f32, f32::min);
        eprintln!("{precision:?} on the candle-ops path: worst cosine {worst}");
        assert!(worst >= MIN_COSINE_REDUCED, "{precision:?}: worst cosine {worst}");
    }
}

/// A GPU that cannot be used (this build has no CUDA, or the driver finds no device)
/// is not fatal: the CPU path runs, with the CPU's batch limits, and matches the fixture.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_gpu_falls_back_to_the_cpu_path() {
    let reference = common::reference();
    let mut registry = prometheus_client::registry::Registry::default();
    let mut cfg = firebreak_embedder::EngineConfig::new(common::model_dir());
    cfg.cpu_threads = Some(2);
    cfg.device = DeviceSpec::cuda(7);
    let engine = firebreak_embedder::Embedder::start(cfg, &mut registry).expect("falls back instead of failing");
    assert!(engine.device_label().contains("cpu"), "{}", engine.device_label());
    let mut page = String::new();
    prometheus_client::encoding::text::encode(&mut page, &registry).unwrap();
    assert!(page.contains("firebreak_embedder_device_fallbacks_total 1"), "{page}");
    assert!(page.contains("firebreak_embedder_on_gpu 0"), "{page}");
    let texts: Vec<String> = reference.cases.iter().map(|c| c.text.clone()).collect();
    let got = engine.embed(texts, Priority::Bulk).await.unwrap();
    for (case, e) in reference.cases.iter().zip(&got) {
        let cos = cosine(&e.vector, &case.embedding);
        assert!(cos >= bound(&engine), "fallback {:?}: cosine {cos}", case.text);
    }
    assert_eq!(DeviceSpec::cuda(7).kind, DeviceKind::Cuda { ordinal: 7 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_formed_from_concurrent_requests_give_the_same_vectors() {
    let reference = common::reference();
    let engine = common::engine(2);
    // Each text alone first, then all of them at once from separate tasks (several
    // priorities), so the queue forms whatever batches timing gives it.
    let mut alone = Vec::new();
    for c in &reference.cases {
        alone.push(engine.embed(vec![c.text.clone()], Priority::Interactive).await.unwrap().remove(0));
    }
    let tasks: Vec<_> = reference
        .cases
        .iter()
        .cycle()
        .take(reference.cases.len() * 3)
        .enumerate()
        .map(|(i, c)| {
            let (e, text) = (engine.clone(), c.text.clone());
            let p = [Priority::Interactive, Priority::Alert, Priority::Bulk][i % 3];
            tokio::spawn(async move { e.embed(vec![text], p).await.unwrap().remove(0) })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        let got = t.await.unwrap();
        let want = &alone[i % reference.cases.len()];
        let cos = cosine(&got.vector, &want.vector);
        assert!(cos >= 0.99999, "{:?}: cosine {cos} between alone and dynamically batched", reference.cases[i % reference.cases.len()].text);
    }
}

/// An operator who asked for f32 on a GPU that is gone keeps f32 on the CPU fallback (not
/// the CPU's reduced-precision default), and bf16 on a GPU is refused at start, not run
/// as something else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gpu_fallback_keeps_an_explicit_f32_and_bf16_on_a_gpu_is_refused() {
    let mut cfg = firebreak_embedder::EngineConfig::new(common::model_dir());
    cfg.cpu_threads = Some(2);
    cfg.device = DeviceSpec { precision: Precision::F32, ..DeviceSpec::cuda(7) };
    let engine = Embedder::start(cfg, &mut prometheus_client::registry::Registry::default()).expect("falls back");
    assert_eq!(engine.device_label(), "cpu packed-f32");

    let mut cfg = firebreak_embedder::EngineConfig::new(common::model_dir());
    cfg.cpu_threads = Some(2);
    cfg.device = DeviceSpec { precision: Precision::Bf16, ..DeviceSpec::cuda(7) };
    let err = Embedder::start(cfg, &mut prometheus_client::registry::Registry::default()).err().expect("refused");
    assert!(err.to_string().contains("bf16 is the CPU's AMX path"), "{err}");
}
