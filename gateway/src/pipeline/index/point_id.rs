//! Deterministic point ids: the same (kind, target, chunk) always maps to the same id, so
//! a job that is retried, or redone by another replica after its lease ran out, overwrites
//! its points instead of adding duplicates.
//!
//! Layout of the u64 (no hashing, so no collisions, and an id can be read back):
//! `kind` in the top 2 bits, the row id in the next 46 (70 trillion rows), the chunk
//! number in the low 16 (65 536 chunks; documents are capped far below that).

use crate::pipeline::store::JobKind;

const CHUNK_BITS: u32 = 16;
const TARGET_BITS: u32 = 46;

/// Most chunks one target can have.
pub const MAX_CHUNKS: u32 = 1 << CHUNK_BITS;

/// The point id of chunk `chunk` of `kind` row `target_id`.
pub fn point_id(kind: JobKind, target_id: i64, chunk: u32) -> u64 {
    debug_assert!(target_id >= 0 && (target_id as u64) < (1 << TARGET_BITS));
    debug_assert!(chunk < MAX_CHUNKS);
    let k: u64 = match kind {
        JobKind::Incident => 1,
        JobKind::Document => 2,
    };
    (k << (CHUNK_BITS + TARGET_BITS)) | (((target_id as u64) & ((1 << TARGET_BITS) - 1)) << CHUNK_BITS) | chunk as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        assert_eq!(point_id(JobKind::Incident, 7, 0), point_id(JobKind::Incident, 7, 0));
        assert_ne!(point_id(JobKind::Incident, 7, 0), point_id(JobKind::Document, 7, 0));
        assert_ne!(point_id(JobKind::Incident, 7, 1), point_id(JobKind::Incident, 7, 0));
        assert_ne!(point_id(JobKind::Incident, 8, 0), point_id(JobKind::Incident, 7, 0));
        assert_eq!(point_id(JobKind::Document, 1, 2), (2 << 62) | (1 << 16) | 2);
    }
}
