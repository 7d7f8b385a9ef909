//! A relevance in [0, 1] beside each result's ranking score, so a client can tell "no
//! good match" from "the best of several good ones".
//!
//! The ranking score cannot say that: reciprocal-rank fusion gives every first result
//! 1/61 whatever it is, and a cause ranking's scaling makes its best candidate 1.0
//! even when all of them are poor. Relevance comes from how close the match itself is:
//!
//! - with a dense score, the cosine similarity of query and matched text, mapped linearly
//!   from [`DENSE_FLOOR`] (what unrelated texts reach with all-MiniLM-L6-v2: 0) to
//!   [`DENSE_FULL`] (the same thing said in other words: 1);
//! - found by words alone (keyword mode, keyword-only points, the embedder away): the
//!   share of the query's words the matched text has, times [`KEYWORD_CEILING`]: shared
//!   words are weaker evidence than shared meaning, and never certainty.
//!
//! The constants were read off the evaluation sets (docs/retrieval.md, "Relevance"), where
//! `firebreak eval` prints the relevance of right and wrong first results: they describe
//! this model's similarity scale, and move with it.

/// Cosine similarity at or below which a match counts as unrelated.
pub const DENSE_FLOOR: f32 = 0.2;
/// Cosine similarity at or above which a match counts as certain.
pub const DENSE_FULL: f32 = 0.8;
/// The most a match by words alone can reach.
pub const KEYWORD_CEILING: f32 = 0.8;

/// The relevance of a result: its dense similarity if it has one, else its keyword
/// coverage (the share of the query's words found).
pub fn relevance(dense: Option<f32>, keyword_coverage: f32) -> f32 {
    let r = match dense {
        Some(cosine) => (cosine - DENSE_FLOOR) / (DENSE_FULL - DENSE_FLOOR),
        None => keyword_coverage * KEYWORD_CEILING,
    };
    if r.is_nan() { 0.0 } else { r.clamp(0.0, 1.0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relevance_stays_in_the_unit_interval() {
        assert_eq!(relevance(Some(0.1), 1.0), 0.0);
        assert_eq!(relevance(Some(0.95), 0.0), 1.0);
        assert!((relevance(Some(0.5), 0.0) - 0.5).abs() < 1e-6);
        assert_eq!(relevance(None, 1.0), KEYWORD_CEILING);
        assert_eq!(relevance(None, 0.0), 0.0);
        assert_eq!(relevance(Some(f32::NAN), 0.0), 0.0);
    }
}
