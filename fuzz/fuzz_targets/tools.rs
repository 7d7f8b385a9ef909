//! Arbitrary bytes as an MCP tool call (the first line a tool name, the rest its JSON
//! arguments): never a panic; whatever is accepted is a call that tool makes, a search
//! within the limits and on that tool's kind, a note or question with text.
#![no_main]

use firebreak_intake::kind::JobKind;
use firebreak_intake::search::SearchLimits;
use firebreak_intake::tools::{self, ToolCall};
use libfuzzer_sys::fuzz_target;

const LIMITS: SearchLimits = SearchLimits { max_k: 50, max_query_chars: 256 };

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (name, args) = text.split_once('\n').unwrap_or((text, ""));
    // Arguments that are not JSON never reach the parser (the protocol layer refuses them).
    let args = if args.trim().is_empty() { None } else { firebreak_fuzz::parse::<serde_json::Value>(args.as_bytes()) };
    match tools::parse(name, args, LIMITS) {
        Ok(call) => {
            assert!(tools::access(name).is_some(), "accepted an unknown tool {name:?}");
            match call {
                ToolCall::SearchIncidents(s) | ToolCall::SearchDocuments(s) => {
                    assert!((1..=LIMITS.max_k).contains(&s.k));
                    assert!(!s.text.trim().is_empty() && firebreak_intake::length::within(&s.text, LIMITS.max_query_chars));
                    let kind = if name == tools::SEARCH_DOCUMENTS { JobKind::Document } else { JobKind::Incident };
                    assert_eq!(s.filter.kinds, vec![kind]);
                }
                ToolCall::AddNote { text, .. } => assert!(!text.trim().is_empty()),
                ToolCall::Answer { question } => assert!(!question.trim().is_empty()),
                ToolCall::GetIncident { .. } | ToolCall::Status => {}
            }
        }
        Err(r) => assert!(!r.detail.is_empty()),
    }
});
