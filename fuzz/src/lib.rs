//! What the fuzz targets share: the limits the gateway ships with, and the model's
//! tokenizer as the chunker's measure.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use firebreak_intake::chunking::TokenSpans;
use firebreak_intake::shape::InputLimits;
use tokenizers::Tokenizer;

/// The shape limits as the gateway ships them, but small enough that the fuzzer reaches
/// both sides of each within a short run.
pub fn limits() -> InputLimits {
    InputLimits { max_alerts_per_webhook: 8, max_labels: 8, max_label_name_chars: 16, max_label_value_chars: 64, ..InputLimits::default() }
}

/// `body` as the gateway takes it in: the depth scan first (the body middleware), then
/// the JSON parse (the handler). `None` where either refuses it.
pub fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Option<T> {
    limits().check_depth(body).ok()?;
    serde_json::from_slice(body).ok()
}

/// The model's tokenizer without truncation or padding, as the embedder loads it for the
/// chunker (`TextTokenizer::token_spans`).
pub struct ModelTokens(Tokenizer);

impl TokenSpans for ModelTokens {
    fn token_spans(&self, text: &str) -> Option<Vec<Range<usize>>> {
        let enc = self.0.encode(text, false).ok()?;
        Some(enc.get_offsets().iter().filter(|(s, e)| e > s).map(|&(s, e)| s..e).collect())
    }
}

/// all-MiniLM-L6-v2's tokenizer from `FIREBREAK_FUZZ_TOKENIZER` or the fetched model
/// (`scripts/fetch-model.sh`); `None`, said once, when neither is there.
pub fn tokenizer() -> Option<Arc<ModelTokens>> {
    static T: OnceLock<Option<Arc<ModelTokens>>> = OnceLock::new();
    T.get_or_init(|| {
        let path = std::env::var_os("FIREBREAK_FUZZ_TOKENIZER").map(PathBuf::from).unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/all-MiniLM-L6-v2/tokenizer.json"))
        });
        match Tokenizer::from_file(&path) {
            Ok(mut t) => {
                t.with_padding(None);
                t.with_truncation(None).expect("turning truncation off");
                Some(Arc::new(ModelTokens(t)))
            }
            Err(e) => {
                eprintln!("fuzz: no tokenizer at {} ({e}): chunking by words only", path.display());
                None
            }
        }
    })
    .clone()
}
