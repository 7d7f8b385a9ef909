//! Arbitrary bytes as a search request: whatever is accepted has a query of allowed size
//! and a `k` in range.
#![no_main]

use firebreak_intake::search::{SearchLimits, SearchRequest};
use libfuzzer_sys::fuzz_target;

const LIMITS: SearchLimits = SearchLimits { max_k: 50, max_query_chars: 256 };

fuzz_target!(|body: &[u8]| {
    let Some(req) = firebreak_fuzz::parse::<SearchRequest>(body) else { return };
    match req.validate(LIMITS) {
        Ok(s) => {
            assert!(!s.text.trim().is_empty() && firebreak_intake::length::within(&s.text, LIMITS.max_query_chars));
            assert!((1..=LIMITS.max_k).contains(&s.k));
        }
        Err(r) => assert!(!r.detail.is_empty()),
    }
});
