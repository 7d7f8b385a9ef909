//! Long texts cut into chunks that fit the model, with overlap so a sentence that spans a
//! cut is still whole in one chunk.
//!
//! Token-aware when the model's tokenizer is at hand (in-process embedder, or
//! `--tokenizer` for a remote one): chunks are windows of at most `max_tokens` content
//! tokens, cut at token boundaries of the original text. Without a tokenizer, words stand
//! in for tokens at a conservative two tokens per word, so chunks still fit.

use std::ops::Range;
use std::sync::Arc;

/// The model's tokenizer as the chunker sees it: where each token of a text lies, in bytes
/// of that text, special tokens left out. `None` when the text cannot be tokenized (the
/// chunker then falls back to words).
///
/// A trait, so this crate stays free of the tokenizer and the model: the gateway hands in
/// the embedder's tokenizer, the fuzz targets a tokenizer of their own.
pub trait TokenSpans: Send + Sync {
    fn token_spans(&self, text: &str) -> Option<Vec<Range<usize>>>;
}

/// Chunking policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkPolicy {
    /// Content tokens per chunk (the model's limit minus its special tokens).
    pub max_tokens: usize,
    /// Tokens repeated at the start of the next chunk.
    pub overlap: usize,
    /// Most chunks one text yields; the rest is stored but not embedded (and counted).
    pub max_chunks: usize,
}

impl ChunkPolicy {
    /// Defaults for a model with `max_seq_length` tokens ([CLS] and [SEP] take two).
    pub fn for_model(max_seq_length: usize) -> Self {
        let max_tokens = max_seq_length.saturating_sub(2).max(16);
        ChunkPolicy { max_tokens, overlap: (max_tokens / 8).min(32), max_chunks: 256 }
    }
}

/// Where token boundaries come from.
#[derive(Clone)]
pub enum Segmenter {
    Tokenizer(Arc<dyn TokenSpans>),
    /// Whitespace-separated words, each counted as two tokens.
    Words,
}

/// The chunks of one text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunks {
    pub chunks: Vec<String>,
    /// Chunks beyond `max_chunks` that were left out.
    pub dropped: usize,
}

impl Segmenter {
    fn spans(&self, text: &str) -> (Vec<Range<usize>>, usize) {
        match self {
            Segmenter::Tokenizer(t) => match t.token_spans(text) {
                Some(s) => (s, 1),
                None => (word_spans(text), 2),
            },
            Segmenter::Words => (word_spans(text), 2),
        }
    }

    /// Cuts `text` by `policy`. A text that fits is one chunk, returned as given.
    pub fn chunk(&self, text: &str, policy: ChunkPolicy) -> Chunks {
        let (spans, cost) = self.spans(text);
        let per_chunk = (policy.max_tokens / cost).max(1);
        let overlap = (policy.overlap / cost).min(per_chunk - 1);
        if spans.len() <= per_chunk {
            let t = text.trim();
            return Chunks { chunks: if t.is_empty() { vec![] } else { vec![t.to_owned()] }, dropped: 0 };
        }
        let mut chunks = Vec::new();
        let mut dropped = 0;
        let mut start = 0;
        loop {
            let mut end = (start + per_chunk).min(spans.len());
            // A window cut out of the text does not always tokenize as it did inside it (a
            // word piece becomes a word start, a character normalises differently): it is
            // measured again and shortened until it really fits.
            while end > start + 1 && self.too_long(&text[spans[start].start..spans[end - 1].end], per_chunk) {
                end -= 1;
            }
            if chunks.len() < policy.max_chunks {
                chunks.push(text[spans[start].start..spans[end - 1].end].to_owned());
            } else {
                dropped += 1;
            }
            if end == spans.len() {
                break;
            }
            start = end.saturating_sub(overlap).max(start + 1);
        }
        Chunks { chunks, dropped }
    }

    fn too_long(&self, chunk: &str, limit: usize) -> bool {
        match self {
            Segmenter::Tokenizer(t) => t.token_spans(chunk).is_some_and(|s| s.len() > limit),
            Segmenter::Words => false,
        }
    }
}

fn word_spans(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push(s..i);
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(s..text.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_tokens: usize, overlap: usize) -> ChunkPolicy {
        ChunkPolicy { max_tokens, overlap, max_chunks: 100 }
    }

    #[test]
    fn short_text_is_one_chunk() {
        let c = Segmenter::Words.chunk("  disk full on node-3 ", policy(20, 4));
        assert_eq!(c.chunks, vec!["disk full on node-3"]);
    }

    #[test]
    fn long_text_overlaps_and_covers_everything() {
        let text = (0..50).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ");
        // Words cost two tokens: 10 tokens = 5 words per chunk, 4 tokens = 2 words overlap.
        let c = Segmenter::Words.chunk(&text, policy(10, 4));
        assert_eq!(c.chunks[0], "w0 w1 w2 w3 w4");
        assert_eq!(c.chunks[1], "w3 w4 w5 w6 w7");
        assert!(c.chunks.last().unwrap().ends_with("w49"));
        assert_eq!(c.dropped, 0);
    }

    #[test]
    fn chunk_cap_counts_what_it_drops() {
        let text = (0..100).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ");
        let c = Segmenter::Words.chunk(&text, ChunkPolicy { max_tokens: 10, overlap: 0, max_chunks: 3 });
        assert_eq!(c.chunks.len(), 3);
        assert_eq!(c.dropped, 17);
    }

    #[test]
    fn empty_text_has_no_chunks() {
        assert!(Segmenter::Words.chunk("   ", policy(10, 2)).chunks.is_empty());
    }
}
