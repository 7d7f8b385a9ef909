//! The device seam: the one place that decides where and how a batch runs (device, dtype,
//! kernels, batch sizing). The engine, queue and API above it are device-blind, so the
//! CUDA build adds a device here and no second engine.
//!
//! A CUDA device that cannot be used (no GPU, no driver, a build without the `cuda`
//! feature) is not fatal: the engine falls back to the CPU path under its CPU budget,
//! logs why, and counts it (`firebreak_embedder_device_fallbacks_total`). An embedder
//! that refuses to start on a GPU node whose GPU is gone would take alert intake with it;
//! one that runs slower on the CPU keeps answering, and the metric pages someone.

use candle_core::{DType, Device};

use crate::error::{EmbedError, Result};
use crate::forward::candle_ops::CandleForward;
use crate::forward::packed_cpu::PackedCpuForward;
use crate::forward::Forward;
use crate::kernels::amx;
use crate::model_dir::ModelSpec;
use crate::weights::BertWeights;

/// Where inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Cpu,
    Cuda { ordinal: usize },
}

impl std::fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceKind::Cpu => f.write_str("cpu"),
            DeviceKind::Cuda { ordinal } => write!(f, "cuda:{ordinal}"),
        }
    }
}

/// Which implementation runs on the CPU. `Packed` is the production path; `CandleOps`
/// is the reference (and what a non-CPU device runs), selectable for comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuKernels {
    Packed,
    CandleOps,
}

/// Weight and activation precision.
///
/// - `Auto`: f16 on a GPU (half the memory traffic, tensor cores), and on the CPU bf16
///   matmuls on AMX tiles where the CPU and kernel offer them, f32 elsewhere. Both reduced
///   precisions are held by the parity tests to cosine ≥ 0.999 against the f32 fixture.
/// - `F32`: exact to the fixture at 0.9999, everywhere.
/// - `F16`: as on a GPU; on the CPU only through the candle kernels.
/// - `Bf16`: the CPU's AMX path. Only the dense matmuls' inputs are bf16 (f32 accumulation,
///   f32 norms, softmax and GELU): bf16 everywhere, as candle's bf16 dtype runs it, falls
///   to 0.986 on the fixture and is not offered. Asked for on a CPU without AMX, the f32
///   path runs and the reason is logged and counted as a fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    Auto,
    F32,
    F16,
    Bf16,
}

impl Precision {
    fn dtype(self, kind: DeviceKind) -> DType {
        match (self, kind) {
            (Precision::F32 | Precision::Bf16, _) | (Precision::Auto, DeviceKind::Cpu) => DType::F32,
            (Precision::F16, _) | (Precision::Auto, DeviceKind::Cuda { .. }) => DType::F16,
        }
    }
}

/// Device, kernels and the batch limits that suit them.
#[derive(Debug, Clone)]
pub struct DeviceSpec {
    pub kind: DeviceKind,
    pub cpu_kernels: CpuKernels,
    pub precision: Precision,
    /// Largest padded cost of one batch: longest sequence × number of sequences.
    pub max_batch_tokens: usize,
    /// Most sequences in one batch.
    pub max_batch_size: usize,
    /// The batch limits were given by the operator: kept on fallback, not replaced by the
    /// CPU's.
    pub explicit_batch: bool,
}

/// What [`DeviceSpec::build`] made: the forward pass, the spec it actually runs with, and
/// why it is not the one asked for, when it is not.
pub struct Built {
    pub forward: Box<dyn Forward>,
    pub spec: DeviceSpec,
    pub fallback: Option<String>,
}

impl DeviceSpec {
    /// CPU defaults: batches of up to 32 texts keep the matmuls large enough to reach the
    /// machine's peak while one batch stays well under a second on two cores.
    pub fn cpu() -> Self {
        DeviceSpec {
            kind: DeviceKind::Cpu,
            cpu_kernels: CpuKernels::Packed,
            precision: Precision::Auto,
            max_batch_tokens: 8192,
            max_batch_size: 32,
            explicit_batch: false,
        }
    }

    /// GPU defaults: a GPU is only busy with big batches, and MiniLM's activations for
    /// 32 768 padded tokens in f16 are a few hundred MiB, a small share of any card the
    /// GPU node would have. The queue groups texts of similar length, so the padded cost
    /// stays close to the real one.
    pub fn cuda(ordinal: usize) -> Self {
        DeviceSpec { kind: DeviceKind::Cuda { ordinal }, max_batch_tokens: 32_768, max_batch_size: 256, ..DeviceSpec::cpu() }
    }

    /// Checks the limits against the model: a batch must always fit one full sequence.
    pub fn validate(&self, model: &ModelSpec) -> Result<()> {
        if self.max_batch_size == 0 || self.max_batch_tokens < model.max_seq_length {
            return Err(EmbedError::Inference(format!(
                "max_batch_tokens ({}) must be at least max_seq_length ({}) and max_batch_size ({}) at least 1",
                self.max_batch_tokens, model.max_seq_length, self.max_batch_size
            )));
        }
        Ok(())
    }

    /// Loads the weights onto the device and returns its forward pass; a CUDA device that
    /// cannot be opened falls back to the CPU (see the module docs).
    pub fn build(&self, model: &ModelSpec) -> Result<Built> {
        self.validate(model)?;
        if matches!(self.kind, DeviceKind::Cuda { .. }) && self.precision == Precision::Bf16 {
            // Refused rather than run as something else: bf16 names the CPU's AMX path.
            return Err(EmbedError::Inference("bf16 is the CPU's AMX path; on a GPU use f16 (auto) or f32".into()));
        }
        match self.kind {
            DeviceKind::Cpu => {
                let (forward, fallback) = self.build_cpu(model)?;
                Ok(Built { forward, spec: self.clone(), fallback })
            }
            DeviceKind::Cuda { ordinal } => match Device::new_cuda(ordinal) {
                Ok(device) => {
                    let dtype = self.precision.dtype(self.kind);
                    let w = BertWeights::load(&model.weights_path(), &model.bert, &device, dtype)?;
                    let forward = Box::new(CandleForward::new(w, model.bert.clone(), model.pooling, device, dtype));
                    Ok(Built { forward, spec: self.clone(), fallback: None })
                }
                Err(e) => {
                    // The CPU path in its own precision (auto: bf16 on AMX, else f32),
                    // unless the operator asked for f32, which stays exact; with the CPU's
                    // batch limits unless the operator chose the limits.
                    let precision = if self.precision == Precision::F32 { Precision::F32 } else { Precision::Auto };
                    let spec = if self.explicit_batch {
                        DeviceSpec { kind: DeviceKind::Cpu, precision, ..self.clone() }
                    } else {
                        DeviceSpec { cpu_kernels: self.cpu_kernels, precision, ..DeviceSpec::cpu() }
                    };
                    spec.validate(model)?;
                    let (forward, _) = spec.build_cpu(model)?;
                    // candle appends a backtrace to the error when RUST_BACKTRACE is set:
                    // the log line keeps the driver's answer only.
                    let why = e.to_string();
                    let why = why.lines().next().unwrap_or("unknown error").trim();
                    Ok(Built { forward, spec, fallback: Some(format!("CUDA device {ordinal} is not usable: {why}")) })
                }
            },
        }
    }

    fn build_cpu(&self, model: &ModelSpec) -> Result<(Box<dyn Forward>, Option<String>)> {
        let dtype = self.precision.dtype(DeviceKind::Cpu);
        Ok(match self.cpu_kernels {
            CpuKernels::Packed if dtype != DType::F32 => {
                return Err(EmbedError::Inference(format!(
                    "the packed CPU kernels are f32 or bf16 only; {dtype:?} on the CPU needs the candle kernels (--kernels candle)"
                )))
            }
            CpuKernels::CandleOps if self.precision == Precision::Bf16 => {
                return Err(EmbedError::Inference(
                    "bf16 runs on the packed CPU kernels' AMX path only (--kernels packed)".into(),
                ))
            }
            CpuKernels::Packed => {
                let amx = amx::usable();
                let bf16 = amx && matches!(self.precision, Precision::Auto | Precision::Bf16);
                let fallback = (self.precision == Precision::Bf16 && !amx)
                    .then(|| "bf16 needs AMX-BF16, which this CPU or kernel does not offer: running f32".to_string());
                let w = BertWeights::load(&model.weights_path(), &model.bert, &Device::Cpu, DType::F32)?;
                (Box::new(PackedCpuForward::new(&w, model.bert.clone(), model.pooling, bf16)?), fallback)
            }
            CpuKernels::CandleOps => {
                let w = BertWeights::load(&model.weights_path(), &model.bert, &Device::Cpu, dtype)?;
                (Box::new(CandleForward::new(w, model.bert.clone(), model.pooling, Device::Cpu, dtype)), None)
            }
        })
    }
}
