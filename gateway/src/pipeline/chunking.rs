//! Long texts cut into chunks that fit the model: the cutting itself is
//! [`firebreak_intake::chunking`] (pure, fuzzed on its own); this module hands it the
//! embedder's tokenizer, so chunks are measured in the model's own tokens.

use std::ops::Range;
use std::sync::Arc;

use firebreak_embedder::tokenize::TextTokenizer;
pub use firebreak_intake::chunking::{ChunkPolicy, Chunks, Segmenter, TokenSpans};

/// The embedder's tokenizer as the chunker's measure.
struct ModelTokens(Arc<TextTokenizer>);

impl TokenSpans for ModelTokens {
    fn token_spans(&self, text: &str) -> Option<Vec<Range<usize>>> {
        self.0.token_spans(text).ok()
    }
}

/// A segmenter that measures in `tokenizer`'s tokens.
pub fn by_model(tokenizer: Arc<TextTokenizer>) -> Segmenter {
    Segmenter::Tokenizer(Arc::new(ModelTokens(tokenizer)))
}
