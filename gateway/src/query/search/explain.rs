//! Why a result matched, in the terms an SRE checks: which field, how each probe scored
//! it, and which words and glossary concepts of the query its text shares. Enough to
//! trust a hit at a glance, or to see that it matched on "postgres" and nothing else.

use std::collections::HashSet;

use serde::Serialize;

use crate::analysis::Glossary;
use crate::pipeline::index::{Field, Keywords};

/// Most shared words listed per result.
const MAX_TERMS: usize = 16;
/// Query words examined (a query is bounded already; this bounds the work per result).
const MAX_QUERY_WORDS: usize = 256;

/// The explanation attached to each result.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Why {
    /// `cause`: an incident ranked by what went wrong (its description beyond its alert's
    /// template, and its notes, each a field of its own) against the query alert's;
    /// otherwise the point that matched best by the whole query: `text` (a chunk of the
    /// item's text), `cause` or `notes`.
    #[schema(value_type = String)]
    pub field: Field,
    /// For an alert query's incident results: whether the incident fired under the
    /// query's alertname. An incident of another alertname is offered because its cause
    /// matched better, by more than the bonus its own alertname's incidents get.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub same_alertname: Option<bool>,
    /// Cosine similarity of the query's and the matched text's embeddings, when the dense
    /// probe found it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dense: Option<f32>,
    /// BM25 score, when the keyword probe found it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyword: Option<f32>,
    /// The score the result was ranked by: for `cause`, the weighted sum of the probes'
    /// scaled scores plus the alertname bonus; for `text`, reciprocal-rank fusion or the
    /// one probe's score.
    pub fused: f32,
    /// Words of the query that the matched text also has (after stemming).
    pub terms: Vec<String>,
    /// Glossary concepts both mention (docs/retrieval.md).
    pub concepts: Vec<String>,
}

/// What a query and a matched text have in common.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Shared {
    pub terms: Vec<String>,
    pub concepts: Vec<String>,
    /// The share of the query's distinct words (those the keyword model indexes, glossary
    /// concepts included) that the matched text has too: 1.0 when it has them all.
    pub coverage: f32,
}

/// Finds the shared words and concepts of a query and a matched text, with the keyword
/// model's own tokenizer and stemmer, so "shared" means what BM25 counted.
pub fn shared(keywords: &Keywords, glossary: &Glossary, query: &str, matched: &str) -> Shared {
    let doc: HashSet<u32> = keywords.document(&glossary.expand(matched)).indices.into_iter().collect();
    let (mut terms, mut concepts) = (Vec::new(), Vec::new());
    let (mut asked, mut found) = (0usize, 0usize);
    let mut seen = HashSet::new();
    let expanded = glossary.expand(query);
    for word in expanded.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).take(MAX_QUERY_WORDS) {
        let word = word.to_lowercase();
        if !seen.insert(word.clone()) {
            continue;
        }
        let ids = keywords.query(&word).indices;
        if ids.is_empty() {
            continue;
        }
        asked += 1;
        if !ids.iter().all(|i| doc.contains(i)) {
            continue;
        }
        found += 1;
        match glossary.concept_of(&word) {
            Some(c) => concepts.push(c.name.clone()),
            None if terms.len() < MAX_TERMS => terms.push(word),
            None => {}
        }
    }
    Shared { terms, concepts, coverage: if asked == 0 { 0.0 } else { found as f32 / asked as f32 } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_words_are_counted_after_stemming_and_concepts_by_name() {
        let k = Keywords::new().unwrap();
        let g = Glossary::parse(&["oom-kill | exit code 137 | oomkilled"]).unwrap();
        let Shared { terms, concepts, coverage } =
            shared(&k, &g, "The worker pods died with exit code 137 while restarting", "pod OOMKilled, restarted");
        assert!(terms.contains(&"pods".to_owned()), "{terms:?}");
        assert!(!terms.contains(&"worker".to_owned()));
        assert_eq!(concepts, vec!["oom-kill".to_owned()]);
        assert!(coverage > 0.0 && coverage < 1.0, "{coverage}");
        assert_eq!(shared(&k, &g, "postfix queue", "the postfix queue is full").coverage, 1.0);
        assert_eq!(shared(&k, &g, "postfix queue", "immich thumbnails").coverage, 0.0);
    }
}
