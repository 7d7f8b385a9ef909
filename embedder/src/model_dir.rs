//! Reads a sentence-transformers model directory the way sentence-transformers does, so a
//! model behaves here exactly as it did where its embeddings were first computed: same
//! sequence length, same pooling, same normalisation.
//!
//! Files: `config.json` (the BERT architecture), `tokenizer.json`, `model.safetensors`,
//! `sentence_bert_config.json` (`max_seq_length`: wins over the tokenizer's own truncation,
//! which for all-MiniLM-L6-v2 says 128 while the model is used at 256),
//! `1_Pooling/config.json` (mean or CLS) and `modules.json` (whether a Normalize module
//! follows pooling).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{EmbedError, Result};

/// The transformer's hidden activation. BERT's `"gelu"` is the exact erf form; using the
/// tanh approximation instead (as candle's `gelu()` and TEI do) drifts from the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// 0.5·x·(1 + erf(x/√2)), what PyTorch's `nn.GELU()` computes.
    GeluErf,
    /// The tanh approximation, for configs that ask for it by name.
    GeluTanh,
    Relu,
}

/// How token states become one sentence vector (from `1_Pooling/config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// Average of the token states (all-MiniLM, e5, gte).
    Mean,
    /// The `[CLS]` token's state (bge).
    Cls,
}

/// The subset of a Hugging Face BERT `config.json` the forward pass needs.
#[derive(Debug, Clone)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    pub activation: Activation,
}

impl BertConfig {
    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Floating-point operations to embed one sequence of `len` tokens (multiply-add = 2).
    /// Used by `bench` to report achieved GFLOP/s against the machine's matmul peak.
    pub fn flops_for_sequence(&self, len: usize) -> f64 {
        let (h, i, l, n) = (
            self.hidden_size as f64,
            self.intermediate_size as f64,
            self.num_hidden_layers as f64,
            len as f64,
        );
        let dense = 2.0 * n * (4.0 * h * h + 2.0 * h * i);
        let attention = 2.0 * 2.0 * n * n * h;
        l * (dense + attention)
    }
}

/// Everything about a model directory except the weights themselves.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub dir: PathBuf,
    /// A short name for logs and the OpenAI `model` field (the directory's name).
    pub name: String,
    pub bert: BertConfig,
    pub pooling: Pooling,
    pub normalize: bool,
    /// Tokens per input including `[CLS]`/`[SEP]`; longer inputs are truncated.
    pub max_seq_length: usize,
}

#[derive(Deserialize)]
struct RawConfig {
    model_type: Option<String>,
    #[serde(default)]
    architectures: Vec<String>,
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    type_vocab_size: usize,
    #[serde(default = "default_eps")]
    layer_norm_eps: f64,
    #[serde(default = "default_act")]
    hidden_act: String,
    position_embedding_type: Option<String>,
}

fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_act() -> String {
    "gelu".into()
}

#[derive(Deserialize)]
struct RawPooling {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

#[derive(Deserialize)]
struct RawModule {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct RawSbertConfig {
    max_seq_length: Option<usize>,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| EmbedError::file(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| EmbedError::file(path, format!("invalid JSON: {e}")))
}

fn read_optional_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>> {
    if path.exists() {
        read_json(path).map(Some)
    } else {
        Ok(None)
    }
}

impl ModelSpec {
    /// Reads and validates the directory's configuration files. Weights and tokenizer are
    /// loaded by their own modules; this fails first and names the file at fault.
    pub fn load(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(EmbedError::file(dir, "not a directory (run scripts/fetch-model.sh)"));
        }
        let config_path = dir.join("config.json");
        let raw: RawConfig = read_json(&config_path)?;
        let bert = validate_bert(&config_path, raw)?;

        let pooling = match read_optional_json::<RawPooling>(&dir.join("1_Pooling/config.json"))? {
            None => Pooling::Mean,
            Some(p) if p.pooling_mode_max_tokens || p.pooling_mode_mean_sqrt_len_tokens => {
                return Err(EmbedError::unsupported(
                    dir.join("1_Pooling/config.json"),
                    "only mean and CLS pooling are implemented",
                ))
            }
            Some(p) if p.pooling_mode_cls_token && !p.pooling_mode_mean_tokens => Pooling::Cls,
            Some(p) if p.pooling_mode_mean_tokens && !p.pooling_mode_cls_token => Pooling::Mean,
            Some(_) => {
                return Err(EmbedError::unsupported(
                    dir.join("1_Pooling/config.json"),
                    "exactly one of pooling_mode_cls_token and pooling_mode_mean_tokens must be set",
                ))
            }
        };

        // sentence-transformers normalises only when modules.json lists a Normalize module;
        // without modules.json we normalise, as every embedding API's users expect.
        let normalize = match read_optional_json::<Vec<RawModule>>(&dir.join("modules.json"))? {
            Some(mods) => mods.iter().any(|m| m.kind.ends_with("models.Normalize")),
            None => true,
        };

        let sbert: Option<RawSbertConfig> = read_optional_json(&dir.join("sentence_bert_config.json"))?;
        let max_seq_length = sbert
            .and_then(|s| s.max_seq_length)
            .unwrap_or(512)
            .min(bert.max_position_embeddings);

        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        Ok(ModelSpec { dir: dir.to_path_buf(), name, bert, pooling, normalize, max_seq_length })
    }

    pub fn tokenizer_path(&self) -> PathBuf {
        self.dir.join("tokenizer.json")
    }

    pub fn weights_path(&self) -> PathBuf {
        self.dir.join("model.safetensors")
    }

    /// Output vector width.
    pub fn dim(&self) -> usize {
        self.bert.hidden_size
    }
}

fn validate_bert(path: &Path, raw: RawConfig) -> Result<BertConfig> {
    let is_bert = raw.model_type.as_deref() == Some("bert")
        || (raw.model_type.is_none() && raw.architectures.iter().any(|a| a.starts_with("Bert")));
    if !is_bert {
        return Err(EmbedError::unsupported(
            path,
            format!(
                "model_type {:?} (architectures {:?}); only the BERT family is implemented",
                raw.model_type, raw.architectures
            ),
        ));
    }
    if let Some(kind) = raw.position_embedding_type.as_deref() {
        if kind != "absolute" {
            return Err(EmbedError::unsupported(path, format!("position_embedding_type {kind:?}")));
        }
    }
    let activation = match raw.hidden_act.as_str() {
        "gelu" => Activation::GeluErf,
        "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
        "relu" => Activation::Relu,
        other => return Err(EmbedError::unsupported(path, format!("hidden_act {other:?}"))),
    };
    if raw.num_attention_heads == 0 || !raw.hidden_size.is_multiple_of(raw.num_attention_heads) {
        return Err(EmbedError::file(
            path,
            format!("hidden_size {} is not a multiple of num_attention_heads {}", raw.hidden_size, raw.num_attention_heads),
        ));
    }
    if raw.num_hidden_layers == 0 || raw.vocab_size == 0 || raw.max_position_embeddings < 2 {
        return Err(EmbedError::file(path, "num_hidden_layers, vocab_size and max_position_embeddings must be positive"));
    }
    Ok(BertConfig {
        vocab_size: raw.vocab_size,
        hidden_size: raw.hidden_size,
        num_hidden_layers: raw.num_hidden_layers,
        num_attention_heads: raw.num_attention_heads,
        intermediate_size: raw.intermediate_size,
        max_position_embeddings: raw.max_position_embeddings,
        type_vocab_size: raw.type_vocab_size,
        layer_norm_eps: raw.layer_norm_eps,
        activation,
    })
}
