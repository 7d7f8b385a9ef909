//! Text → token ids, with the model's real sequence limit and an honest `truncated` flag.
//!
//! The tokenizer's own `tokenizer.json` may carry another truncation length and fixed
//! padding (all-MiniLM-L6-v2 ships 128 and pads to 128); both are replaced here: padding
//! is the batcher's business, and the limit is `max_seq_length` from the model directory.
//!
//! Cost is bounded for huge inputs: only a prefix of the text is tokenized, grown only when
//! it did not already yield a full sequence, so a 200 KB paste costs about as much as a
//! 2 KB one while the ids stay exactly those of the whole text.

use std::path::Path;

use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::error::{EmbedError, Result};

/// One tokenized input, ready for the batcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokenized {
    /// Token ids including the model's special tokens (`[CLS]` … `[SEP]`).
    pub ids: Vec<u32>,
    /// The text had more tokens than `max_seq_length`; only the first ones were kept.
    pub truncated: bool,
}

/// A loaded tokenizer bound to one model's sequence limit and input size limit.
pub struct TextTokenizer {
    inner: Tokenizer,
    /// The same tokenizer without truncation, for [`TextTokenizer::token_spans`].
    whole: Tokenizer,
    max_seq_length: usize,
    max_input_chars: usize,
}

/// Bytes of text tried first per allowed token; text beyond it is read only when needed.
const PREFIX_BYTES_PER_TOKEN: usize = 32;

impl TextTokenizer {
    /// Loads `tokenizer.json`, overriding its truncation and padding (see module docs).
    /// `model_vocab` guards against a tokenizer from another model: ids beyond the
    /// embedding table would otherwise fail (or, worse, read garbage) at inference.
    pub fn load(path: &Path, max_seq_length: usize, max_input_chars: usize, model_vocab: usize) -> Result<Self> {
        let mut inner = Tokenizer::from_file(path).map_err(|e| EmbedError::file(path, e))?;
        inner.with_padding(None);
        let mut whole = inner.clone();
        whole.with_truncation(None).map_err(|e| EmbedError::file(path, e))?;
        inner
            .with_truncation(Some(TruncationParams {
                max_length: max_seq_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| EmbedError::file(path, e))?;
        let vocab = inner.get_vocab_size(true);
        if vocab > model_vocab {
            return Err(EmbedError::file(
                path,
                format!("tokenizer has {vocab} tokens but the model's vocab_size is {model_vocab}: mismatched tokenizer"),
            ));
        }
        Ok(TextTokenizer { inner, whole, max_seq_length, max_input_chars })
    }

    /// The sequence limit in tokens, special tokens included.
    pub fn max_seq_length(&self) -> usize {
        self.max_seq_length
    }

    /// The longest input accepted, in characters.
    pub fn max_input_chars(&self) -> usize {
        self.max_input_chars
    }

    /// Byte ranges in `text` of its content tokens (special tokens left out), for callers
    /// that cut long texts into pieces that fit the model (the gateway's chunker). Nothing
    /// is truncated here; the cost is linear in the text.
    pub fn token_spans(&self, text: &str) -> Result<Vec<std::ops::Range<usize>>> {
        let enc = self.whole.encode(text, false).map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        Ok(enc.get_offsets().iter().filter(|(s, e)| e > s).map(|&(s, e)| s..e).collect())
    }

    /// Tokenizes input number `index` (the index only labels errors).
    pub fn encode(&self, index: usize, text: &str) -> Result<Tokenized> {
        if let Some(chars) = firebreak_intake::length::chars_over(text, self.max_input_chars) {
            return Err(EmbedError::InputTooLarge { index, chars, limit: self.max_input_chars });
        }
        if firebreak_intake::blank::is_blank(text) {
            return Err(EmbedError::EmptyInput { index });
        }
        let mut budget = self.max_seq_length.saturating_mul(PREFIX_BYTES_PER_TOKEN).max(1024);
        loop {
            let (prefix, cut) = prefix_at_boundary(text, budget);
            let enc = self.inner.encode(prefix, true).map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
            let ids = enc.get_ids();
            let full = ids.len() >= self.max_seq_length;
            if !cut || full {
                let truncated = !enc.get_overflowing().is_empty() || (cut && full);
                // A text the model reads nothing of (control or zero-width characters only)
                // is embedded as the empty text is, [CLS] [SEP]: it is not blank, the API
                // documents it as valid, and OpenAI embeds any non-empty string.
                return Ok(Tokenized { ids: ids.to_vec(), truncated });
            }
            budget = budget.saturating_mul(4);
        }
    }
}

/// The longest prefix of at most `max` bytes that ends on whitespace (or, failing that, on a
/// char boundary), and whether anything was cut off. Cutting between words keeps the ids
/// of the prefix identical to those the full text starts with.
fn prefix_at_boundary(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let head = &text[..end];
    match head.rfind(char::is_whitespace) {
        Some(ws) if ws > max / 2 => (&text[..ws], true),
        _ => (head, true),
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_at_boundary;

    #[test]
    fn prefix_cuts_on_whitespace_and_char_boundaries() {
        assert_eq!(prefix_at_boundary("short", 10), ("short", false));
        assert_eq!(prefix_at_boundary("aaaa bbbb cccc", 12), ("aaaa bbbb", true));
        // "é" is two bytes: a cut inside it moves back to the boundary.
        let (p, cut) = prefix_at_boundary("éééééé", 5);
        assert!(cut);
        assert_eq!(p, "éé");
    }
}
