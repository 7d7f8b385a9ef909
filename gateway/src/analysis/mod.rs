//! Text analysis for retrieval: what of an incident says what went wrong.
//!
//! An alert's text is mostly its rule's template and the names of the things it fired
//! on; the cause is in the rest, and in the notes of whoever fixed it. [`template`]
//! learns the template of an alertname from its history, [`volatile`] drops instance
//! names, and [`glossary`] gives two wordings of one thing a shared keyword. The indexer
//! uses [`cause_text`] for an incident's "cause" point and search uses it for an alert
//! query, so both sides are read the same way; [`notes_text`] makes the "notes" point,
//! what whoever fixed it wrote: the fix, and usually the cause in other words.

pub mod glossary;
pub mod template;
pub mod volatile;

pub use glossary::Glossary;
pub use template::Template;

/// Annotations that carry an alert's own words, in the order they are read.
pub const DESCRIBING: [&str; 2] = ["description", "message"];

/// The cause text of an incident or alert: the description's non-template sentences,
/// with volatile tokens dropped. Empty when there is nothing but template and names.
pub fn cause_text(description: &str, template: &Template) -> String {
    volatile::mask(&template.cause(description))
}

/// An incident's notes as one text, with volatile tokens dropped. Kept apart from the
/// cause: a query alert has no notes, and a fix written in other words than the alert
/// would otherwise dilute the cause's match (docs/retrieval.md).
pub fn notes_text<'a>(notes: impl IntoIterator<Item = &'a str>) -> String {
    volatile::mask(&notes.into_iter().collect::<Vec<_>>().join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cause_is_the_description_beyond_the_template_without_names() {
        let t = Template::learn(&["Memory is filling up at pve2:9100, has been above 90% for the last 15 minutes, is currently at 94.1%. ARC 24 GiB."]);
        let c = cause_text(
            "Memory is filling up at k3s-w1:9100, has been above 90% for the last 15 minutes, is currently at 93.0%. Sum of RSS ~4 GiB.",
            &t,
        );
        assert_eq!(c, "Sum of RSS GiB.");
    }

    #[test]
    fn notes_are_one_text_without_names() {
        assert_eq!(notes_text(["Deleted scratch files in /data on k3s-w1", "Raised the memory limit"]), "Deleted scratch files in on Raised the memory limit");
        assert_eq!(notes_text([]), "");
    }
}
