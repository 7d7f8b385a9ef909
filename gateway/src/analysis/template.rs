//! The template of an alert: the sentences its rule writes every time it fires.
//!
//! `KubeStatefulSetReplicasMismatch` always says "StatefulSet X has not matched the
//! expected number of replicas for longer than 15 minutes."; what differs from one firing
//! to the next, and tells causes apart, is what a person or an enrichment added after
//! it. The template is learnt from the alert's own history: a sentence of a description
//! is template when, its volatile tokens aside, nearly the same sentence appears in at
//! least half of the other incidents of the same alertname. Kept text is the cause: what
//! gets its own vector and keyword field, so that incidents of one alertname are told
//! apart by what went wrong, not by the boilerplate they share.

use std::collections::HashSet;

use super::volatile::is_volatile;

/// Sentences longer than this many words are never template (rules write short ones).
const MAX_TEMPLATE_WORDS: usize = 60;
/// Sentences examined per description: descriptions are bounded already, but a pasted
/// log line by line must not cost quadratic time.
const MAX_SENTENCES: usize = 64;
/// Word overlap (Jaccard) from which two sentences are the same template.
const SAME: f32 = 0.6;

/// The sentences of a text: split after `.`, `;`, `!` or `?` followed by whitespace, and
/// at line breaks. Empty pieces are dropped; each keeps its punctuation.
pub fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut start = 0;
        let b = line.as_bytes();
        for i in 0..b.len() {
            if matches!(b[i], b'.' | b';' | b'!' | b'?') && b.get(i + 1).is_some_and(|c| c.is_ascii_whitespace()) {
                out.push(line[start..=i].trim());
                start = i + 1;
            }
        }
        out.push(line[start..].trim());
    }
    out.retain(|s| !s.is_empty());
    out.truncate(MAX_SENTENCES);
    out
}

/// A sentence's shape: its lowercased non-volatile words.
fn shape(sentence: &str) -> HashSet<String> {
    sentence
        .split_whitespace()
        .filter(|t| !is_volatile(t))
        .map(|t| t.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

fn similar(a: &HashSet<String>, b: &HashSet<String>) -> bool {
    let union = a.union(b).count();
    union > 0 && a.intersection(b).count() as f32 / union as f32 >= SAME
}

/// What the other incidents of one alertname said: the sentence shapes of each.
pub struct Template {
    siblings: Vec<Vec<HashSet<String>>>,
}

impl Template {
    /// From the descriptions of other incidents of the same alertname (other
    /// fingerprints: a resend of the same alert is not evidence of a template).
    pub fn learn<S: AsRef<str>>(siblings: &[S]) -> Self {
        Template { siblings: siblings.iter().map(|d| sentences(d.as_ref()).into_iter().map(shape).collect()).collect() }
    }

    /// Other incidents it was learnt from.
    pub fn siblings(&self) -> usize {
        self.siblings.len()
    }

    /// Whether `sentence` is template: found in at least half of the siblings (and at
    /// least one).
    pub fn is_template(&self, sentence: &str) -> bool {
        if self.siblings.is_empty() || sentence.split_whitespace().count() > MAX_TEMPLATE_WORDS {
            return false;
        }
        let s = shape(sentence);
        if s.is_empty() {
            return true;
        }
        let found = self.siblings.iter().filter(|sib| sib.iter().any(|t| similar(&s, t))).count();
        found * 2 >= self.siblings.len() && found > 0
    }

    /// The sentences of `description` that are not template, in order, joined.
    pub fn cause(&self, description: &str) -> String {
        sentences(description).into_iter().filter(|s| !self.is_template(s)).collect::<Vec<_>>().join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "StatefulSet databases/postgresql has not matched the expected number of replicas for longer than 15 minutes. \
                     postgresql-1 stuck in ContainerCreating since k3s-w2 went offline at 03:12; pod event: Multi-Attach error.";
    const B: &str = "StatefulSet messaging/kafka has not matched the expected number of replicas for longer than 15 minutes. \
                     Scaled brokers 3 -> 4; kafka-3 Pending, PVC data-kafka-3 Pending.";
    const C: &str = "StatefulSet databases/mongodb has not matched the expected number of replicas for longer than 15 minutes. \
                     mongodb-2 Pending: 0/3 nodes are available.";

    #[test]
    fn splits_sentences_and_clauses() {
        assert_eq!(sentences("One. Two; three\nfour! 1.5 GiB"), vec!["One.", "Two;", "three", "four!", "1.5 GiB"]);
    }

    #[test]
    fn the_rules_sentence_is_template_and_the_rest_is_cause() {
        let t = Template::learn(&[B, C]);
        assert_eq!(t.cause(A), "postgresql-1 stuck in ContainerCreating since k3s-w2 went offline at 03:12; pod event: Multi-Attach error.");
    }

    #[test]
    fn without_history_everything_is_cause() {
        assert_eq!(Template::learn::<&str>(&[]).cause(A), sentences(A).join(" "));
    }

    #[test]
    fn a_sentence_one_sibling_in_three_shares_is_not_template() {
        let t = Template::learn(&[B, C, "Something else entirely happened here."]);
        assert!(t.is_template("StatefulSet x/y has not matched the expected number of replicas for longer than 15 minutes."));
        let t = Template::learn(&["Disk full on node.", "Network is down.", "Scaled brokers 3 -> 4; kafka-3 Pending."]);
        assert!(!t.is_template("Scaled brokers 5 -> 6;"));
    }
}
