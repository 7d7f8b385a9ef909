//! Properties of the parsers and the chunker over generated input: whatever arrives, they
//! answer (accept or refuse) and never panic, and what they accept keeps its invariants.
//! Hostile input reaches these functions before any other guard can help.

use crate::common;

use std::sync::{Arc, OnceLock};

use firebreak_gateway::alertmanager::Webhook;
use firebreak_gateway::pipeline::chunking::{by_model, ChunkPolicy, Segmenter};
use firebreak_intake::shape::{json_depth, InputLimits};
use proptest::prelude::*;
use serde_json::Value;

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        // Strings full of brackets, quotes and escapes: what a naive depth scan trips on.
        "[\\[\\]{}\"\\\\a-z ]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(8, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z\\[{\"]{0,6}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn labels() -> impl Strategy<Value = std::collections::BTreeMap<String, String>> {
    prop::collection::btree_map("[a-z_]{1,12}", "\\PC{0,40}", 0..12)
}

fn webhook() -> impl Strategy<Value = Value> {
    let alert = (labels(), labels(), prop_oneof![Just("firing"), Just("resolved"), Just("pending")], "[0-9a-f]{0,16}", "\\PC{0,30}")
        .prop_map(|(mut labels, annotations, status, fingerprint, starts_at)| {
            if labels.len() % 2 == 0 {
                labels.insert("alertname".into(), "Generated".into());
            }
            serde_json::json!({"status": status, "labels": labels, "annotations": annotations,
                               "startsAt": starts_at, "endsAt": "", "fingerprint": fingerprint})
        });
    prop::collection::vec(alert, 0..8).prop_map(|alerts| {
        serde_json::json!({"version": "4", "status": "firing", "receiver": "r", "alerts": alerts})
    })
}

fn tokenizer() -> Arc<firebreak_embedder::tokenize::TextTokenizer> {
    static T: OnceLock<Arc<firebreak_embedder::tokenize::TextTokenizer>> = OnceLock::new();
    T.get_or_init(|| {
        let path = common::server::model_dir().join("tokenizer.json");
        Arc::new(firebreak_embedder::tokenize::TextTokenizer::load(&path, 256, usize::MAX, usize::MAX).expect("the model's tokenizer"))
    })
    .clone()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The pre-parse depth scan agrees with the parsed structure, strings and escapes
    /// included.
    #[test]
    fn depth_scan_matches_the_parsed_depth(v in json_value()) {
        let text = serde_json::to_vec(&v).unwrap();
        prop_assert_eq!(json_depth(&text), depth(&v));
    }

    /// Arbitrary bytes: the depth scan, the webhook parser, the limits and the occurrence
    /// checks answer without panicking.
    #[test]
    fn arbitrary_bytes_never_panic_the_intake_path(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = json_depth(&body);
        if let Ok(hook) = serde_json::from_slice::<Webhook>(&body) {
            let _ = InputLimits::default().check_webhook(&hook);
            for (i, a) in hook.alerts.iter().enumerate() {
                let _ = a.occurrence(i);
            }
        }
    }

    /// Generated webhooks: the limits refuse exactly what exceeds them, and every alert is
    /// either a valid occurrence or a named error.
    #[test]
    fn webhook_limits_refuse_exactly_the_oversized(v in webhook(), max_labels in 1usize..12, max_value in 1usize..40) {
        let hook: Webhook = serde_json::from_value(v).unwrap();
        let limits = InputLimits { max_labels, max_label_value_chars: max_value, ..InputLimits::default() };
        let over = hook.alerts.iter().any(|a| {
            [&a.labels, &a.annotations].iter().any(|s| s.len() > max_labels || s.values().any(|v| v.chars().count() > max_value))
        });
        prop_assert_eq!(limits.check_webhook(&hook).is_err(), over);
        for (i, a) in hook.alerts.iter().enumerate() {
            match a.occurrence(i) {
                Ok(o) => prop_assert!(!o.alertname.is_empty() && (a.status == "firing" || a.status == "resolved")),
                Err(e) => {
                    let prefix = format!("alert {i}:");
                    prop_assert!(e.to_string().starts_with(&prefix));
                }
            }
        }
    }

    /// The word chunker: chunks fit, keep order, overlap as asked, and lose nothing but
    /// what the cap drops (and counts).
    #[test]
    fn word_chunks_fit_and_cover_the_text(words in prop::collection::vec("\\PC{1,8}", 0..200), max_tokens in 2usize..40, overlap in 0usize..10, max_chunks in 1usize..50) {
        let text = words.join(" ");
        let words: Vec<&str> = text.split_whitespace().collect();
        let policy = ChunkPolicy { max_tokens, overlap, max_chunks };
        let c = Segmenter::Words.chunk(&text, policy);
        let per = (max_tokens / 2).max(1);
        prop_assert!(c.chunks.iter().all(|ch| !ch.trim().is_empty()));
        if c.dropped == 0 {
            if let (Some(first), Some(last)) = (c.chunks.first(), c.chunks.last()) {
                prop_assert_eq!(first.split_whitespace().next(), words.first().copied());
                prop_assert_eq!(last.split_whitespace().last(), words.last().copied());
            }
        }
        if words.len() > per {
            prop_assert!(c.chunks.iter().all(|ch| ch.split_whitespace().count() <= per));
            prop_assert!(c.chunks.len() <= max_chunks);
        }
    }

    /// The token chunker on the real tokenizer and arbitrary Unicode: every chunk is cut on
    /// char boundaries (no panic) and fits the model.
    #[test]
    fn token_chunks_fit_the_model_for_any_unicode(text in "\\PC{0,600}", max_tokens in 8usize..64) {
        let tok = tokenizer();
        let policy = ChunkPolicy { max_tokens, overlap: max_tokens / 8, max_chunks: 1000 };
        let c = by_model(tok.clone()).chunk(&text, policy);
        for ch in &c.chunks {
            if c.chunks.len() > 1 {
                prop_assert!(tok.token_spans(ch).unwrap().len() <= max_tokens);
            }
        }
        prop_assert_eq!(c.dropped, 0);
    }
}

/// The built-in glossary, loaded once.
fn glossary() -> &'static firebreak_gateway::analysis::Glossary {
    static G: OnceLock<firebreak_gateway::analysis::Glossary> = OnceLock::new();
    G.get_or_init(|| firebreak_gateway::analysis::Glossary::load(&[]).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Retrieval's text analysis takes any description an alert may carry: it never
    /// panics, dropping volatile tokens twice changes nothing more, a cause is made of
    /// the description's own words and a notes text of the notes' own, without a history
    /// nothing is template, and glossary expansion only ever appends.
    #[test]
    fn text_analysis_takes_any_text(description in "\\PC{0,300}", sibling in "\\PC{0,300}", note in "\\PC{0,80}") {
        use firebreak_gateway::analysis::{cause_text, notes_text, volatile, Template};
        let once = volatile::mask(&description);
        prop_assert_eq!(volatile::mask(&once), once.clone());
        let t = Template::learn(&[sibling.as_str()]);
        let cause = cause_text(&description, &t);
        let words: std::collections::HashSet<&str> = description.split_whitespace().collect();
        for w in cause.split_whitespace() {
            prop_assert!(words.contains(w), "{w:?} is not from the description");
        }
        let notes = notes_text([note.as_str()]);
        let words: std::collections::HashSet<&str> = note.split_whitespace().collect();
        for w in notes.split_whitespace() {
            prop_assert!(words.contains(w), "{w:?} is not from the note");
        }
        prop_assert_eq!(Template::learn::<&str>(&[]).cause(&description).split_whitespace().count(), description.split_whitespace().count());
        let expanded = glossary().expand(&description);
        prop_assert!(expanded.starts_with(&description));
    }
}
