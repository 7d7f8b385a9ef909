//! What the model is asked: an instruction to answer from the numbered context and cite
//! it, the conversation so far (its last turns, within a cap), and the question with the
//! context in front of it. Small models follow an instruction best when the material sits
//! right before the question, in the same turn.

use firebreak_http::openai_chat::Message;

use super::context::Context;

/// The system instruction.
pub const INSTRUCTION: &str = "You are Firebreak, the on-call assistant of a Kubernetes cluster. \
Answer the question from the numbered context only: past incidents (what fired, how often, what fixed it) and runbook passages. \
Cite the items you use as [1], [2]. If the context does not answer the question, say so in one sentence. \
Be brief: a few sentences; put commands in backticks.";

/// Earlier turns kept, at most: the question is what matters, and a small model's context
/// is short.
const HISTORY_TURNS: usize = 4;

/// The messages for the model. `history` is the conversation before the question, oldest
/// first, `(role, text)`; `history_tokens` caps what of it is kept (newest first).
pub fn messages(question: &str, context: &Context, history: &[(String, String)], history_tokens: usize, count: &dyn Fn(&str) -> usize) -> Vec<Message> {
    let mut kept: Vec<Message> = Vec::new();
    let mut used = 0;
    for (role, text) in history.iter().rev().take(HISTORY_TURNS) {
        let cost = count(text);
        if used + cost > history_tokens {
            break;
        }
        used += cost;
        kept.push(Message::new(role, text.clone()));
    }
    kept.reverse();
    let material = if context.items.is_empty() {
        "Context: nothing in the incident history or the runbooks matches.".to_owned()
    } else {
        format!("Context:\n{}", context.items.join("\n\n"))
    };
    let mut out = vec![Message::new("system", INSTRUCTION)];
    out.extend(kept);
    out.push(Message::new("user", format!("{material}\n\nQuestion: {question}")));
    out
}
