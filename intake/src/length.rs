//! The length of a text as the API's documents state it: in characters (Unicode scalar
//! values), which is what JSON Schema's `maxLength` counts and what every validator and
//! tester that reads the documents (schemathesis, jsonschema, client generators) checks.
//!
//! The limits were bytes of UTF-8 once; a document cannot say "bytes", so a label name of
//! 200 CJK characters (600 bytes) was valid by the contract and refused by the server.
//! Counting characters makes `maxLength` exact. Memory stays bounded: a character is at
//! most 4 bytes, and every request is held to its body limit before any of this runs.

/// The number of characters in `text` when it is more than `max`, else `None`.
///
/// Cheap in the usual case: a text of at most `max` bytes has at most `max` characters,
/// so only a longer one is counted.
pub fn chars_over(text: &str, max: usize) -> Option<usize> {
    if text.len() <= max {
        return None;
    }
    let n = text.chars().count();
    (n > max).then_some(n)
}

/// Whether `text` is at most `max` characters (see [`chars_over`]).
pub fn within(text: &str, max: usize) -> bool {
    chars_over(text, max).is_none()
}

#[cfg(test)]
mod tests {
    use super::{chars_over, within};

    #[test]
    fn counts_characters_not_bytes() {
        // 3 bytes a character: 381 bytes, 127 characters — within 256.
        let cjk = "監".repeat(127);
        assert_eq!(cjk.len(), 381);
        assert!(within(&cjk, 256));
        assert_eq!(chars_over(&cjk, 100), Some(127));
        // 4 bytes a character (outside the BMP: one character, as Python's len counts it).
        assert!(within("🔥", 1));
        assert_eq!(chars_over("🔥🔥", 1), Some(2));
        assert!(within("", 0));
        assert_eq!(chars_over("a", 0), Some(1));
        assert!(within(&"a".repeat(256), 256));
        assert_eq!(chars_over(&"a".repeat(257), 256), Some(257));
    }
}
