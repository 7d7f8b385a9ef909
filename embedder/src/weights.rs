//! BERT weights out of `model.safetensors`, shape-checked against `config.json` at load.
//!
//! A truncated download, a tensor from another model size or a renamed checkpoint is
//! refused here with the file and tensor named, instead of failing mid-request (or
//! silently producing garbage vectors) later.

use std::path::{Path, PathBuf};

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};

use crate::error::{EmbedError, Result};
use crate::model_dir::BertConfig;

/// A dense layer in PyTorch layout: `weight` is `[out, in]`.
#[derive(Clone)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Tensor,
}

/// Scale and shift of a layer norm.
#[derive(Clone)]
pub struct Norm {
    pub weight: Tensor,
    pub bias: Tensor,
}

/// The embedding block.
#[derive(Clone)]
pub struct Embeddings {
    pub word: Tensor,
    pub position: Tensor,
    pub token_type: Tensor,
    pub norm: Norm,
}

/// One encoder layer.
#[derive(Clone)]
pub struct Layer {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub attn_out: Linear,
    pub attn_norm: Norm,
    pub intermediate: Linear,
    pub output: Linear,
    pub out_norm: Norm,
}

/// All weights of a BERT encoder, on one device, in one dtype.
#[derive(Clone)]
pub struct BertWeights {
    pub embeddings: Embeddings,
    pub layers: Vec<Layer>,
}

struct Reader<'a> {
    st: MmapedSafetensors,
    path: PathBuf,
    prefix: &'static str,
    device: &'a Device,
    dtype: DType,
}

impl Reader<'_> {
    fn tensor(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let full = format!("{}{}", self.prefix, name);
        let t = self
            .st
            .load(&full, self.device)
            .map_err(|e| EmbedError::file(&self.path, format!("tensor {full}: {e}")))?;
        if t.dims() != shape {
            return Err(EmbedError::file(
                &self.path,
                format!("tensor {full} has shape {:?}, config.json implies {:?}", t.dims(), shape),
            ));
        }
        t.to_dtype(self.dtype).map_err(|e| EmbedError::file(&self.path, format!("tensor {full}: {e}")))
    }

    fn linear(&self, name: &str, out: usize, inp: usize) -> Result<Linear> {
        Ok(Linear {
            weight: self.tensor(&format!("{name}.weight"), &[out, inp])?,
            bias: self.tensor(&format!("{name}.bias"), &[out])?,
        })
    }

    fn norm(&self, name: &str, h: usize) -> Result<Norm> {
        // Old BERT checkpoints call these gamma/beta.
        let has_new = self.st.get(&format!("{}{name}.weight", self.prefix)).is_ok();
        let (w, b) = if has_new { ("weight", "bias") } else { ("gamma", "beta") };
        Ok(Norm {
            weight: self.tensor(&format!("{name}.{w}"), &[h])?,
            bias: self.tensor(&format!("{name}.{b}"), &[h])?,
        })
    }
}

impl BertWeights {
    /// Memory-maps `path` and loads every tensor onto `device` as `dtype`.
    pub fn load(path: &Path, cfg: &BertConfig, device: &Device, dtype: DType) -> Result<Self> {
        if !path.is_file() {
            return Err(EmbedError::file(path, "missing (run scripts/fetch-model.sh)"));
        }
        // SAFETY: the file is mapped read-only; candle copies each tensor out of the map
        // before we use it, so a file changed underneath can garble values but not memory.
        let st = unsafe { MmapedSafetensors::new(path) }
            .map_err(|e| EmbedError::file(path, format!("not a readable safetensors file: {e}")))?;
        let prefix = ["", "bert.", "model."]
            .into_iter()
            .find(|p| st.get(&format!("{p}embeddings.word_embeddings.weight")).is_ok())
            .ok_or_else(|| EmbedError::file(path, "no tensor embeddings.word_embeddings.weight: not a BERT checkpoint"))?;
        let r = Reader { st, path: path.to_path_buf(), prefix, device, dtype };
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        let embeddings = Embeddings {
            word: r.tensor("embeddings.word_embeddings.weight", &[cfg.vocab_size, h])?,
            position: r.tensor("embeddings.position_embeddings.weight", &[cfg.max_position_embeddings, h])?,
            token_type: r.tensor("embeddings.token_type_embeddings.weight", &[cfg.type_vocab_size, h])?,
            norm: r.norm("embeddings.LayerNorm", h)?,
        };
        let layers = (0..cfg.num_hidden_layers)
            .map(|l| {
                let p = format!("encoder.layer.{l}");
                Ok(Layer {
                    query: r.linear(&format!("{p}.attention.self.query"), h, h)?,
                    key: r.linear(&format!("{p}.attention.self.key"), h, h)?,
                    value: r.linear(&format!("{p}.attention.self.value"), h, h)?,
                    attn_out: r.linear(&format!("{p}.attention.output.dense"), h, h)?,
                    attn_norm: r.norm(&format!("{p}.attention.output.LayerNorm"), h)?,
                    intermediate: r.linear(&format!("{p}.intermediate.dense"), i, h)?,
                    output: r.linear(&format!("{p}.output.dense"), h, i)?,
                    out_norm: r.norm(&format!("{p}.output.LayerNorm"), h)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(BertWeights { embeddings, layers })
    }
}
