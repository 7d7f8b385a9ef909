//! The search results an answer is grounded in, as numbered context items and the
//! citations that name them.
//!
//! Each result becomes one item, in rank order, under a token cap
//! (`--answer-context-tokens`): a past incident says what fired, where, when and how
//! often, what it said, and what the notes say fixed it; a document gives its passage.
//! Results after the first that are no good match (relevance under [`WEAK`]) are left
//! out: a runbook about DNS beside a crash-looping mail server only leads a small model
//! astray. The first stays whatever its relevance, so "no close match" can be said.
//! What does not fit is left out whole (a cut note could drop the command that fixed it),
//! except the first item, which is shortened rather than lost. The numbers are what the
//! answer cites (`[1]`), and what a client shows beside it.

use serde::Serialize;

use crate::query::search::SearchHit;
use crate::pipeline::store::{Incident, JobKind};

/// One cited source, as the response's `firebreak.citations` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Citation {
    /// The number the answer cites (`[n]`).
    pub n: usize,
    pub kind: JobKind,
    pub id: i64,
    pub title: String,
    /// Where to read more: the alert's generator URL, the document's URL, or the
    /// gateway's own incident route.
    pub url: String,
    /// How good the match is, in [0, 1] (the search result's relevance).
    pub relevance: f32,
}

/// The items given to the model, and what each one cites.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub items: Vec<String>,
    pub citations: Vec<Citation>,
    /// Results left out: no good match, or over the cap.
    pub left_out: usize,
}

/// Below this relevance a result is no good match (docs/retrieval.md, "Relevance").
pub const WEAK: f32 = 0.3;

fn day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

/// How many times the incident's alert fired: this occurrence and the others listed.
pub fn times_fired(hit: &SearchHit) -> usize {
    1 + hit.history.as_ref().map_or(0, Vec::len)
}

/// The most recent note on an incident: what fixed it, when someone wrote it down.
pub fn fix(incident: &Incident) -> Option<&str> {
    incident.notes.iter().max_by_key(|n| n.created_at).map(|n| n.text.trim()).filter(|t| !t.is_empty())
}

/// What an incident said went wrong: its description, else its summary.
pub fn description(incident: &Incident) -> Option<String> {
    ["description", "message", "summary"].iter().find_map(|k| incident.annotations.get(*k).and_then(|v| v.as_str())).map(|s| s.trim().to_owned())
}

/// The hit's title as a citation shows it.
pub fn title(hit: &SearchHit) -> String {
    match &hit.incident {
        Some(i) => match &i.head.namespace {
            Some(ns) => format!("{} in {ns}", i.head.alertname),
            None => i.head.alertname.clone(),
        },
        None => hit.title.clone().filter(|t| !t.trim().is_empty()).unwrap_or_else(|| format!("{} {}", hit.kind.as_str(), hit.id)),
    }
}

fn url(hit: &SearchHit) -> String {
    let own = || format!("/v1/incidents/{}", hit.id);
    match (&hit.incident, &hit.document) {
        (Some(i), _) => i.generator_url.clone().filter(|u| !u.is_empty()).unwrap_or_else(own),
        (None, Some(d)) => ["url", "link", "source_url"]
            .iter()
            .find_map(|k| d.metadata.get(*k).and_then(|v| v.as_str()))
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{}:{}", d.source, d.external_id)),
        (None, None) if hit.kind == JobKind::Incident => own(),
        (None, None) => String::new(),
    }
}

/// A document's passage without its title repeated (a chunk starts with it).
pub fn passage(hit: &SearchHit) -> &str {
    let s = hit.snippet.trim();
    match &hit.title {
        Some(t) if !t.is_empty() => s.strip_prefix(t.as_str()).map(str::trim_start).filter(|rest| !rest.is_empty()).unwrap_or(s),
        _ => s,
    }
}

/// The citations as text, for the end of a generated answer, each incident with what its
/// notes say fixed it: a client that shows only the text (most do) still shows where the
/// answer comes from, and the recorded fix is there word for word whatever the model made
/// of it (a small model rewords, and sometimes invents).
pub fn sources(hits: &[SearchHit], citations: &[Citation]) -> String {
    let mut out = String::from("\n\nSources:");
    for c in citations {
        let fix = hits.iter().find(|h| h.kind == c.kind && h.id == c.id).and_then(|h| h.incident.as_ref()).and_then(fix);
        match fix {
            Some(f) => out.push_str(&format!("\n[{}] {}, fixed by: {} ({})", c.n, c.title, f.split_whitespace().collect::<Vec<_>>().join(" "), c.url)),
            None => out.push_str(&format!("\n[{}] {} ({})", c.n, c.title, c.url)),
        }
    }
    out
}

/// One result as a context item (without its number).
fn item(hit: &SearchHit) -> String {
    match &hit.incident {
        Some(i) => {
            let mut s = format!(
                "Past incident: {} (severity {}), fired {} time(s), first {}, last {}, {}.",
                title(hit),
                i.head.severity.as_deref().unwrap_or("unknown"),
                times_fired(hit),
                day(i.first_seen),
                day(i.head.last_seen),
                if i.head.resolved_at.is_some() { "resolved" } else { "still firing" },
            );
            if let Some(d) = description(i) {
                s.push_str(&format!("\nWhat it said: {d}"));
            }
            match fix(i) {
                Some(f) => s.push_str(&format!("\nWhat fixed it: {f}")),
                None => s.push_str("\nNo note says what fixed it."),
            }
            s
        }
        None => format!("Document: {} ({}):\n{}", title(hit), hit.source, passage(hit)),
    }
}

/// Numbered context from search results, within `max_tokens` as `count_tokens` counts.
pub fn build(hits: &[SearchHit], max_tokens: usize, count_tokens: &dyn Fn(&str) -> usize) -> Context {
    let mut ctx = Context::default();
    let mut used = 0;
    for (rank, hit) in hits.iter().enumerate() {
        if rank > 0 && hit.relevance < WEAK {
            ctx.left_out += 1;
            continue;
        }
        let n = ctx.items.len() + 1;
        let mut text = format!("[{n}] {}", item(hit));
        let mut cost = count_tokens(&text);
        if used + cost > max_tokens {
            if !ctx.items.is_empty() {
                ctx.left_out += 1;
                continue;
            }
            // The best match is shortened rather than lost.
            let keep = text.len() * max_tokens / cost.max(1);
            let cut = (0..=keep.min(text.len())).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
            text.truncate(cut);
            text.push('…');
            cost = max_tokens;
        }
        used += cost;
        ctx.citations.push(Citation { n, kind: hit.kind, id: hit.id, title: title(hit), url: url(hit), relevance: hit.relevance });
        ctx.items.push(text);
    }
    ctx
}
