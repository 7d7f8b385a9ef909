//! The encoder as plain candle tensor ops over a padded batch with an attention mask.
//!
//! Device-agnostic by construction, so the CUDA build runs it unchanged; on CPU it is the
//! reference the fused path is checked against (it shares no kernel code with it).

use candle_core::{DType, Device, Tensor, D};

use crate::error::Result;
use crate::forward::Forward;
use crate::model_dir::{Activation, BertConfig, Pooling};
use crate::weights::{BertWeights, Linear, Norm};

/// Candle-ops forward pass on any device.
pub struct CandleForward {
    weights: BertWeights,
    cfg: BertConfig,
    pooling: Pooling,
    device: Device,
    dtype: DType,
}

impl CandleForward {
    pub fn new(weights: BertWeights, cfg: BertConfig, pooling: Pooling, device: Device, dtype: DType) -> Self {
        CandleForward { weights, cfg, pooling, device, dtype }
    }

    fn linear(&self, x: &Tensor, l: &Linear) -> Result<Tensor> {
        let (b, s, h) = x.dims3()?;
        let y = x.reshape((b * s, h))?.matmul(&l.weight.t()?)?.broadcast_add(&l.bias)?;
        Ok(y.reshape((b, s, ()))?)
    }

    fn norm(&self, x: &Tensor, n: &Norm) -> Result<Tensor> {
        Ok(candle_nn::ops::layer_norm(x, &n.weight, &n.bias, self.cfg.layer_norm_eps as f32)?)
    }

    fn act(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match self.cfg.activation {
            Activation::GeluErf => x.gelu_erf()?,
            Activation::GeluTanh => x.gelu()?,
            Activation::Relu => x.relu()?,
        })
    }

    fn heads(&self, x: &Tensor) -> Result<Tensor> {
        let (b, s, _) = x.dims3()?;
        let (n, d) = (self.cfg.num_attention_heads, self.cfg.head_dim());
        Ok(x.reshape((b, s, n, d))?.transpose(1, 2)?.contiguous()?)
    }
}

impl Forward for CandleForward {
    fn embed_batch(&mut self, seqs: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let b = seqs.len();
        let s = seqs.iter().map(|q| q.len()).max().unwrap_or(0);
        let mut ids = vec![0u32; b * s];
        let mut mask = vec![0f32; b * s];
        for (i, q) in seqs.iter().enumerate() {
            ids[i * s..i * s + q.len()].copy_from_slice(q);
            mask[i * s..i * s + q.len()].fill(1.0);
        }
        let dev = &self.device;
        let ids = Tensor::from_vec(ids, b * s, dev)?;
        let mask = Tensor::from_vec(mask, (b, s), dev)?.to_dtype(self.dtype)?;
        let e = &self.weights.embeddings;
        let x = e
            .word
            .index_select(&ids, 0)?
            .reshape((b, s, ()))?
            .broadcast_add(&e.position.narrow(0, 0, s)?)?
            .broadcast_add(&e.token_type.narrow(0, 0, 1)?)?;
        let mut x = self.norm(&x, &e.norm)?;
        // Padded keys get a large negative score, so softmax gives them zero weight.
        let bias = ((mask.ones_like()? - &mask)? * -10_000.0)?.reshape((b, 1, 1, s))?;
        let scale = 1.0 / (self.cfg.head_dim() as f64).sqrt();
        for l in &self.weights.layers {
            let q = self.heads(&self.linear(&x, &l.query)?)?;
            let k = self.heads(&self.linear(&x, &l.key)?)?;
            let v = self.heads(&self.linear(&x, &l.value)?)?;
            let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(&bias)?;
            let probs = candle_nn::ops::softmax_last_dim(&scores)?;
            let ctx = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, s, ()))?;
            x = self.norm(&(self.linear(&ctx, &l.attn_out)? + &x)?, &l.attn_norm)?;
            let inter = self.act(&self.linear(&x, &l.intermediate)?)?;
            x = self.norm(&(self.linear(&inter, &l.output)? + &x)?, &l.out_norm)?;
        }
        let pooled = match self.pooling {
            Pooling::Cls => x.narrow(1, 0, 1)?.squeeze(1)?,
            Pooling::Mean => {
                let m = mask.unsqueeze(D::Minus1)?;
                x.broadcast_mul(&m)?.sum(1)?.broadcast_div(&m.sum(1)?)?
            }
        };
        Ok(pooled.to_dtype(DType::F32)?.to_vec2::<f32>()?)
    }

    fn label(&self) -> String {
        format!("{:?} candle-ops {:?}", self.device.location(), self.dtype)
    }
}
