//! The operations glossary (`gateway/data/glossary.txt`, and `--glossary FILE`): phrases
//! that name the same thing ("exit code 137", "OOMKilled", "oom killer"). A text that
//! mentions a concept gets the concept's keyword (`gloss<name>`) added to its BM25 field,
//! on the incident side and on the query side alike, so that two descriptions of one
//! cause share a rare term even when they share no word. The concept's weight is its
//! IDF, like any word's: a concept every incident mentions counts for little.
//!
//! Matching is on a normalised copy of the text (lower case, words separated by single
//! spaces, punctuation dropped) with one Aho-Corasick automaton over every phrase, so a
//! text is scanned once however large the glossary is.

use aho_corasick::AhoCorasick;

/// The glossary that ships with Firebreak.
pub const BUILTIN: &str = include_str!("../../data/glossary.txt");

/// Most phrases a glossary may hold: the automaton's size is bounded.
const MAX_PHRASES: usize = 20_000;

/// One concept: its name and keyword.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concept {
    pub name: String,
    /// The BM25 term: `gloss` and the name without dashes or spaces.
    pub keyword: String,
}

/// A loaded glossary.
#[derive(Debug)]
pub struct Glossary {
    concepts: Vec<Concept>,
    /// Per pattern: its concept.
    pattern_concept: Vec<usize>,
    automaton: Option<AhoCorasick>,
}

/// Lower case, alphanumeric words, one space between, one space around.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
    let mut gap = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if gap && !out.ends_with(' ') {
                out.push(' ');
            }
            gap = false;
            out.extend(c.to_lowercase());
        } else {
            gap = true;
        }
    }
    if !out.ends_with(' ') {
        out.push(' ');
    }
    out
}

impl Glossary {
    /// Parses `name | phrase | phrase…` lines; `#` starts a comment line.
    pub fn parse(texts: &[&str]) -> Result<Self, String> {
        let mut concepts: Vec<Concept> = Vec::new();
        let mut patterns = Vec::new();
        let mut pattern_concept = Vec::new();
        for text in texts {
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let mut parts = line.split('|').map(str::trim);
                let name = parts.next().unwrap_or_default();
                let keyword: String = std::iter::once("gloss".to_owned())
                    .chain(name.split(|c: char| !c.is_alphanumeric()).map(str::to_lowercase))
                    .collect();
                if keyword == "gloss" {
                    return Err(format!("line {}: a concept needs a name before its first |", n + 1));
                }
                let id = match concepts.iter().position(|c| c.keyword == keyword) {
                    Some(i) => i,
                    None => {
                        concepts.push(Concept { name: name.to_owned(), keyword });
                        concepts.len() - 1
                    }
                };
                for phrase in parts.filter(|p| !p.is_empty()) {
                    let (body, prefix) = match phrase.strip_suffix('*') {
                        Some(b) => (b, true),
                        None => (phrase, false),
                    };
                    let mut p = normalise(body);
                    if p.trim().is_empty() {
                        continue;
                    }
                    if prefix {
                        p.pop();
                    }
                    patterns.push(p);
                    pattern_concept.push(id);
                }
            }
        }
        if patterns.len() > MAX_PHRASES {
            return Err(format!("{} phrases; at most {MAX_PHRASES}", patterns.len()));
        }
        let automaton = if patterns.is_empty() { None } else { Some(AhoCorasick::new(&patterns).map_err(|e| e.to_string())?) };
        Ok(Glossary { concepts, pattern_concept, automaton })
    }

    /// The built-in glossary, and any extra files.
    pub fn load(extra: &[std::path::PathBuf]) -> Result<Self, String> {
        let texts: Vec<String> = extra
            .iter()
            .map(|p| std::fs::read_to_string(p).map_err(|e| format!("reading glossary {}: {e}", p.display())))
            .collect::<Result<_, _>>()?;
        let mut all = vec![BUILTIN];
        all.extend(texts.iter().map(String::as_str));
        Glossary::parse(&all)
    }

    /// A glossary that knows nothing (`--glossary off`).
    pub fn empty() -> Self {
        Glossary { concepts: Vec::new(), pattern_concept: Vec::new(), automaton: None }
    }

    pub fn len(&self) -> usize {
        self.concepts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.concepts.is_empty()
    }

    /// The concepts `text` mentions, each once, in glossary order.
    pub fn concepts(&self, text: &str) -> Vec<&Concept> {
        let Some(ac) = &self.automaton else { return Vec::new() };
        let mut hit = vec![false; self.concepts.len()];
        for m in ac.find_overlapping_iter(&normalise(text)) {
            hit[self.pattern_concept[m.pattern().as_usize()]] = true;
        }
        self.concepts.iter().zip(hit).filter(|(_, h)| *h).map(|(c, _)| c).collect()
    }

    /// `text` with the keywords of its concepts appended (for the BM25 field).
    pub fn expand(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for c in self.concepts(text) {
            out.push(' ');
            out.push_str(&c.keyword);
        }
        out
    }

    /// The concept whose keyword this is, for explanations.
    pub fn concept_of(&self, keyword: &str) -> Option<&Concept> {
        self.concepts.iter().find(|c| c.keyword == keyword)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_glossary_parses() {
        let g = Glossary::load(&[]).unwrap();
        assert!(g.len() > 50, "{} concepts", g.len());
    }

    #[test]
    fn the_builtin_glossary_joins_the_cross_alert_equivalences() {
        let g = Glossary::load(&[]).unwrap();
        let names = |t: &str| g.concepts(t).iter().map(|c| c.keyword.clone()).collect::<Vec<_>>();
        for t in ["Last State: Terminated, Exit Code 137", "reason OOMKilled", "the oom killer picked it"] {
            assert!(names(t).contains(&"glossoomkill".to_owned()), "{t}");
        }
        for t in ["exec /usr/bin/app: exec format error", "the image was built for arm64 only", "wrong architecture"] {
            assert!(names(t).contains(&"glosswrongarch".to_owned()), "{t}");
        }
    }

    #[test]
    fn phrases_match_on_word_boundaries_and_stars_match_prefixes() {
        let g = Glossary::parse(&["oom-kill | exit code 137 | oomkilled\ncrash | crashloop*"]).unwrap();
        let names = |t: &str| g.concepts(t).iter().map(|c| c.keyword.clone()).collect::<Vec<_>>();
        assert_eq!(names("The container exited: Exit-Code 137."), vec!["glossoomkill"]);
        assert_eq!(names("exit code 1370"), Vec::<String>::new());
        assert_eq!(names("pod OOMKilled, then CrashLoopBackOff"), vec!["glossoomkill", "glosscrash"]);
        assert_eq!(g.expand("oomkilled twice, oomkilled"), "oomkilled twice, oomkilled glossoomkill");
    }

    #[test]
    fn a_nameless_concept_is_refused() {
        assert!(Glossary::parse(&["| phrase"]).is_err());
    }
}
