//! LibreChat conversation exports (the JSON of "Export conversation"), one conversation per
//! document: its active path, each message as `sender: text`, with the conversation's title.
//!
//! LibreChat's own export code (`useExportConversation`, `useBuildMessageTree`) writes
//! `messages` in every shape: a flat list (each message naming its `parentMessageId`), or,
//! exported "recursive", the root messages with replies nested under `children`, one level
//! per message. Older versions wrote the recursive shape under `messagesTree`; both are read.
//! With "branches" on, the export also holds every edit and regenerated answer the user
//! moved away from. A conversation is a tree, and what the people in it concluded is its
//! active path: the latest leaf and its ancestry. That is the document; the branches off it
//! are dropped (counted in the metadata as `off_path_messages`), so a discarded answer never
//! lands after "that was it, it works now".
//!
//! A long conversation nests thousands of levels deep, so this is parsed without
//! serde_json's depth limit, on the reader's large stack ([`crate::run`]), after a depth
//! scan that refuses the absurd; the tree is then walked without recursion.

use std::collections::HashMap;
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
    message_id: Option<String>,
    #[serde(default)]
    parent_message_id: Option<String>,
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

/// A message in the conversation's tree and the index of the one it answers.
struct Node<'a> {
    message: &'a Message,
    parent: Option<usize>,
}

/// Every message of the export, depth first in export order, with its parent: from the
/// nesting where the export is recursive, else from `parentMessageId`. Without recursion,
/// whatever the depth.
fn tree(e: &Export) -> Vec<Node<'_>> {
    let mut nodes = Vec::new();
    let mut stack: Vec<(&Message, Option<usize>)> = e.messages.iter().chain(e.messages_tree.iter()).rev().map(|m| (m, None)).collect();
    while let Some((message, parent)) = stack.pop() {
        let i = nodes.len();
        nodes.push(Node { message, parent });
        stack.extend(message.children.iter().rev().map(|c| (c, Some(i))));
    }
    let by_id: HashMap<&str, usize> =
        nodes.iter().enumerate().filter_map(|(i, n)| n.message.message_id.as_deref().map(|id| (id, i))).collect();
    for i in 0..nodes.len() {
        if nodes[i].parent.is_none() {
            let named = nodes[i].message.parent_message_id.as_deref().and_then(|p| by_id.get(p)).copied();
            nodes[i].parent = named.filter(|&p| p != i);
        }
    }
    nodes
}

/// The indexes of the active path, root first: the latest leaf (by its time, then by export
/// order: LibreChat lists a newer regeneration after the one it replaced) and its ancestors.
/// An export that says nothing of its tree (no message names a parent) is one path, in order.
fn active_path(nodes: &[Node<'_>]) -> Vec<usize> {
    if nodes.iter().all(|n| n.parent.is_none()) {
        return (0..nodes.len()).collect();
    }
    let mut has_child = vec![false; nodes.len()];
    for p in nodes.iter().filter_map(|n| n.parent) {
        has_child[p] = true;
    }
    // No leaf at all: the ids loop (a hand-edited export); read it in order.
    let Some(leaf) = (0..nodes.len()).filter(|&i| !has_child[i]).max_by_key(|&i| (nodes[i].message.time(), i)) else {
        return (0..nodes.len()).collect();
    };
    // A loop above the leaf ends the walk: never more steps than messages.
    let mut path = vec![leaf];
    while let Some(p) = nodes[*path.last().expect("not empty")].parent {
        if path.len() >= nodes.len() || path.contains(&p) {
            break;
        }
        path.push(p);
    }
    path.reverse();
    path
}

fn conversation(e: Export) -> Result<Document, String> {
    let id = e.conversation_id.clone().filter(|c| !c.trim().is_empty()).ok_or("no conversationId")?;
    let nodes = tree(&e);
    let path = active_path(&nodes);
    let (mut text, mut count) = (String::new(), 0u64);
    for &i in &path {
        let m = nodes[i].message;
        let words = m.words();
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
    let latest = nodes.iter().filter_map(|n| n.message.time()).max();
    let off_path = (nodes.iter().filter(|n| !n.message.words().trim().is_empty()).count() as u64).saturating_sub(count);
    let mut metadata = origin("librechat", "");
    metadata.remove("file");
    metadata.insert("messages".into(), count.into());
    if off_path > 0 {
        metadata.insert("off_path_messages".into(), off_path.into());
    }
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

    /// A branched conversation as LibreChat's export writes it: the user asked, took the
    /// first answer, regenerated once (a second answer, 10:03), went back to the first and
    /// confirmed it at 10:05. The regenerated answer is a branch off the active path.
    fn branched(shape: &str) -> String {
        let m = |id: &str, parent: &str, user: bool, text: &str, at: &str, children: &str| {
            let sender = if user { "User" } else { "GPT-4o" };
            let children = if children.is_empty() { String::new() } else { format!(r#","children":[{children}]"#) };
            format!(r#"{{"messageId":"{id}","parentMessageId":"{parent}","conversationId":"c","sender":"{sender}","isCreatedByUser":{user},"text":"{text}","createdAt":"2026-11-20T{at}:00.000Z","updatedAt":"2026-11-20T{at}:00.000Z"{children}}}"#)
        };
        let root = "00000000-0000-0000-0000-000000000000";
        let done = m("u2", "a1", true, "that was it, it works now", "10:05", "");
        let a1 = |kids: &str| m("a1", "u1", false, "the PVC is full: expand it", "10:01", kids);
        let a2 = m("a2", "u1", false, "restart the postfix pod", "10:03", "");
        let head = r#""conversationId":"c","endpoint":"openAI","title":"mail down","exportAt":"10:06:00 GMT+0000","branches":true"#;
        match shape {
            // recursive: the roots under `messages`, replies nested (current LibreChat).
            "recursive" => {
                let q = m("u1", root, true, "postfix crashloops", "10:00", &format!("{},{a2}", a1(&done)));
                format!(r#"{{{head},"recursive":true,"messages":[{q}]}}"#)
            }
            // The same tree under `messagesTree` (older LibreChat).
            "messagesTree" => {
                let q = m("u1", root, true, "postfix crashloops", "10:00", &format!("{},{a2}", a1(&done)));
                format!(r#"{{{head},"recursive":true,"messagesTree":[{q}]}}"#)
            }
            // Not recursive: every message of every branch in one list, depth first.
            _ => {
                let q = m("u1", root, true, "postfix crashloops", "10:00", "");
                format!(r#"{{{head},"recursive":false,"messages":[{q},{},{done},{a2}]}}"#, a1(""))
            }
        }
    }

    #[test]
    fn a_branched_conversation_is_stored_as_its_active_path() {
        for shape in ["recursive", "messagesTree", "flat"] {
            let docs = parse(Path::new("c.json"), &branched(shape));
            let d = docs[0].as_ref().unwrap_or_else(|e| panic!("{shape}: {e}"));
            assert_eq!(
                d.text,
                "User: postfix crashloops\n\nGPT-4o: the PVC is full: expand it\n\nUser: that was it, it works now",
                "{shape}"
            );
            assert_eq!(d.metadata["messages"], 3, "{shape}");
            assert_eq!(d.metadata["off_path_messages"], 1, "{shape}");
            assert_eq!(d.updated_at.unwrap().to_rfc3339(), "2026-11-20T10:05:00+00:00", "{shape}");
        }
    }

    #[test]
    fn without_times_the_last_branch_exported_is_the_active_one() {
        let export = r#"{"conversationId":"c","messages":[
            {"messageId":"q","parentMessageId":null,"isCreatedByUser":true,"text":"why is the node NotReady"},
            {"messageId":"a1","parentMessageId":"q","text":"kubelet is down"},
            {"messageId":"a2","parentMessageId":"q","text":"the disk is full"}]}"#;
        let d = parse(Path::new("c.json"), export).remove(0).unwrap();
        assert_eq!(d.text, "User: why is the node NotReady\n\nAssistant: the disk is full");
        // Ids that loop are read, never walked forever.
        let looped = r#"{"conversationId":"c","messages":[{"messageId":"a","parentMessageId":"b","text":"one"},{"messageId":"b","parentMessageId":"a","text":"two"}]}"#;
        let d = parse(Path::new("c.json"), looped).remove(0).unwrap();
        assert!(d.text.contains("one") || d.text.contains("two"), "{}", d.text);
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
