//! Text analysis for retrieval: what of an incident says what went wrong.
//!
//! An alert's text is mostly its rule's template and the names of the things it fired
//! on; the cause is in the rest, and in the notes of whoever fixed it. [`template`]
//! learns the template of an alertname from its history, [`volatile`] drops instance
//! names, and [`glossary`] gives two wordings of one thing a shared keyword. The indexer
//! uses [`cause_text`] for each incident's second point (its "cause" field) and search
//! uses it for an alert query, so both sides are read the same way.

pub mod glossary;
pub mod template;
pub mod volatile;

pub use glossary::Glossary;
pub use template::Template;

/// Annotations that carry an alert's own words, in the order they are read.
pub const DESCRIBING: [&str; 2] = ["description", "message"];

/// The cause text of an incident or alert: the description's non-template sentences,
/// then the notes, with volatile tokens dropped. Empty when there is nothing but
/// template and names.
pub fn cause_text<'a>(description: &str, notes: impl IntoIterator<Item = &'a str>, template: &Template) -> String {
    let mut parts = vec![template.cause(description)];
    parts.extend(notes.into_iter().map(str::to_owned));
    volatile::mask(&parts.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cause_is_the_description_beyond_the_template_and_the_notes_without_names() {
        let t = Template::learn(&["Memory is filling up at pve2:9100, has been above 90% for the last 15 minutes, is currently at 94.1%. ARC 24 GiB."]);
        let c = cause_text(
            "Memory is filling up at k3s-w1:9100, has been above 90% for the last 15 minutes, is currently at 93.0%. Sum of RSS ~4 GiB.",
            ["Deleted scratch files in /data on k3s-w1"],
            &t,
        );
        assert_eq!(c, "Sum of RSS GiB. Deleted scratch files in on");
    }
}
