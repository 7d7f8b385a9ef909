//! LibreChat conversation exports (the JSON of "Export conversation"), one conversation per
//! document: its messages in order, each as `sender: text`, with the conversation's title.
//!
//! An export holds `messages` (a list) or, when exported "recursive", `messagesTree`
//! (replies nested under `children`, one level per message). A long conversation nests
//! thousands of levels deep, so this is parsed without serde_json's depth limit, on the
//! reader's large stack ([`crate::run`]), after a depth scan that refuses the absurd.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::{origin, InputError};
use crate::document::Document;

/// Deepest nesting read (about half as many messages in one branch).
pub const MAX_DEPTH: usize = 20_000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Export {
    conversation_id: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    messages: Vec<Message>,
    #[serde(default)]
    messages_tree: Vec<Message>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    #[serde(default)]
    sender: Option<String>,
    #[serde(default)]
    is_created_by_user: Option<bool>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    content: Option<Vec<Value>>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    children: Vec<Message>,
}

impl Message {
    /// The message's words: its text parts (`content`, newer exports) or its `text`.
    fn words(&self) -> String {
        let parts: Vec<&str> = self
            .content
            .iter()
            .flatten()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|p| match p.get("text") {
                Some(Value::String(s)) => Some(s.as_str()),
                Some(v) => v.get("value").and_then(Value::as_str),
                None => None,
            })
            .collect();
        if parts.is_empty() { self.text.clone().unwrap_or_default() } else { parts.join("\n") }
    }

    fn who(&self) -> &str {
        match (self.sender.as_deref(), self.is_created_by_user) {
            (Some(s), _) if !s.trim().is_empty() => s,
            (_, Some(true)) => "User",
            _ => "Assistant",
        }
    }

    fn time(&self) -> Option<DateTime<Utc>> {
        [&self.updated_at, &self.created_at]
            .into_iter()
            .flatten()
            .filter_map(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .max()
    }
}

pub fn parse(file: &Path, content: &str) -> Vec<Result<Document, InputError>> {
    let depth = firebreak_intake::shape::json_depth(content.as_bytes());
    if depth > MAX_DEPTH {
        return vec![Err(InputError::new(file, None, format!("nests {depth} levels deep; at most {MAX_DEPTH} are read")))];
    }
    let mut de = serde_json::Deserializer::from_str(content);
    de.disable_recursion_limit();
    // A file holds one export, or an array of them (a bulk export).
    let value = if content.trim_start().starts_with('[') {
        Vec::<Export>::deserialize(&mut de)
    } else {
        Export::deserialize(&mut de).map(|e| vec![e])
    };
    let exports = match value.and_then(|v| de.end().map(|()| v)) {
        Ok(v) => v,
        Err(e) => {
            let detail = format!("not a LibreChat conversation export: {e}");
            return vec![Err(InputError::new(file, Some(e.line()), detail))];
        }
    };
    exports.into_iter().enumerate().map(|(i, e)| conversation(e).map_err(|d| InputError::new(file, None, format!("conversation {i}: {d}")))).collect()
}

fn conversation(e: Export) -> Result<Document, String> {
    let id = e.conversation_id.filter(|c| !c.trim().is_empty()).ok_or("no conversationId")?;
    // Depth first, replies after the message they answer, siblings (edits, regenerations)
    // in export order; without recursion, whatever the depth.
    let mut stack: Vec<&Message> = e.messages.iter().chain(e.messages_tree.iter()).rev().collect();
    let (mut text, mut count, mut latest) = (String::new(), 0u64, None);
    while let Some(m) = stack.pop() {
        stack.extend(m.children.iter().rev());
        let words = m.words();
        latest = latest.max(m.time());
        if words.trim().is_empty() {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(m.who());
        text.push_str(": ");
        text.push_str(words.trim());
        count += 1;
    }
    if count == 0 {
        return Err(format!("conversation {id:?} has no message text"));
    }
    let mut metadata = origin("librechat", "");
    metadata.remove("file");
    metadata.insert("messages".into(), count.into());
    if let Some(ep) = e.endpoint {
        metadata.insert("endpoint".into(), ep.into());
    }
    Ok(Document { id, text, title: e.title.filter(|t| !t.trim().is_empty()), metadata, updated_at: latest })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_export_reads_in_order_with_senders() {
        let export = r#"{"conversationId":"c1","endpoint":"openAI","title":"mail down","exportAt":"10:00:00 GMT","branches":false,"recursive":false,
            "messages":[{"messageId":"m1","parentMessageId":"00000000-0000-0000-0000-000000000000","sender":"User","isCreatedByUser":true,"text":"postfix crashloops","createdAt":"2026-11-20T10:00:00.000Z"},
                        {"messageId":"m2","parentMessageId":"m1","sender":"GPT-4","isCreatedByUser":false,"text":"","content":[{"type":"text","text":{"value":"check the PVC"}},{"type":"tool_call","tool_call":{}}],"createdAt":"2026-11-20T10:01:00.000Z"}]}"#;
        let docs = parse(Path::new("c1.json"), export);
        let d = docs[0].as_ref().unwrap();
        assert_eq!(d.id, "c1");
        assert_eq!(d.title.as_deref(), Some("mail down"));
        assert_eq!(d.text, "User: postfix crashloops\n\nGPT-4: check the PVC");
        assert_eq!(d.metadata["messages"], 2);
        assert_eq!(d.updated_at.unwrap().to_rfc3339(), "2026-11-20T10:01:00+00:00");
    }

    #[test]
    fn a_deep_recursive_export_is_read_without_recursion_limits() {
        let mut tree = String::from(r#"{"text":"last","isCreatedByUser":true,"children":[]}"#);
        for i in 0..3000 {
            tree = format!(r#"{{"text":"message {i}","isCreatedByUser":{},"children":[{tree}]}}"#, i % 2 == 0);
        }
        let export = format!(r#"{{"conversationId":"deep","title":"t","recursive":true,"messagesTree":[{tree}]}}"#);
        let docs = std::thread::Builder::new()
            .stack_size(crate::run::READER_STACK)
            .spawn(move || parse(Path::new("deep.json"), &export))
            .unwrap()
            .join()
            .unwrap();
        let d = docs[0].as_ref().unwrap();
        assert_eq!(d.metadata["messages"], 3001);
        assert!(d.text.starts_with("Assistant: message 2999\n\nUser: message 2998"), "{}", &d.text[..60]);
        assert!(d.text.ends_with("User: last"));
    }

    /// The deepest export read must fit the reader's stack (a stack overflow would abort
    /// the whole run); one level deeper is refused by name.
    #[test]
    fn the_depth_limit_fits_the_reader_stack() {
        let nested = |messages: usize| {
            let mut e = String::from(r#"{"conversationId":"deep","messagesTree":["#);
            e.push_str(&r#"{"text":"m","children":["#.repeat(messages));
            e.push_str(&"]}".repeat(messages));
            e.push_str("]}");
            e
        };
        // Export object + messagesTree, then an object and a children array per message.
        let at_limit = nested((MAX_DEPTH - 2) / 2);
        let beyond = nested((MAX_DEPTH - 2) / 2 + 1);
        let (ok, refused) = std::thread::Builder::new()
            .stack_size(crate::run::READER_STACK)
            .spawn(move || (parse(Path::new("deep.json"), &at_limit), parse(Path::new("deeper.json"), &beyond)))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(ok[0].as_ref().unwrap().metadata["messages"], ((MAX_DEPTH - 2) / 2) as u64);
        assert!(refused[0].as_ref().unwrap_err().to_string().contains("levels deep; at most"), "{refused:?}");
    }

    #[test]
    fn broken_exports_are_named() {
        let e = parse(Path::new("x.json"), "{\"conversationId\": 3}");
        assert!(e[0].as_ref().unwrap_err().to_string().starts_with("x.json:1: not a LibreChat conversation export"), "{:?}", e[0]);
        let e = parse(Path::new("x.json"), r#"[{"conversationId":"a","messages":[]},{"conversationId":"b","messages":[{"text":"hi"}]}]"#);
        assert!(e[0].as_ref().unwrap_err().to_string().contains("conversation 0: conversation \"a\" has no message text"));
        assert_eq!(e[1].as_ref().unwrap().text, "Assistant: hi");
    }
}
