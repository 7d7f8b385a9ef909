//! An OpenAI-compatible chat server over HTTP (`--llm-url`, `--llm-model`,
//! `--llm-api-key-file`): `POST {url}/v1/chat/completions` with `stream: true`, the
//! server-sent events read as they arrive. Connection and status failures are faults
//! (the breaker counts them); a 429 or 503 is the server asking for less, and a 4xx a
//! refusal of this request, neither a fault. The deadlines are the lane's.

use std::time::Duration;

use async_trait::async_trait;
use firebreak_http::openai_chat::{ChatChunk, ChatRequest, StreamOptions};
use tokio::sync::mpsc;

use super::{LlmBackend, LlmError, LlmRequest, Piece, Pieces};

/// How to reach the server.
#[derive(Debug, Clone)]
pub struct RemoteLlmConfig {
    /// The server's base URL (`http://ollama:11434`; `/v1/chat/completions` is added).
    pub url: String,
    pub model: String,
    /// Sent as `Authorization: Bearer …` when set; never logged.
    pub api_key: Option<String>,
    /// Longest wait for a TCP connection.
    pub connect_timeout: Duration,
}

pub struct RemoteLlm {
    cfg: RemoteLlmConfig,
    endpoint: String,
    client: reqwest::Client,
}

impl RemoteLlm {
    pub fn new(cfg: RemoteLlmConfig) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder().connect_timeout(cfg.connect_timeout).build()?;
        let endpoint = format!("{}/v1/chat/completions", cfg.url.trim_end_matches('/').trim_end_matches("/v1"));
        Ok(RemoteLlm { cfg, endpoint, client })
    }
}

/// The server's error message, from OpenAI's error shape or the raw body.
fn message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().or(v["error"].as_str()).map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(200).collect())
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Duration {
    let secs = headers.get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|s| s.parse::<u64>().ok());
    Duration::from_secs(secs.unwrap_or(5).clamp(1, 300))
}

/// Splits server-sent events out of a byte buffer: the `data:` payload of each whole line.
fn take_events(buf: &mut Vec<u8>) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = buf.drain(..=nl).collect();
        let line = String::from_utf8_lossy(&line);
        if let Some(data) = line.trim_end_matches(['\r', '\n']).strip_prefix("data:") {
            out.push(data.trim_start().to_owned());
        }
    }
    out
}

#[async_trait]
impl LlmBackend for RemoteLlm {
    fn describe(&self) -> String {
        format!("remote {} ({})", self.cfg.url, self.cfg.model)
    }

    fn model(&self) -> String {
        self.cfg.model.clone()
    }

    fn count_tokens(&self, text: &str) -> usize {
        super::estimate_tokens(text)
    }

    async fn generate(&self, req: LlmRequest) -> Result<Pieces, LlmError> {
        let body = ChatRequest {
            model: Some(self.cfg.model.clone()),
            messages: req.messages,
            stream: Some(true),
            stream_options: Some(StreamOptions { include_usage: Some(true) }),
            max_tokens: Some(req.max_tokens),
            temperature: req.temperature,
            ..Default::default()
        };
        let mut call = self.client.post(&self.endpoint).json(&body);
        if let Some(key) = &self.cfg.api_key {
            call = call.bearer_auth(key);
        }
        let mut resp = call.send().await.map_err(|e| LlmError::Unavailable(format!("LLM at {}: {e}", self.cfg.url)))?;
        let status = resp.status();
        if !status.is_success() {
            let after = retry_after(resp.headers());
            let text = resp.text().await.unwrap_or_default();
            let why = format!("LLM answered {status}: {}", message(&text));
            return Err(match status.as_u16() {
                429 | 503 => LlmError::Busy { reason: why, retry_after: after },
                400..=499 => LlmError::Rejected(why),
                _ => LlmError::Unavailable(why),
            });
        }
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut finish = None;
            let mut usage = None;
            loop {
                let chunk = match resp.chunk().await {
                    Ok(Some(c)) => c,
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.send(Err(LlmError::Unavailable(format!("LLM stream broke: {e}")))).await;
                        return;
                    }
                };
                buf.extend_from_slice(&chunk);
                for data in take_events(&mut buf) {
                    if data == "[DONE]" {
                        let _ = tx.send(Ok(Piece::Done { finish: finish.unwrap_or_else(|| "stop".into()), usage })).await;
                        return;
                    }
                    let parsed: ChatChunk = match serde_json::from_str(&data) {
                        Ok(c) => c,
                        Err(_) => {
                            let why = format!("LLM stream error: {}", message(&data));
                            let _ = tx.send(Err(LlmError::Unavailable(why))).await;
                            return;
                        }
                    };
                    usage = parsed.usage.or(usage);
                    if let Some(f) = parsed.choices.first().and_then(|c| c.finish_reason.clone()) {
                        finish = Some(f);
                    }
                    if let Some(t) = parsed.delta_text().filter(|t| !t.is_empty()) {
                        if tx.send(Ok(Piece::Text(t.to_owned()))).await.is_err() {
                            return; // the reader left: dropping the response closes the connection
                        }
                    }
                }
            }
            // The stream ended without [DONE]: what came is kept, the end is said.
            let _ = tx.send(Ok(Piece::Done { finish: finish.unwrap_or_else(|| "stop".into()), usage })).await;
        });
        Ok(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::take_events;

    #[test]
    fn events_are_read_across_chunk_boundaries() {
        let mut buf = b"data: {\"a\":1}\n\n: keep-alive\ndata: [DO".to_vec();
        assert_eq!(take_events(&mut buf), vec!["{\"a\":1}"]);
        buf.extend_from_slice(b"NE]\r\n\r\n");
        assert_eq!(take_events(&mut buf), vec!["[DONE]"]);
        assert!(buf.is_empty());
    }
}
