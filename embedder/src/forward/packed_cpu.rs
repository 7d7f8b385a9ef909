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
use crate::kernels::amx::{self, Epilogue, Start};
use crate::kernels::SendPtr;
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
    /// The same weights as AMX bf16 tiles, when the bf16 path is on: the matmul then runs
    /// on the tiles and `weight` is empty (it stays only for shapes off the tile grid,
    /// which no BERT-family model has).
    tiles: Option<amx::PackedWeights>,
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

/// Buffers reused across batches; they only ever grow. Sized for the token count rounded
/// up to whole AMX blocks, so the bf16 matmul's padding rows always have somewhere to go.
#[derive(Default)]
struct Scratch {
    x: Vec<f32>,
    tmp: Vec<f32>,
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    inter: Vec<f32>,
    /// A matmul's input rounded to bf16 (bf16 path only).
    rounded: Vec<u16>,
    /// The activation's output rounded to bf16 by the intermediate matmul's epilogue, the
    /// output matmul's input (bf16 path only).
    rounded_inter: Vec<u16>,
}

impl Scratch {
    fn ensure(&mut self, tokens: usize, hidden: usize, inter: usize, bf16: bool) {
        let tokens = amx::padded_rows(tokens);
        if bf16 && self.rounded.len() < tokens * hidden {
            // Every tile matmul with an f32 input reads `hidden` columns: the output
            // layer's input comes pre-rounded whenever that layer is on tiles.
            self.rounded.resize(tokens * hidden, 0);
            self.rounded_inter.resize(tokens * inter, 0);
        }
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
    bf16: bool,
    scratch: Scratch,
}

fn flat(t: &candle_core::Tensor) -> Result<Vec<f32>> {
    Ok(t.to_dtype(candle_core::DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
}

fn dense(parts: &[&Linear], bf16: bool) -> Result<DenseF32> {
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
    let tiles = if bf16 { amx::PackedWeights::pack(&t, inp, out) } else { None };
    // With tiles the f32 copy is never read: dropping it keeps the bf16 path's resident
    // weights at half the f32 path's instead of one and a half times.
    let weight = if tiles.is_some() { Vec::new() } else { t };
    Ok(DenseF32 { weight, tiles, bias, inp, out })
}

fn norm(n: &Norm) -> Result<NormF32> {
    Ok(NormF32 { weight: flat(&n.weight)?, bias: flat(&n.bias)? })
}

impl PackedCpuForward {
    /// Copies the weights out of candle tensors into the layouts the kernels want. With
    /// `bf16`, the dense layers' matmuls run on AMX tiles in bf16 with f32 accumulation
    /// (the caller checks [`amx::usable`]); everything else stays f32.
    pub fn new(w: &BertWeights, cfg: BertConfig, pooling: Pooling, bf16: bool) -> Result<Self> {
        if bf16 && !amx::usable() {
            return Err(EmbedError::Inference("the bf16 CPU path needs AMX-BF16, which this CPU or kernel does not offer".into()));
        }
        let e = &w.embeddings;
        let token_type = flat(&e.token_type)?;
        let layers = w
            .layers
            .iter()
            .map(|l| {
                Ok(LayerF32 {
                    qkv: dense(&[&l.query, &l.key, &l.value], bf16)?,
                    attn_out: dense(&[&l.attn_out], bf16)?,
                    attn_norm: norm(&l.attn_norm)?,
                    intermediate: dense(&[&l.intermediate], bf16)?,
                    output: dense(&[&l.output], bf16)?,
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
            bf16,
            scratch: Scratch::default(),
        })
    }
}

/// Rows per parallel task for the row-wise kernels: enough tasks to balance the pool,
/// few enough that each is worth scheduling.
fn rows_per_task(tokens: usize) -> usize {
    (tokens / (rayon::current_num_threads() * 4)).max(16)
}

/// A dense layer's input: f32 rows, or rows the previous step's epilogue already rounded
/// to bf16 (bf16 path only).
enum Input<'a> {
    F32(&'a [f32]),
    Bf16(&'a [u16]),
}

/// `out = start + input·W`, then `then` on each finished row. On the bf16 path an f32
/// input is first rounded into `rounded`, the bias is broadcast by the tile loads and
/// `then` runs while each row block is still in cache; `out` must have room for the
/// padded row count. On the f32 path a bias start is a prefill pass and `then` a
/// parallel pass over the rows.
fn dense_into(
    out: &mut [f32],
    input: Input,
    tokens: usize,
    d: &DenseF32,
    rounded: &mut [u16],
    start: Start,
    then: Option<Epilogue>,
) {
    if let Some(tiles) = &d.tiles {
        let rows = amx::padded_rows(tokens);
        let a = match input {
            Input::F32(x) => {
                amx::round_rows(x, &mut rounded[..rows * d.inp], tokens, d.inp);
                &rounded[..rows * d.inp]
            }
            Input::Bf16(a) => a,
        };
        amx::matmul(&mut out[..rows * d.out], a, rows, tiles, start, then.map(|f| (tokens, f)));
        return;
    }
    let Input::F32(x) = input else { unreachable!("bf16 inputs exist only on the tile path") };
    let out = &mut out[..tokens * d.out];
    if let Start::Bias(bias) = start {
        out.par_chunks_mut(rows_per_task(tokens) * d.out).for_each(|r| fill_rows_with_bias(r, bias));
    }
    let a = MatRef::rows(x, tokens, d.inp);
    let w = MatRef::rows(&d.weight, d.inp, d.out);
    // SAFETY: `out` holds tokens × d.out floats and is distinct from `x` and the weights.
    unsafe { matmul(out.as_mut_ptr(), d.out, a, w, 1.0, true, parallelism()) };
    if let Some(f) = then {
        out.par_chunks_mut(d.out).enumerate().for_each(|(r, row)| f(r, 0, row));
    }
}

/// `dst = layer_norm(src)`, and with `rounded` also its bf16 rounding for the next tile
/// matmul, written per chunk while the chunk is still in cache rather than in a pass of
/// its own.
fn norm_rows(src: &[f32], dst: &mut [f32], n: &NormF32, eps: f32, tokens: usize, rounded: Option<&mut [u16]>) {
    let h = n.weight.len();
    let chunk = rows_per_task(tokens) * h;
    let rows = dst[..tokens * h].par_chunks_mut(chunk).zip(src[..tokens * h].par_chunks(chunk));
    match rounded {
        Some(r) => rows.zip(r[..tokens * h].par_chunks_mut(chunk)).for_each(|((o, i), r)| {
            layer_norm_rows(i, o, &n.weight, &n.bias, eps);
            amx::round_slice(o, r);
        }),
        None => rows.for_each(|(o, i)| layer_norm_rows(i, o, &n.weight, &n.bias, eps)),
    }
}

/// `x = layer_norm(x + input·Wᵀ + b)`: the residual block that closes both the attention
/// and the feed-forward half of a layer. Bias and residual are written into `tmp` first
/// and the matmul accumulates on top, so they cost no separate pass.
#[allow(clippy::too_many_arguments)]
fn residual_block(
    x: &mut [f32],
    tmp: &mut [f32],
    input: Input,
    tokens: usize,
    d: &DenseF32,
    n: &NormF32,
    eps: f32,
    rounded: &mut [u16],
    round_out: bool,
) {
    let h = d.out;
    let chunk = rows_per_task(tokens) * h;
    tmp[..tokens * h]
        .par_chunks_mut(chunk)
        .zip(x[..tokens * h].par_chunks(chunk))
        .for_each(|(t, x)| fill_rows_plus_bias(t, x, &d.bias));
    dense_into(tmp, input, tokens, d, rounded, Start::Output, None);
    norm_rows(tmp, x, n, eps, tokens, round_out.then_some(rounded));
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
        let bf16 = self.bf16;
        self.scratch.ensure(tokens, h, inter, bf16);
        let sc = &mut self.scratch;

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
        // On the bf16 path every layer norm also leaves its output rounded in
        // `sc.rounded`: the input of the QKV and intermediate matmuls that follow.
        let fed_rounded = |d: &DenseF32| bf16 && d.tiles.is_some();
        norm_rows(&sc.tmp, &mut sc.x, &self.emb_norm, eps, tokens, bf16.then_some(&mut sc.rounded[..]));

        let last = self.layers.len().saturating_sub(1);
        for (i, l) in self.layers.iter().enumerate() {
            // Attention block: x = LN(x + attn_out(attention(qkv(x)))).
            let qkv_in = if fed_rounded(&l.qkv) { Input::Bf16(&sc.rounded) } else { Input::F32(&sc.x) };
            dense_into(&mut sc.qkv, qkv_in, tokens, &l.qkv, &mut [], Start::Bias(&l.qkv.bias), None);
            let qkv = &sc.qkv[..tokens * l.qkv.out];
            packed_attention(qkv, &mut sc.ctx, &spans, cfg.num_attention_heads, h);
            residual_block(&mut sc.x, &mut sc.tmp, Input::F32(&sc.ctx), tokens, &l.attn_out, &l.attn_norm, eps, &mut sc.rounded, bf16);

            // Feed-forward block: x = LN(x + output(act(intermediate(x)))). The activation
            // runs as the intermediate matmul's epilogue, and on the bf16 path also rounds
            // its result for the output matmul, so neither is a pass of its own.
            let act: fn(&mut [f32]) = match cfg.activation {
                Activation::GeluErf => gelu_erf_inplace,
                Activation::GeluTanh => gelu_tanh_inplace,
                Activation::Relu => relu_inplace,
            };
            // The output matmul reads bf16 only if it runs on tiles (a layer off the tile
            // grid stays f32 even on the bf16 path).
            let round_for_output = bf16 && l.output.tiles.is_some();
            let rounded_out = SendPtr(sc.rounded_inter.as_mut_ptr());
            let activate = |r: usize, col: usize, seg: &mut [f32]| {
                act(seg);
                if round_for_output {
                    // SAFETY: `rounded_inter` holds padded-tokens × inter values, and each
                    // call owns row `r`'s columns `col..col + seg.len()`.
                    let dst = unsafe { std::slice::from_raw_parts_mut(rounded_out.get().add(r * inter + col), seg.len()) };
                    amx::round_slice(seg, dst);
                }
            };
            let mid_in = if fed_rounded(&l.intermediate) { Input::Bf16(&sc.rounded) } else { Input::F32(&sc.x) };
            dense_into(&mut sc.inter, mid_in, tokens, &l.intermediate, &mut [], Start::Bias(&l.intermediate.bias), Some(&activate));
            let ffn_in = if round_for_output { Input::Bf16(&sc.rounded_inter) } else { Input::F32(&sc.inter) };
            // The last layer's output goes to pooling only: nothing to round for.
            residual_block(&mut sc.x, &mut sc.tmp, ffn_in, tokens, &l.output, &l.out_norm, eps, &mut sc.rounded, bf16 && i < last);
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
        if self.bf16 { "cpu packed-bf16-amx".into() } else { "cpu packed-f32".into() }
    }
}
