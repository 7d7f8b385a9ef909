//! A result's snippet: the start of the chunk that matched, readable. A chunk after an
//! item's first begins wherever the chunker's overlap put it — mid-sentence, mid-word,
//! mid-URL — so its snippet starts at the first sentence or line boundary near its
//! start (or, failing that, the next word, marked `…`), and every snippet ends at a word
//! boundary, never inside a word or a UTF-8 character.

/// Longest snippet, in bytes (before the ellipsis).
const MAX: usize = 300;

/// How far into a continuing chunk to look for a sentence or line start.
const LOOK: usize = 160;

/// The snippet of `text`; `continues` when the text is not the start of its item (a
/// chunk after the first).
pub fn snippet(text: &str, continues: bool) -> String {
    let (body, lead) = if continues { from_boundary(text) } else { (text, false) };
    let body = body.trim();
    let mut out = String::with_capacity(MAX + 8);
    if lead {
        out.push('…');
    }
    if body.len() <= MAX {
        out.push_str(body);
        return out;
    }
    let mut end = MAX;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    // Back to the last space, unless that would drop most of the snippet (one long token).
    if let Some(space) = body[..end].rfind(char::is_whitespace).filter(|&s| s >= MAX / 2) {
        end = space;
    }
    out.push_str(body[..end].trim_end());
    out.push('…');
    out
}

/// `text` from its first sentence or line start within [`LOOK`] bytes; else from its
/// first word boundary (`true`: the start was cut).
fn from_boundary(text: &str) -> (&str, bool) {
    let window = &text[..floor(text, LOOK)];
    let line = window.find('\n').map(|i| i + 1);
    let sentence = window
        .char_indices()
        .zip(window.chars().skip(1))
        .find(|((_, c), next)| matches!(c, '.' | '!' | '?' | ';') && next.is_whitespace())
        .map(|((i, _), _)| i + 1);
    match [line, sentence].into_iter().flatten().min() {
        Some(i) if !text[i..].trim().is_empty() => (&text[i..], false),
        _ => match window.find(char::is_whitespace) {
            Some(i) if !text[i..].trim().is_empty() => (&text[i..], true),
            _ => (text, false),
        },
    }
}

/// The largest char boundary at or below `at`.
fn floor(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::snippet;

    #[test]
    fn a_first_chunk_is_shown_from_its_start() {
        assert_eq!(snippet("Disk full on node-3.", false), "Disk full on node-3.");
    }

    #[test]
    fn a_continuing_chunk_starts_at_a_sentence_or_line() {
        let mid_url = "s://wiki.example.org/runbooks/dns-outage. Restart the coredns deployment and check the upstream resolvers.";
        assert_eq!(snippet(mid_url, true), "Restart the coredns deployment and check the upstream resolvers.");
        assert_eq!(snippet("ckoff limit\n  kubectl rollout restart deploy/web\n", true), "kubectl rollout restart deploy/web");
    }

    #[test]
    fn without_a_boundary_it_starts_at_the_next_word_marked_as_cut() {
        assert_eq!(snippet("ongside the primary the replica lagged behind", true), "…the primary the replica lagged behind");
    }

    #[test]
    fn a_long_snippet_ends_at_a_word_and_never_inside_a_character() {
        let long = "word ".repeat(100);
        let s = snippet(&long, false);
        assert!(s.ends_with("word…") && s.len() <= 300 + '…'.len_utf8(), "{s}");
        let wide = "é".repeat(400);
        let s = snippet(&wide, true);
        assert!(s.ends_with('…') && s.chars().all(|c| c == 'é' || c == '…'), "{s}");
    }
}
