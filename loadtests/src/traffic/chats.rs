//! People asking the answer endpoint at once: `clients` conversations, each asking its
//! next question `think` after the last answer came (people read the answer first), for
//! a while. Each answer is timed
//! and its `firebreak.mode` kept: `generated` by the LLM, or `extractive` when the lane
//! refused (full, over budget, too slow) — both are answers; anything but a 200 is not.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::Call;

const QUESTIONS: &[&str] = &[
    "the mail server keeps crashing, have we seen this before?",
    "a node's disk is almost full, what fixed it last time?",
    "postgres is down, why?",
    "node load is very high and probes fail: what do I do?",
];

#[derive(Debug, Clone)]
pub struct Chats {
    pub url: String,
    pub token: String,
    pub clients: usize,
    pub duration: Duration,
    /// Most tokens per generated answer.
    pub max_tokens: u32,
    /// Between an answer and the next question.
    pub think: Duration,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ChatOutcome {
    pub sent: u64,
    pub generated: u64,
    pub extractive: u64,
    /// Not answered 200 (an error, a timeout).
    pub failed: u64,
    #[serde(skip)]
    pub calls: Vec<Call>,
    #[serde(skip)]
    pub generated_ms: Vec<f64>,
    #[serde(skip)]
    pub extractive_ms: Vec<f64>,
}

pub async fn run(c: Chats, started: Instant) -> ChatOutcome {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(300)).build().expect("an HTTP client");
    let out = Arc::new(Mutex::new(ChatOutcome::default()));
    let end = Instant::now() + c.duration;
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..c.clients {
        let (http, c, out) = (http.clone(), c.clone(), out.clone());
        clients.spawn(async move {
            let mut n = client;
            while Instant::now() < end {
                let body = json!({"model": "firebreak", "max_tokens": c.max_tokens, "user": format!("client-{client}"),
                                  "messages": [{"role": "user", "content": QUESTIONS[n % QUESTIONS.len()]}]});
                n += 1;
                let sent = Instant::now();
                let r = http.post(format!("{}/v1/chat/completions", c.url)).bearer_auth(&c.token).json(&body).send().await;
                let status = r.as_ref().map(|r| r.status().as_u16()).unwrap_or(0);
                let mode = match r {
                    Ok(r) if status == 200 => r.json::<Value>().await.ok().and_then(|v| v["firebreak"]["mode"].as_str().map(str::to_owned)),
                    _ => None,
                };
                let ms = sent.elapsed().as_secs_f64() * 1000.0;
                let mut o = out.lock().await;
                o.sent += 1;
                o.calls.push(Call::new(started, sent, status));
                match mode.as_deref() {
                    Some("generated") => {
                        o.generated += 1;
                        o.generated_ms.push(ms);
                    }
                    Some(_) => {
                        o.extractive += 1;
                        o.extractive_ms.push(ms);
                    }
                    None => o.failed += 1,
                }
                drop(o);
                tokio::time::sleep(c.think).await;
            }
        });
    }
    while clients.join_next().await.is_some() {}
    let o = out.lock().await.clone();
    o
}
