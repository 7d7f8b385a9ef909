//! The answer that needs no language model: built from the search results alone, word for
//! word the same for the same results, in a few lines of Markdown —
//!
//! ```text
//! **Seen before:** KubePodCrashLooping in mail [1], 3 times, last on 2026-02-01 (resolved).
//! **Fixed by:** Raised the memory limit to 512Mi. [1]
//! **See also:** [2] Postfix runbook (wiki): …
//! ```
//!
//! It is what `model: firebreak-extractive` asks for, and what every answer falls back to
//! when the LLM cannot be used (none configured, its breaker open, its budget spent, its
//! deadline passed, its queue full): the people who need an answer during an outage get
//! one, from the embedder alone — or, with the embedder down too, from keyword search.

use super::context::{self, Citation, WEAK};
use crate::query::search::SearchHit;

/// At most this many other matches are listed under the first.
const ALSO: usize = 2;
/// Longest passage quoted from a document, in characters.
const PASSAGE: usize = 240;

fn shorten(s: &str, max: usize) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() <= max {
        return s;
    }
    let cut: String = s.chars().take(max).collect();
    let at = cut.rfind(' ').unwrap_or(cut.len());
    format!("{}…", &cut[..at])
}

fn when(hit: &SearchHit) -> String {
    let Some(i) = &hit.incident else { return String::new() };
    let last = chrono::DateTime::from_timestamp_millis(i.head.last_seen).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default();
    let times = context::times_fired(hit);
    let state = if i.head.resolved_at.is_some() { "resolved" } else { "still firing" };
    format!("{times} time{}, last on {last} ({state})", if times == 1 { "" } else { "s" })
}

/// The answer for `hits`, citing them as `citations` numbers them.
pub fn answer(hits: &[SearchHit], citations: &[Citation]) -> String {
    let cited: Vec<(&SearchHit, usize)> =
        hits.iter().filter_map(|h| citations.iter().find(|c| c.kind == h.kind && c.id == h.id).map(|c| (h, c.n))).collect();
    let Some(&(best, n)) = cited.first() else {
        return "Nothing like this has been seen before: no past incident or document matches the question.".into();
    };
    let mut out = String::new();
    if best.relevance < WEAK {
        out.push_str("No close match: the nearest results follow, but none is clearly the same thing.\n\n");
    }
    let incidents: Vec<&(&SearchHit, usize)> = cited.iter().filter(|(h, _)| h.incident.is_some()).collect();
    let documents: Vec<&(&SearchHit, usize)> = cited.iter().filter(|(h, _)| h.incident.is_none()).collect();
    if let Some(&&(hit, n)) = incidents.first() {
        out.push_str(&format!("**Seen before:** {} [{n}], {}.\n", context::title(hit), when(hit)));
        match hit.incident.as_ref().and_then(context::fix) {
            Some(fix) => out.push_str(&format!("**Fixed by:** {} [{n}]\n", shorten(fix, 600))),
            None => out.push_str(&format!("**Fixed by:** no note says what fixed it; add one with `POST /v1/incidents/{}/notes` once you know.\n", hit.id)),
        }
        for &&(other, m) in incidents.iter().skip(1).take(ALSO) {
            let fix = other.incident.as_ref().and_then(context::fix).map(|f| format!("; fixed by: {}", shorten(f, 160))).unwrap_or_default();
            out.push_str(&format!("**Also similar:** {} [{m}], {}{fix}.\n", context::title(other), when(other)));
        }
    } else if best.incident.is_none() {
        out.push_str(&format!("**Not seen before as an incident.** The closest document is [{n}].\n"));
    }
    for &&(doc, m) in documents.iter().take(ALSO) {
        out.push_str(&format!("**See also:** [{m}] {} ({}): {}\n", context::title(doc), doc.source, shorten(context::passage(doc), PASSAGE)));
    }
    out.trim_end().to_owned()
}
