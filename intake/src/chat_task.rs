//! The housekeeping requests chat UIs send beside the questions, recognised so they cost
//! nothing: after the first answer LibreChat asks for a conversation title, and Open WebUI
//! asks its task model (by default the chat's own model, `firebreak`) for a title, tags,
//! follow-up questions, search queries and autocompletions. Each is an ordinary
//! `/v1/chat/completions` request whose prompt holds the conversation. Taken as a question
//! it would be searched (the prompt's template is not an incident) and handed to the LLM:
//! a generation per housekeeping request, on the node's CPU budget, during the outage the
//! person is asking about — and a small model's "title" is often a paragraph.
//!
//! So they are answered here, deterministically and at once: a title from the
//! conversation's first question (an alert's name and namespace when one was pasted),
//! tags from the alert, and the empty lists the clients' own templates allow for the rest.
//!
//! Recognised by the clients' own templates (LibreChat's `titleConvo` prompts, Open
//! WebUI's `### Task:` prompts with their `<chat_history>`), never by guessing: anything
//! else is a question. Pure and total, like the rest of the intake.

use serde_json::json;

use crate::question;

/// What a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    Title,
    Tags,
    FollowUps,
    Queries,
    Autocomplete,
}

impl TaskKind {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Title => "title",
            TaskKind::Tags => "tags",
            TaskKind::FollowUps => "follow_ups",
            TaskKind::Queries => "queries",
            TaskKind::Autocomplete => "autocomplete",
        }
    }
}

/// A recognised housekeeping request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTask {
    pub kind: TaskKind,
    /// The template asks for a JSON object (Open WebUI), not plain text.
    pub json: bool,
    /// The conversation's first question, as the prompt quotes it (or the request's
    /// earliest user turn); empty when there is none.
    pub subject: String,
}

/// Longest title, in characters (LibreChat shows about this much in its sidebar).
pub const MAX_TITLE_CHARS: usize = 40;

/// Recognises a housekeeping request in a conversation (`(role, text)`, oldest first):
/// its last turn with text, whatever its role (LibreChat sends some title prompts as a
/// system message).
pub fn detect(turns: &[(String, String)]) -> Option<ClientTask> {
    let pos = turns.iter().rposition(|(_, text)| !text.trim().is_empty())?;
    let prompt = &turns[pos].1;
    let lower = prompt.to_lowercase();
    let (kind, json) = if let Some(kind) = open_webui_task(&lower) {
        let key = match kind {
            TaskKind::Title => "\"title\"",
            TaskKind::Tags => "\"tags\"",
            TaskKind::FollowUps => "\"follow_ups\"",
            TaskKind::Queries => "\"queries\"",
            TaskKind::Autocomplete => "\"text\"",
        };
        (kind, lower.contains(key))
    } else if librechat_title(&lower) {
        (TaskKind::Title, false)
    } else {
        return None;
    };
    let subject = quoted_question(prompt)
        .or_else(|| turns[..pos].iter().find(|(role, text)| role == "user" && !text.trim().is_empty()).map(|(_, t)| t.trim().to_owned()))
        .unwrap_or_default();
    Some(ClientTask { kind, json, subject })
}

/// Open WebUI's task templates: `### Task:` first, the conversation in `<chat_history>`
/// (autocompletion quotes it as `<context>` instead).
fn open_webui_task(lower: &str) -> Option<TaskKind> {
    let body = lower.trim_start().strip_prefix("### task:")?;
    let task = body.split("###").next().unwrap_or(body);
    if !(lower.contains("<chat_history>") || lower.contains("<context>")) {
        return None;
    }
    if task.contains("autocompletion") {
        Some(TaskKind::Autocomplete)
    } else if task.contains("title") {
        Some(TaskKind::Title)
    } else if task.contains("tags") {
        Some(TaskKind::Tags)
    } else if task.contains("follow-up") {
        Some(TaskKind::FollowUps)
    } else if task.contains("search queries") || task.contains("queries") {
        Some(TaskKind::Queries)
    } else {
        None
    }
}

/// LibreChat's title prompts: the classic endpoint's and the agents' completion method
/// ("…a concise, 5-word-or-less title for the conversation…"), and the assistants'
/// ("…a concise title (max 40 characters) for a conversation that starts with…").
fn librechat_title(lower: &str) -> bool {
    (lower.contains("5-word-or-less title") && lower.contains("conversation"))
        || (lower.contains("concise title") && lower.contains("conversation that starts with"))
}

/// The first user utterance a template quotes: Open WebUI's `USER:` lines, LibreChat's
/// `||>User:` block or its `User:` line.
fn quoted_question(prompt: &str) -> Option<String> {
    let lower = prompt.to_ascii_lowercase();
    let start = ["||>user:", "\nuser:", "<chat_history>\nuser:"]
        .iter()
        .filter_map(|m| lower.find(m).map(|i| i + m.len()))
        .min()?;
    let rest = &lower[start..];
    let end = ["||>", "\nassistant:", "\nai:", "\nuser:", "</chat_history>", "\n\n"]
        .iter()
        .filter_map(|m| rest.find(m))
        .min()
        .unwrap_or(rest.len());
    let text = prompt[start..start + end].trim().trim_matches('"').trim();
    (!text.is_empty()).then(|| text.to_owned())
}

impl ClientTask {
    /// The answer's text, in the shape the client's template asks for.
    pub fn reply(&self) -> String {
        let title = title(&self.subject);
        match (self.kind, self.json) {
            (TaskKind::Title, false) => title,
            (TaskKind::Title, true) => json!({ "title": title }).to_string(),
            (TaskKind::Tags, _) => json!({ "tags": tags(&self.subject) }).to_string(),
            // The templates allow an empty list ("if … no relevant follow-ups exist,
            // return an empty list"; no queries: Open WebUI searches the message itself).
            (TaskKind::FollowUps, _) => json!({ "follow_ups": [] }).to_string(),
            (TaskKind::Queries, _) => json!({ "queries": [] }).to_string(),
            (TaskKind::Autocomplete, _) => json!({ "text": "" }).to_string(),
        }
    }
}

/// Words a title does without (when enough others are left).
const FILLER: &[&str] = &[
    "a", "an", "and", "any", "are", "before", "can", "did", "do", "does", "for", "have", "hello", "hey", "hi", "how",
    "i", "in", "is", "it", "last", "me", "my", "of", "on", "or", "our", "please", "seen", "that", "the", "this", "time",
    "to", "was", "we", "what", "when", "why", "with", "you",
];

/// A title for a conversation that starts with `subject`: `<alertname> in <namespace>`
/// for a pasted alert, otherwise its first words in title case, without punctuation,
/// at most five words and [`MAX_TITLE_CHARS`].
pub fn title(subject: &str) -> String {
    let q = question::read(subject);
    if let Some(alert) = &q.alert {
        if let Some(name) = alert.labels.get("alertname") {
            let t = match alert.labels.get("namespace") {
                Some(ns) => format!("{name} in {ns}"),
                None => name.clone(),
            };
            return cap_chars(&t);
        }
    }
    let words: Vec<String> = subject
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_owned())
        .filter(|w| !w.is_empty())
        .collect();
    let kept: Vec<&String> = words.iter().filter(|w| !FILLER.contains(&w.to_lowercase().as_str())).collect();
    let chosen: Vec<&String> = if kept.len() >= 2 { kept } else { words.iter().collect() };
    let mut out = String::new();
    for w in chosen.into_iter().take(5) {
        let word = capitalise(w);
        let sep = usize::from(!out.is_empty());
        if out.chars().count() + sep + word.chars().count() > MAX_TITLE_CHARS {
            break;
        }
        if sep == 1 {
            out.push(' ');
        }
        out.push_str(&word);
    }
    if out.is_empty() {
        // One word longer than the cap, or nothing to go on.
        out = cap_chars(words.first().map_or("Firebreak", |w| w.as_str()));
    }
    out
}

/// The tags of a conversation: what it is about, and the alert's name when one was pasted.
fn tags(subject: &str) -> Vec<String> {
    let mut tags = vec!["Incidents".to_owned()];
    if let Some(name) = question::read(subject).alert.and_then(|a| a.labels.get("alertname").cloned()) {
        tags.push(cap_chars(&name));
    }
    tags
}

fn capitalise(w: &str) -> String {
    let mut chars = w.chars();
    match chars.next() {
        Some(first) if first.is_lowercase() => first.to_uppercase().chain(chars).collect(),
        _ => w.to_owned(),
    }
}

/// One line of at most [`MAX_TITLE_CHARS`]: a label value may hold anything, newlines
/// included.
fn cap_chars(s: &str) -> String {
    let line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let capped: String = line.chars().take(MAX_TITLE_CHARS).collect();
    match capped.trim_end() {
        "" => "Firebreak".to_owned(),
        t => t.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turns(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(r, t)| ((*r).to_owned(), (*t).to_owned())).collect()
    }

    // The clients' own templates, as they send them (LibreChat's api/app/clients/prompts
    // and @librechat/agents src/utils/title.ts; Open WebUI's backend/open_webui/config.py),
    // with a conversation filled in.
    const LIBRECHAT_CLASSIC: &str = "Please generate a concise, 5-word-or-less title for the conversation, using its same language, with no punctuation. Apply title case conventions appropriate for the language. Never directly mention the language name or the word \"title\"\n\n||>User:\n\"postfix-0 is OOMKilled again, what fixed it last time?\"\n||>Response:\n\"\\\"Seen before: raise the memory limit to 512Mi [1]\\\"\"\n\n||>Title:";
    const LIBRECHAT_AGENTS: &str = "Provide a concise, 5-word-or-less title for the conversation, using title case conventions. Only return the title itself.\n\nConversation:\nUser: the mail server is down\nAI: Seen before: postfix OOMKilled [1]";
    const OPEN_WEBUI_TITLE: &str = "### Task:\nGenerate a concise, 3-5 word title with an emoji summarizing the chat history.\n### Guidelines:\n- The title should clearly represent the main theme or subject of the conversation.\n### Output:\nJSON format: { \"title\": \"your concise title here\" }\n### Chat History:\n<chat_history>\nUSER: alertname=\"KubePodCrashLooping\", namespace=\"mail\" seen before?\nASSISTANT: Seen before: postfix OOMKilled [1]\n</chat_history>";
    const OPEN_WEBUI_TITLE_TEXT: &str = "### Task:\nGenerate a concise, 3-5 word title with an emoji summarizing the chat history.\n### Output:\nReturn ONLY the title text, nothing else. No quotes, no punctuation at the end, no prefixes like \"Title:\" or \"Session Title:\". 3-7 words. Use an emoji if helpful.\n### Chat History:\n<chat_history>\nUSER: Why is the photo app down?\nASSISTANT: ...\n</chat_history>";
    const OPEN_WEBUI_TAGS: &str = "### Task:\nGenerate 1-3 broad tags categorizing the main themes of the chat history, along with 1-3 more specific subtopic tags.\n\n### Guidelines:\n- Start with high-level domains\n\n### Output:\nJSON format: { \"tags\": [\"tag1\", \"tag2\", \"tag3\"] }\n\n### Chat History:\n<chat_history>\nUSER: {\"labels\":{\"alertname\":\"NodeDiskFull\",\"instance\":\"nas\"}} again?\nASSISTANT: ...\n</chat_history>";
    const OPEN_WEBUI_FOLLOW_UPS: &str = "### Task:\nSuggest 3-5 relevant follow-up questions or prompts that the user might naturally ask next in this conversation as a **user**, based on the chat history, to help continue or deepen the discussion.\n### Output:\nJSON format: { \"follow_ups\": [\"Question 1?\", \"Question 2?\", \"Question 3?\"] }\n### Chat History:\n<chat_history>\nUSER: hi\nASSISTANT: hello\n</chat_history>";
    const OPEN_WEBUI_QUERIES: &str = "### Task:\nAnalyze the chat history to determine the necessity of generating search queries, in the given language. By default, **prioritize generating 1-3 broad and relevant search queries** unless it is absolutely certain that no additional information is required.\n### Output:\nStrictly return in JSON format: \n{\n  \"queries\": [\"query1\", \"query2\"]\n}\n### Chat History:\n<chat_history>\nUSER: is longhorn degraded?\n</chat_history>";
    const OPEN_WEBUI_AUTOCOMPLETE: &str = "### Task:\nYou are an autocompletion system. Continue the text in `<text>` based on the **completion type** in `<type>` and the given language.\n### Output Rules:\n- Respond in JSON format: { \"text\": \"<your_completion>\" }\n### Context:\n<chat_history>\n\n</chat_history>\n<type>General</type>\n<text>why is postfix</text>";

    #[test]
    fn librechat_title_requests_get_a_short_title_from_the_first_question() {
        let t = detect(&turns(&[("system", LIBRECHAT_CLASSIC)])).expect("the classic title prompt, as a system message");
        assert_eq!((t.kind, t.json), (TaskKind::Title, false));
        assert_eq!(t.subject, "postfix-0 is OOMKilled again, what fixed it last time?");
        assert_eq!(t.reply(), "Postfix-0 OOMKilled Again Fixed");

        let t = detect(&turns(&[("user", LIBRECHAT_AGENTS)])).expect("the agents' completion title prompt");
        assert_eq!(t.reply(), "Mail Server Down");
        let assistants = "Please generate a concise title (max 40 characters) for a conversation that starts with:\nUser: disk full on nas\nAssistant: ...\nTitle:";
        assert_eq!(detect(&turns(&[("user", assistants)])).unwrap().reply(), "Disk Full Nas");
    }

    #[test]
    fn open_webui_tasks_are_answered_in_their_templates_shape() {
        let t = detect(&turns(&[("user", OPEN_WEBUI_TITLE)])).unwrap();
        assert_eq!((t.kind, t.json), (TaskKind::Title, true));
        let v: serde_json::Value = serde_json::from_str(&t.reply()).unwrap();
        assert_eq!(v["title"], "KubePodCrashLooping in mail");
        assert_eq!(detect(&turns(&[("user", OPEN_WEBUI_TITLE_TEXT)])).unwrap().reply(), "Photo App Down");

        let tags: serde_json::Value = serde_json::from_str(&detect(&turns(&[("user", OPEN_WEBUI_TAGS)])).unwrap().reply()).unwrap();
        assert_eq!(tags["tags"], json!(["Incidents", "NodeDiskFull"]));
        for (prompt, kind, key) in [
            (OPEN_WEBUI_FOLLOW_UPS, TaskKind::FollowUps, "follow_ups"),
            (OPEN_WEBUI_QUERIES, TaskKind::Queries, "queries"),
            (OPEN_WEBUI_AUTOCOMPLETE, TaskKind::Autocomplete, "text"),
        ] {
            let t = detect(&turns(&[("user", prompt)])).unwrap();
            assert_eq!(t.kind, kind);
            let v: serde_json::Value = serde_json::from_str(&t.reply()).unwrap();
            assert!(v.get(key).is_some(), "{key}: {v}");
        }
    }

    #[test]
    fn questions_are_not_tasks() {
        for text in [
            "what does the title of the KubePodCrashLooping runbook say?",
            "### Task: find why postfix restarts",
            "give me a 5-word-or-less summary",
            "",
        ] {
            assert_eq!(detect(&turns(&[("user", text)])), None, "{text}");
        }
        // Only the last turn counts: a title prompt earlier in a conversation is history.
        assert_eq!(detect(&turns(&[("user", LIBRECHAT_AGENTS), ("user", "and now?")])), None);
    }

    #[test]
    fn titles_are_short_and_never_empty() {
        assert_eq!(title(""), "Firebreak");
        assert_eq!(title("?!"), "Firebreak");
        assert_eq!(title("hi"), "Hi");
        let long = title("supercalifragilisticexpialidocious-and-then-some-more-words");
        assert_eq!(long.chars().count(), MAX_TITLE_CHARS);
        let many = title("one two three four five six seven");
        assert_eq!(many, "One Two Three Four Five");
        assert!(title("ünïcödé wörds everywhere über alles immer").chars().count() <= MAX_TITLE_CHARS);
        // Found by the fuzzer: a label value running over lines stays one line.
        assert_eq!(title("alertname=\"NodeDown\n### Chat History:\n<chat_history>"), "NodeDown ### Chat History: <chat_history");
        // A subject taken from the request when the prompt quotes none.
        let t = detect(&turns(&[("user", "node nas is out of disk"), ("assistant", "…"), ("user", "Please generate a concise, 5-word-or-less title for the conversation.")])).unwrap();
        assert_eq!(t.reply(), "Node Nas Out Disk");
    }
}
