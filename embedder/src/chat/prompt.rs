//! A conversation as the model's prompt: ChatML, the template SmolLM2 (and Qwen, and
//! most small instruct models) were trained on, read from the GGUF's own
//! `tokenizer.chat_template`:
//!
//! ```text
//! <|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n
//! ```
//!
//! The markers are ids, never text parsed from the messages ([`super::vocab`]). When the
//! conversation does not open with a system message the model's own default system line
//! is used, as its template does. A model whose template is not ChatML is refused at
//! load: rendering it as ChatML would make it answer badly, silently.

use super::vocab::ChatVocab;
use crate::error::Result;

/// One turn, its role already checked (`system`, `user`, `assistant`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub role: String,
    pub text: String,
}

/// The system line SmolLM2's template adds when a conversation has none.
pub const DEFAULT_SYSTEM: &str = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

/// Whether a GGUF chat template is ChatML.
pub fn is_chatml(template: &str) -> bool {
    template.contains("<|im_start|>") && template.contains("<|im_end|>")
}

/// The prompt's ids: every turn, then the opening of the assistant's.
pub fn render(vocab: &ChatVocab, turns: &[Turn]) -> Result<Vec<u32>> {
    let newline = vocab.encode("\n")?;
    let mut ids = Vec::new();
    let mut turn = |role: &str, text: &str| -> Result<()> {
        ids.push(vocab.im_start);
        ids.extend(vocab.encode(&format!("{role}\n{text}"))?);
        ids.push(vocab.im_end);
        ids.extend(&newline);
        Ok(())
    };
    if turns.first().is_none_or(|t| t.role != "system") {
        turn("system", DEFAULT_SYSTEM)?;
    }
    for t in turns {
        turn(&t.role, &t.text)?;
    }
    ids.push(vocab.im_start);
    ids.extend(vocab.encode("assistant\n")?);
    Ok(ids)
}
