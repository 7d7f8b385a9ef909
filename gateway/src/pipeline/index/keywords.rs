//! BM25 keyword vectors, computed here for both backends with qdrant-edge's BM25 (the
//! same tokenizer, stopwords and stemmer as Qdrant server's), so keyword search ranks
//! identically whichever backend stores the points. The index applies the IDF modifier.

use qdrant_edge::bm25_embed::{EdgeBm25, EdgeBm25Config};

use super::{IndexError, IndexResult, SparseVec};

/// The keyword model. Cheap to call; build once.
pub struct Keywords {
    bm25: EdgeBm25,
}

impl Keywords {
    pub fn new() -> IndexResult<Self> {
        let bm25 = EdgeBm25::new(EdgeBm25Config::default()).map_err(|e| IndexError::Config(format!("bm25: {e}")))?;
        Ok(Keywords { bm25 })
    }

    /// Term weights of a stored text.
    pub fn document(&self, text: &str) -> SparseVec {
        let v = self.bm25.embed_document(text);
        SparseVec { indices: v.indices, values: v.values }
    }

    /// Terms of a query (weights come from the index's IDF).
    pub fn query(&self, text: &str) -> SparseVec {
        let v = self.bm25.embed_query(text);
        SparseVec { indices: v.indices, values: v.values }
    }
}

#[cfg(test)]
mod tests {
    use super::Keywords;

    #[test]
    fn stems_and_drops_stopwords() {
        let k = Keywords::new().unwrap();
        let a = k.query("the pods are crashlooping");
        let b = k.query("pod crashlooping");
        let mut ai = a.indices.clone();
        let mut bi = b.indices.clone();
        ai.sort();
        bi.sort();
        assert_eq!(ai, bi, "stopwords dropped and plural stemmed");
        assert!(k.query("   ").is_empty());
    }
}
