//! Arbitrary bytes as a chat conversation (`role: text` turns separated by a NUL byte):
//! the answer service's pure reading of it, `firebreak_intake::chat_task::detect` (a chat
//! UI's title, tags, follow-ups) and `question::read` (a pasted alert). Never a panic
//! (both slice text a client wrote); a recognised request's reply is a short, non-empty
//! title or a JSON object, and a question's search text is the message's own.
#![no_main]

use firebreak_intake::chat_task::{self, TaskKind, MAX_TITLE_CHARS};
use firebreak_intake::question;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let turns: Vec<(String, String)> = text
        .split('\0')
        .map(|t| match t.split_once(": ") {
            Some((role, body)) => (role.to_owned(), body.to_owned()),
            None => ("user".to_owned(), t.to_owned()),
        })
        .collect();
    if let Some(task) = chat_task::detect(&turns) {
        let reply = task.reply();
        if task.kind == TaskKind::Title && !task.json {
            let n = reply.chars().count();
            assert!(n > 0 && n <= MAX_TITLE_CHARS, "title {reply:?}");
            assert!(!reply.contains('\n'), "title {reply:?}");
        } else {
            let v: serde_json::Value = serde_json::from_str(&reply).expect("a JSON reply");
            assert!(v.is_object(), "{reply}");
        }
    }
    for (_, body) in &turns {
        let q = question::read(body);
        if q.alert.is_none() {
            assert_eq!(q.text, body.trim());
        }
    }
});
