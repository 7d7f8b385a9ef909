//! The production CPU forward pass.
//!
//! The batch is packed: the token rows of all sequences lie end to end in one `[T, hidden]`
//! buffer, so every dense layer is a single `T × in × out` matmul and no FLOP is spent on
//! padding, whatever mix of lengths a batch holds. Only attention needs sequence
//! boundaries, and it gets them as spans. Bias and residual are written into a matmul's
//! output before it accumulates; layer norm and GELU are in-place kernels; all buffers
//! are kept between batches, so a warm engine allocates almost nothing per batch.
//!
//! All parallel work runs on the current rayon pool: the caller installs the engine's
//! CPU-budget pool around each call, and that bounds every thread used here.

use rayon::prelude::*;

use crate::error::{EmbedError, Result};
use crate::forward::Forward;
use crate::kernels::attention::{packed_attention, Span};
use crate::kernels::gemm::{matmul, parallelism, MatRef};
use crate::kernels::math::{gelu_erf_inplace, gelu_tanh_inplace, relu_inplace};
use crate::kernels::norm::{fill_rows_plus_bias, fill_rows_with_bias, layer_norm_rows};
use crate::model_dir::{Activation, BertConfig, Pooling};
use crate::weights::{BertWeights, Linear, Norm};

struct DenseF32 {
    /// Transposed from PyTorch's `[out, in]` to `[in, out]` once at load, so the matmul
    /// reads the weights row-major.
    weight: Vec<f32>,
    bias: Vec<f32>,
    inp: usize,
    out: usize,
}

struct NormF32 {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

struct LayerF32 {
    /// Q, K and V stacked: one matmul of width 3·hidden instead of three.
    qkv: DenseF32,
    attn_out: DenseF32,
    attn_norm: NormF32,
    intermediate: DenseF32,
    output: DenseF32,
    out_norm: NormF32,
}

/// Buffers reused across batches; they only ever grow.
#[derive(Default)]
struct Scratch {
    x: Vec<f32>,
    tmp: Vec<f32>,
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    inter: Vec<f32>,
}

impl Scratch {
    fn ensure(&mut self, tokens: usize, hidden: usize, inter: usize) {
        let grow = |v: &mut Vec<f32>, n: usize| {
            if v.len() < n {
                v.resize(n, 0.0);
            }
        };
        grow(&mut self.x, tokens * hidden);
        grow(&mut self.tmp, tokens * hidden);
        grow(&mut self.ctx, tokens * hidden);
        grow(&mut self.qkv, tokens * 3 * hidden);
        grow(&mut self.inter, tokens * inter);
    }
}

/// Packed, fused f32 BERT forward pass for CPUs.
pub struct PackedCpuForward {
    cfg: BertConfig,
    pooling: Pooling,
    word: Vec<f32>,
    position: Vec<f32>,
    token_type0: Vec<f32>,
    emb_norm: NormF32,
    layers: Vec<LayerF32>,
    scratch: Scratch,
}

fn flat(t: &candle_core::Tensor) -> Result<Vec<f32>> {
    Ok(t.to_dtype(candle_core::DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
}

fn dense(parts: &[&Linear]) -> Result<DenseF32> {
    let (mut weight, mut bias, mut out) = (Vec::new(), Vec::new(), 0);
    let inp = parts[0].weight.dims()[1];
    for p in parts {
        weight.extend(flat(&p.weight)?);
        bias.extend(flat(&p.bias)?);
        out += p.weight.dims()[0];
    }
    let mut t = vec![0f32; weight.len()];
    for o in 0..out {
        for i in 0..inp {
            t[i * out + o] = weight[o * inp + i];
        }
    }
    Ok(DenseF32 { weight: t, bias, inp, out })
}

fn norm(n: &Norm) -> Result<NormF32> {
    Ok(NormF32 { weight: flat(&n.weight)?, bias: flat(&n.bias)? })
}

impl PackedCpuForward {
    /// Copies the weights out of candle tensors into the layouts the kernels want.
    pub fn new(w: &BertWeights, cfg: BertConfig, pooling: Pooling) -> Result<Self> {
        let e = &w.embeddings;
        let token_type = flat(&e.token_type)?;
        let layers = w
            .layers
            .iter()
            .map(|l| {
                Ok(LayerF32 {
                    qkv: dense(&[&l.query, &l.key, &l.value])?,
                    attn_out: dense(&[&l.attn_out])?,
                    attn_norm: norm(&l.attn_norm)?,
                    intermediate: dense(&[&l.intermediate])?,
                    output: dense(&[&l.output])?,
                    out_norm: norm(&l.out_norm)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(PackedCpuForward {
            word: flat(&e.word)?,
            position: flat(&e.position)?,
            token_type0: token_type[..cfg.hidden_size].to_vec(),
            emb_norm: norm(&e.norm)?,
            layers,
            cfg,
            pooling,
            scratch: Scratch::default(),
        })
    }
}

/// Rows per parallel task for the row-wise kernels: enough tasks to balance the pool,
/// few enough that each is worth scheduling.
fn rows_per_task(tokens: usize) -> usize {
    (tokens / (rayon::current_num_threads() * 4)).max(16)
}

/// `out = x·Wᵀ` with `out` prefilled by `prefill` (bias, or bias + residual).
fn dense_into(out: &mut [f32], x: &[f32], tokens: usize, d: &DenseF32) {
    let a = MatRef::rows(x, tokens, d.inp);
    let w = MatRef::rows(&d.weight, d.inp, d.out);
    // SAFETY: `out` holds tokens × d.out floats and is distinct from `x` and the weights.
    unsafe { matmul(out.as_mut_ptr(), d.out, a, w, 1.0, true, parallelism()) };
}

fn norm_rows(src: &[f32], dst: &mut [f32], n: &NormF32, eps: f32, tokens: usize) {
    let h = n.weight.len();
    let chunk = rows_per_task(tokens) * h;
    dst[..tokens * h]
        .par_chunks_mut(chunk)
        .zip(src[..tokens * h].par_chunks(chunk))
        .for_each(|(o, i)| layer_norm_rows(i, o, &n.weight, &n.bias, eps));
}

/// `x = layer_norm(x + input·Wᵀ + b)`: the residual block that closes both the attention
/// and the feed-forward half of a layer. Bias and residual are written into `tmp` first
/// and the matmul accumulates on top, so they cost no separate pass.
fn residual_block(x: &mut [f32], tmp: &mut [f32], input: &[f32], tokens: usize, d: &DenseF32, n: &NormF32, eps: f32) {
    let h = d.out;
    let chunk = rows_per_task(tokens) * h;
    let tmp = &mut tmp[..tokens * h];
    tmp.par_chunks_mut(chunk)
        .zip(x[..tokens * h].par_chunks(chunk))
        .for_each(|(t, x)| fill_rows_plus_bias(t, x, &d.bias));
    dense_into(tmp, input, tokens, d);
    norm_rows(tmp, x, n, eps, tokens);
}

impl Forward for PackedCpuForward {
    fn embed_batch(&mut self, seqs: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let cfg = &self.cfg;
        let (h, inter) = (cfg.hidden_size, cfg.intermediate_size);
        let eps = cfg.layer_norm_eps as f32;
        let mut spans = Vec::with_capacity(seqs.len());
        let mut tokens = 0;
        for s in seqs {
            if s.is_empty() || s.len() > cfg.max_position_embeddings {
                return Err(EmbedError::Inference(format!("sequence of {} tokens", s.len())));
            }
            spans.push(Span { start: tokens, len: s.len() });
            tokens += s.len();
        }
        self.scratch.ensure(tokens, h, inter);
        let sc = &mut self.scratch;
        let chunk = rows_per_task(tokens);

        // Embeddings: word + position + token type 0, then layer norm.
        for (s, span) in seqs.iter().zip(&spans) {
            for (p, &id) in s.iter().enumerate() {
                let id = id as usize;
                if id >= cfg.vocab_size {
                    return Err(EmbedError::Inference(format!("token id {id} beyond vocab_size {}", cfg.vocab_size)));
                }
                let row = &mut sc.tmp[(span.start + p) * h..(span.start + p + 1) * h];
                let (w, pos) = (&self.word[id * h..(id + 1) * h], &self.position[p * h..(p + 1) * h]);
                for i in 0..h {
                    row[i] = w[i] + pos[i] + self.token_type0[i];
                }
            }
        }
        norm_rows(&sc.tmp, &mut sc.x, &self.emb_norm, eps, tokens);

        for l in &self.layers {
            // Attention block: x = LN(x + attn_out(attention(qkv(x)))).
            let qkv = &mut sc.qkv[..tokens * l.qkv.out];
            qkv.par_chunks_mut(chunk * l.qkv.out).for_each(|r| fill_rows_with_bias(r, &l.qkv.bias));
            dense_into(qkv, &sc.x, tokens, &l.qkv);
            packed_attention(qkv, &mut sc.ctx, &spans, cfg.num_attention_heads, h);
            residual_block(&mut sc.x, &mut sc.tmp, &sc.ctx, tokens, &l.attn_out, &l.attn_norm, eps);

            // Feed-forward block: x = LN(x + output(act(intermediate(x)))).
            let mid = &mut sc.inter[..tokens * inter];
            mid.par_chunks_mut(chunk * inter).for_each(|r| fill_rows_with_bias(r, &l.intermediate.bias));
            dense_into(mid, &sc.x, tokens, &l.intermediate);
            let act: fn(&mut [f32]) = match cfg.activation {
                Activation::GeluErf => gelu_erf_inplace,
                Activation::GeluTanh => gelu_tanh_inplace,
                Activation::Relu => relu_inplace,
            };
            mid.par_chunks_mut(chunk * inter).for_each(act);
            residual_block(&mut sc.x, &mut sc.tmp, &sc.inter, tokens, &l.output, &l.out_norm, eps);
        }

        Ok(spans
            .iter()
            .map(|s| {
                let rows = &sc.x[s.start * h..(s.start + s.len) * h];
                match self.pooling {
                    Pooling::Cls => rows[..h].to_vec(),
                    Pooling::Mean => {
                        let mut v = vec![0f32; h];
                        for r in rows.chunks_exact(h) {
                            v.iter_mut().zip(r).for_each(|(a, b)| *a += b);
                        }
                        let inv = 1.0 / s.len as f32;
                        v.iter_mut().for_each(|a| *a *= inv);
                        v
                    }
                }
            })
            .collect())
    }

    fn label(&self) -> String {
        "cpu packed-f32".into()
    }
}
