//! The chat model in this process (`firebreak serve --chat-model`): the embedded default,
//! so an answer needs no server at all. It runs on the in-process embedder's CPU budget,
//! its steps after interactive and alert embeddings (firebreak_embedder::gate).

use async_trait::async_trait;
use firebreak_embedder::chat::{ChatEngine, Event, Generate, Turn};
use firebreak_embedder::EmbedError;
use firebreak_http::openai_chat::Usage;
use tokio::sync::mpsc;

use super::{LlmBackend, LlmError, LlmRequest, Piece, Pieces};

pub struct InProcessLlm {
    engine: ChatEngine,
}

impl InProcessLlm {
    pub fn new(engine: ChatEngine) -> Self {
        InProcessLlm { engine }
    }
}

fn error(e: EmbedError) -> LlmError {
    match e {
        EmbedError::Overloaded { retry_after, .. } => LlmError::Busy { reason: e.to_string(), retry_after },
        EmbedError::PromptTooLong { .. } => LlmError::Rejected(e.to_string()),
        e => LlmError::Unavailable(e.to_string()),
    }
}

#[async_trait]
impl LlmBackend for InProcessLlm {
    fn describe(&self) -> String {
        format!("in-process {}", self.engine.name())
    }

    fn model(&self) -> String {
        self.engine.name().to_owned()
    }

    fn count_tokens(&self, text: &str) -> usize {
        self.engine.encode(text).map(|ids| ids.len() + 4).unwrap_or_else(|_| super::estimate_tokens(text))
    }

    async fn generate(&self, req: LlmRequest) -> Result<Pieces, LlmError> {
        let mut turns = Vec::with_capacity(req.messages.len());
        for m in &req.messages {
            turns.push(Turn { role: m.role.clone(), text: m.content.text().map_err(LlmError::Rejected)? });
        }
        let g = Generate { turns, max_tokens: Some(req.max_tokens as usize), temperature: req.temperature, seed: 0 };
        let mut generation = self.engine.generate(g).map_err(error)?;
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            while let Some(event) = generation.events.recv().await {
                let piece = match event {
                    Event::Text(t) => Ok(Piece::Text(t)),
                    Event::Done { finish, prompt_tokens, completion_tokens } => {
                        Ok(Piece::Done { finish: finish.as_str().into(), usage: Some(Usage::new(prompt_tokens as u32, completion_tokens as u32)) })
                    }
                    Event::Failed(why) => Err(LlmError::Unavailable(why)),
                };
                // The reader left: dropping the generation's events ends it at its next token.
                if tx.send(piece).await.is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }
}
