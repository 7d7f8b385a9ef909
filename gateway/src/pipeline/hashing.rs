//! Content hashes: the identity of a text for idempotent ingest and the vector cache.

use sha2::{Digest, Sha256};

/// Hex SHA-256 of the parts, each length-prefixed so ("ab","c") and ("a","bc") differ.
pub fn content_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
