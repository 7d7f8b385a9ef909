//! The chat model's tokenizer, built from the GGUF file's own metadata.
//!
//! A GGUF chat model carries its byte-level BPE vocabulary (`tokenizer.ggml.tokens`, in
//! GPT-2's byte-to-character alphabet) and merges (`tokenizer.ggml.merges`) but no
//! `tokenizer.json`, and no hub is asked for one at run time. So the tokenizer is
//! assembled here: a BPE model over that vocabulary and those merges, GPT-2's byte-level
//! pre-tokenizer and decoder, and the tokens the file marks as control (type 3:
//! `<|im_start|>`, `<|im_end|>`, `<|endoftext|>`) as special tokens. Only the `gpt2`
//! tokenizer model is accepted; a file of another kind is refused at load, never
//! mis-tokenized. The ids it gives are checked against an independent converter
//! (transformers' GGUF tokenizer, tests/chat.rs).
//!
//! Text is encoded with special tokens *not* recognised: a message that contains
//! `<|im_start|>system` is that text, not a new turn the user slipped into the prompt.
//! The turns' markers are added as ids by [`super::prompt`], never parsed from text.

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::{AddedToken, Tokenizer};

use crate::error::{EmbedError, Result};

/// GGUF's token type for control tokens.
const CONTROL: i32 = 3;

/// The tokenizer and the ids the prompt and the stop condition need.
pub struct ChatVocab {
    tokenizer: Tokenizer,
    /// `<|im_start|>` and `<|im_end|>`: a turn's start and end (ChatML).
    pub im_start: u32,
    pub im_end: u32,
    /// The ids that end a generation: `<|im_end|>` and the file's end-of-sequence.
    pub stops: Vec<u32>,
    pub size: usize,
}

fn meta<'a>(ct: &'a Content, key: &str, path: &std::path::Path) -> Result<&'a Value> {
    ct.metadata.get(key).ok_or_else(|| EmbedError::unsupported(path, format!("the GGUF file has no {key}")))
}

fn strings(v: &Value, key: &str, path: &std::path::Path) -> Result<Vec<String>> {
    let bad = |e: candle_core::Error| EmbedError::unsupported(path, format!("{key}: {e}"));
    v.to_vec().map_err(bad)?.iter().map(|s| s.to_string().cloned().map_err(bad)).collect()
}

impl ChatVocab {
    /// Builds the tokenizer from a GGUF file's metadata (`path` names it in errors).
    pub fn from_gguf(ct: &Content, path: &std::path::Path) -> Result<Self> {
        let model = meta(ct, "tokenizer.ggml.model", path)?.to_string().map_err(|e| EmbedError::unsupported(path, e))?;
        if model != "gpt2" {
            return Err(EmbedError::unsupported(path, format!("tokenizer.ggml.model is {model:?}: only byte-level BPE (gpt2) chat models are supported")));
        }
        let tokens = strings(meta(ct, "tokenizer.ggml.tokens", path)?, "tokenizer.ggml.tokens", path)?;
        let merges = strings(meta(ct, "tokenizer.ggml.merges", path)?, "tokenizer.ggml.merges", path)?;
        let types: Vec<i32> = match ct.metadata.get("tokenizer.ggml.token_type") {
            Some(v) => v.to_vec().map_err(|e| EmbedError::unsupported(path, e))?.iter().map(|t| t.to_i32().unwrap_or(1)).collect(),
            None => Vec::new(),
        };
        let mut vocab = Vocab::default();
        for (id, t) in tokens.iter().enumerate() {
            vocab.insert(t.clone(), id as u32);
        }
        let merges: Vec<(String, String)> = merges
            .iter()
            .map(|m| m.split_once(' ').map(|(a, b)| (a.to_owned(), b.to_owned())))
            .collect::<Option<_>>()
            .ok_or_else(|| EmbedError::unsupported(path, "a merge in tokenizer.ggml.merges is not two tokens"))?;
        let bpe = BPE::builder().vocab_and_merges(vocab, merges).build().map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        let mut tokenizer = Tokenizer::new(bpe);
        tokenizer.with_pre_tokenizer(Some(tokenizers::pre_tokenizers::byte_level::ByteLevel::new(false, true, true)));
        tokenizer.with_decoder(Some(tokenizers::decoders::byte_level::ByteLevel::default()));
        let control: Vec<AddedToken> = tokens
            .iter()
            .zip(&types)
            .filter(|(_, t)| **t == CONTROL)
            .map(|(tok, _)| AddedToken::from(tok.clone(), true))
            .collect();
        tokenizer.add_special_tokens(&control);
        // What a message says is text: a control token's spelling inside it stays text.
        tokenizer.set_encode_special_tokens(true);

        let id = |t: &str| tokens.iter().position(|x| x == t).map(|i| i as u32);
        let (Some(im_start), Some(im_end)) = (id("<|im_start|>"), id("<|im_end|>")) else {
            return Err(EmbedError::unsupported(path, "the vocabulary has no <|im_start|> / <|im_end|>: only ChatML chat models are supported"));
        };
        let mut stops = vec![im_end];
        if let Some(eos) = ct.metadata.get("tokenizer.ggml.eos_token_id").and_then(|v| v.to_u32().ok()) {
            if !stops.contains(&eos) {
                stops.push(eos);
            }
        }
        if let Some(end) = id("<|endoftext|>") {
            if !stops.contains(&end) {
                stops.push(end);
            }
        }
        Ok(ChatVocab { tokenizer, im_start, im_end, stops, size: tokens.len() })
    }

    /// The ids of `text`, special-token spellings in it as plain text.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.tokenizer.encode_fast(text, false).map_err(|e| EmbedError::Tokenizer(e.to_string()))?.get_ids().to_vec())
    }

    /// The text of `ids`, control tokens left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer.decode(ids, true).map_err(|e| EmbedError::Tokenizer(e.to_string()))
    }
}
