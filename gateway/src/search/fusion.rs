//! Rankings of chunks → one ranking of items (incidents, documents).
//!
//! A long document has many chunks; a result list must show it once, at its best chunk.
//! Hybrid search fuses the dense and keyword rankings by reciprocal-rank fusion (Cormack
//! et al.: score = Σ 1 / (k + rank)), which needs no score calibration between cosine
//! similarities and BM25 sums: exactly what makes it robust for two unrelated scorers.

use std::collections::HashMap;

use crate::index::Hit;
use crate::store::JobKind;

/// The usual RRF constant: damps the weight of the very top ranks.
pub const RRF_K: f32 = 60.0;

/// One item of a fused ranking.
#[derive(Debug, Clone)]
pub struct Ranked {
    pub kind: JobKind,
    pub target_id: i64,
    pub score: f32,
    /// The chunk that ranked best for this item (for the snippet).
    pub best: Hit,
}

/// The first hit of each item, in rank order.
fn per_item(hits: &[Hit]) -> Vec<&Hit> {
    let mut seen = std::collections::HashSet::new();
    hits.iter().filter(|h| seen.insert((h.payload.kind, h.payload.target_id))).collect()
}

/// One ranking alone: each item scored by its best chunk's own score.
pub fn single(hits: &[Hit], k: usize) -> Vec<Ranked> {
    per_item(hits)
        .into_iter()
        .take(k)
        .map(|h| Ranked { kind: h.payload.kind, target_id: h.payload.target_id, score: h.score, best: h.clone() })
        .collect()
}

/// Several rankings fused by RRF over items; ties keep the first ranking's order.
pub fn rrf(rankings: &[&[Hit]], k: usize) -> Vec<Ranked> {
    // Per item: fused score, the order it was first met (the tie-break), its best chunk.
    let mut fused: HashMap<(JobKind, i64), (f32, usize, Hit)> = HashMap::new();
    for ranking in rankings {
        for (rank, h) in per_item(ranking).into_iter().enumerate() {
            let next = fused.len();
            let e = fused.entry((h.payload.kind, h.payload.target_id)).or_insert_with(|| (0.0, next, h.clone()));
            e.0 += 1.0 / (RRF_K + rank as f32 + 1.0);
        }
    }
    let mut out: Vec<(usize, Ranked)> = fused
        .into_iter()
        .map(|((kind, target_id), (score, first, best))| (first, Ranked { kind, target_id, score, best }))
        .collect();
    out.sort_by(|(fa, a), (fb, b)| b.score.total_cmp(&a.score).then(fa.cmp(fb)));
    let mut out: Vec<Ranked> = out.into_iter().map(|(_, r)| r).collect();
    out.truncate(k);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::PointPayload;

    fn hit(kind: JobKind, target: i64, chunk: u32, score: f32) -> Hit {
        Hit {
            id: crate::index::point_id::point_id(kind, target, chunk),
            score,
            payload: PointPayload {
                kind,
                target_id: target,
                chunk,
                source: "t".into(),
                namespace: None,
                alertname: None,
                severity: None,
                time: 0,
                title: None,
                text: format!("{target}/{chunk}"),
            },
        }
    }

    #[test]
    fn items_appear_once_at_their_best_chunk() {
        let hits = [hit(JobKind::Document, 1, 3, 0.9), hit(JobKind::Document, 2, 0, 0.8), hit(JobKind::Document, 1, 0, 0.7)];
        let r = single(&hits, 10);
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].target_id, r[0].best.payload.chunk, r[0].score), (1, 3, 0.9));
    }

    #[test]
    fn rrf_rewards_agreement() {
        let dense = [hit(JobKind::Incident, 1, 0, 0.9), hit(JobKind::Incident, 2, 0, 0.8), hit(JobKind::Incident, 3, 0, 0.7)];
        let keyword = [hit(JobKind::Incident, 2, 0, 12.0), hit(JobKind::Incident, 4, 0, 9.0)];
        let r = rrf(&[&dense, &keyword], 10);
        assert_eq!(r.iter().map(|r| r.target_id).collect::<Vec<_>>(), vec![2, 1, 4, 3]);
        assert!((r[0].score - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-6);
    }

    #[test]
    fn incidents_and_documents_with_the_same_row_id_are_different_items() {
        let a = [hit(JobKind::Incident, 1, 0, 0.9), hit(JobKind::Document, 1, 0, 0.8)];
        assert_eq!(rrf(&[&a], 10).len(), 2);
    }
}
