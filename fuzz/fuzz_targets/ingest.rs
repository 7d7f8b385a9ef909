//! Arbitrary bytes as an ingest batch: whatever is accepted is a batch the store can take
//! as it is.
#![no_main]

use firebreak_intake::ingest::IngestRequest;
use libfuzzer_sys::fuzz_target;

const MAX_DOCUMENTS: usize = 8;

fuzz_target!(|body: &[u8]| {
    let Some(req) = firebreak_fuzz::parse::<IngestRequest>(body) else { return };
    match req.validate(MAX_DOCUMENTS) {
        Ok(batch) => {
            assert!(!batch.source.trim().is_empty() && !batch.run_id.trim().is_empty());
            assert!(batch.documents.len() <= MAX_DOCUMENTS);
            for d in &batch.documents {
                assert!(!d.external_id.trim().is_empty() && !d.text.trim().is_empty());
                assert!(d.metadata.is_object());
            }
        }
        Err(r) => assert!(!r.detail.is_empty()),
    }
});
