//! The device seam: the one place that decides where and how a batch runs (device, dtype,
//! kernels, batch sizing). The engine, queue and API above it are device-blind, so the
//! CUDA build adds a device here and no second engine.

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

/// Which implementation runs on the CPU. `Packed` is the production path; `CandleOps`
/// is the reference (and what a non-CPU device runs), selectable for comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuKernels {
    Packed,
    CandleOps,
}

/// Device, kernels and the batch limits that suit them.
#[derive(Debug, Clone)]
pub struct DeviceSpec {
    pub kind: DeviceKind,
    pub cpu_kernels: CpuKernels,
    /// Largest padded cost of one batch: longest sequence × number of sequences.
    pub max_batch_tokens: usize,
    /// Most sequences in one batch.
    pub max_batch_size: usize,
}

impl DeviceSpec {
    /// CPU defaults: batches of up to 32 texts keep the matmuls large enough to reach the
    /// machine's peak while one batch stays well under a second on two cores.
    pub fn cpu() -> Self {
        DeviceSpec { kind: DeviceKind::Cpu, cpu_kernels: CpuKernels::Packed, max_batch_tokens: 8192, max_batch_size: 32 }
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

    /// Loads the weights onto the device and returns its forward pass.
    pub fn build(&self, model: &ModelSpec) -> Result<Box<dyn Forward>> {
        self.validate(model)?;
        match self.kind {
            DeviceKind::Cpu => {
                let w = BertWeights::load(&model.weights_path(), &model.bert, &Device::Cpu, DType::F32)?;
                Ok(match self.cpu_kernels {
                    CpuKernels::Packed => Box::new(PackedCpuForward::new(&w, model.bert.clone(), model.pooling)?),
                    CpuKernels::CandleOps => {
                        Box::new(CandleForward::new(w, model.bert.clone(), model.pooling, Device::Cpu, DType::F32))
                    }
                })
            }
            DeviceKind::Cuda { ordinal } => {
                let device = Device::new_cuda(ordinal)
                    .map_err(|e| EmbedError::Inference(format!("CUDA device {ordinal}: {e}")))?;
                let w = BertWeights::load(&model.weights_path(), &model.bert, &device, DType::F32)?;
                Ok(Box::new(CandleForward::new(w, model.bert.clone(), model.pooling, device, DType::F32)))
            }
        }
    }
}
