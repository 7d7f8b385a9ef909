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

/// Weight and activation precision. `Auto` is f16 on a GPU (half the memory traffic,
/// tensor cores; the parity tests hold it to cosine ≥ 0.999 against the f32 fixture) and
/// f32 on the CPU, whose packed path is f32 only. bf16 is not offered: on the fixture it
/// reaches only 0.986 (its 8-bit mantissa loses too much from layer to layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    Auto,
    F32,
    F16,
}

impl Precision {
    fn dtype(self, kind: DeviceKind) -> DType {
        match (self, kind) {
            (Precision::F32, _) | (Precision::Auto, DeviceKind::Cpu) => DType::F32,
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
        match self.kind {
            DeviceKind::Cpu => Ok(Built { forward: self.build_cpu(model)?, spec: self.clone(), fallback: None }),
            DeviceKind::Cuda { ordinal } => match Device::new_cuda(ordinal) {
                Ok(device) => {
                    let dtype = self.precision.dtype(self.kind);
                    let w = BertWeights::load(&model.weights_path(), &model.bert, &device, dtype)?;
                    let forward = Box::new(CandleForward::new(w, model.bert.clone(), model.pooling, device, dtype));
                    Ok(Built { forward, spec: self.clone(), fallback: None })
                }
                Err(e) => {
                    // The CPU path in its own precision (f32), with the CPU's batch limits
                    // unless the operator chose the limits.
                    let spec = if self.explicit_batch {
                        DeviceSpec { kind: DeviceKind::Cpu, precision: Precision::Auto, ..self.clone() }
                    } else {
                        DeviceSpec { cpu_kernels: self.cpu_kernels, ..DeviceSpec::cpu() }
                    };
                    spec.validate(model)?;
                    let forward = spec.build_cpu(model)?;
                    // candle appends a backtrace to the error when RUST_BACKTRACE is set:
                    // the log line keeps the driver's answer only.
                    let why = e.to_string();
                    let why = why.lines().next().unwrap_or("unknown error").trim();
                    Ok(Built { forward, spec, fallback: Some(format!("CUDA device {ordinal} is not usable: {why}")) })
                }
            },
        }
    }

    fn build_cpu(&self, model: &ModelSpec) -> Result<Box<dyn Forward>> {
        let dtype = self.precision.dtype(DeviceKind::Cpu);
        Ok(match self.cpu_kernels {
            CpuKernels::Packed if dtype != DType::F32 => {
                return Err(EmbedError::Inference(format!(
                    "the packed CPU kernels are f32 only; {dtype:?} on the CPU needs the candle kernels (--kernels candle)"
                )))
            }
            CpuKernels::Packed => {
                let w = BertWeights::load(&model.weights_path(), &model.bert, &Device::Cpu, DType::F32)?;
                Box::new(PackedCpuForward::new(&w, model.bert.clone(), model.pooling)?)
            }
            CpuKernels::CandleOps => {
                let w = BertWeights::load(&model.weights_path(), &model.bert, &Device::Cpu, dtype)?;
                Box::new(CandleForward::new(w, model.bert.clone(), model.pooling, Device::Cpu, dtype))
            }
        })
    }
}
