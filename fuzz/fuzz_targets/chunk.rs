//! Arbitrary text and policy through the chunker, by words and by the model's tokenizer:
//! it never panics (cuts fall on char boundaries), every chunk is a piece of the text,
//! fits the model, and the cap counts what it drops.
#![no_main]

use std::sync::Arc;

use firebreak_intake::chunking::{ChunkPolicy, Segmenter, TokenSpans};
use libfuzzer_sys::{arbitrary, fuzz_target};

#[derive(Debug, arbitrary::Arbitrary)]
struct Input {
    text: String,
    max_tokens: u8,
    overlap: u8,
    max_chunks: u8,
}

fuzz_target!(|input: Input| {
    let policy = ChunkPolicy {
        max_tokens: (input.max_tokens as usize).max(2),
        overlap: input.overlap as usize,
        max_chunks: (input.max_chunks as usize).max(1),
    };
    let mut segmenters = vec![Segmenter::Words];
    let tokens = firebreak_fuzz::tokenizer();
    if let Some(t) = &tokens {
        segmenters.push(Segmenter::Tokenizer(t.clone() as Arc<dyn TokenSpans>));
    }
    for seg in segmenters {
        let c = seg.chunk(&input.text, policy);
        assert!(c.chunks.len() <= policy.max_chunks);
        for ch in &c.chunks {
            assert!(!ch.trim().is_empty());
            assert!(input.text.contains(ch.as_str()));
            if let (Segmenter::Tokenizer(t), true) = (&seg, c.chunks.len() > 1) {
                assert!(t.token_spans(ch).is_none_or(|s| s.len() <= policy.max_tokens), "chunk over {} tokens", policy.max_tokens);
            }
        }
        if c.dropped > 0 {
            assert_eq!(c.chunks.len(), policy.max_chunks);
        }
    }
});
