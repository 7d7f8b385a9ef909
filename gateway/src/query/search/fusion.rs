//! Rankings of chunks → one ranking of items (incidents, documents).
//!
//! A long document has many chunks; a result list must show it once, at its best chunk.
//! Two fusions of a dense and a keyword ranking:
//! - [`rrf`], reciprocal-rank fusion (Cormack et al.: score = Σ 1 / (k + rank)), for
//!   free-text search over everything: it needs no calibration between cosine
//!   similarities and BM25 sums, which makes it robust when the two probes see
//!   unrelated items.
//! - [`weighted`], each ranking's scores divided by its best (the best candidate scores
//!   1, one with 80 % of its score 0.8) and summed with weights, for ranking incidents by
//!   cause: there both probes score the same kind of text, and how far apart two
//!   candidates are matters, not only their order. RRF flattens a clear keyword win into
//!   a one-rank difference; on the evaluation sets the weighted sum picks the right
//!   incident first more often (docs/retrieval.md).
//!   [`favour`] then adds evidence that is not text (the alert's own alertname) as a
//!   bonus on that same scale, so it can be outweighed by a clearly better match.

use std::collections::HashMap;

use crate::pipeline::index::Hit;
use crate::pipeline::store::JobKind;

/// The usual RRF constant: damps the weight of the very top ranks.
pub const RRF_K: f32 = 60.0;

/// Which probe a ranking came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    Dense,
    Keyword,
}

/// One item of a fused ranking.
#[derive(Debug, Clone)]
pub struct Ranked {
    pub kind: JobKind,
    pub target_id: i64,
    /// The fused score (or the one probe's score), for ordering.
    pub score: f32,
    /// The item's best raw score in each probe that found it (cosine; BM25).
    pub dense: Option<f32>,
    pub keyword: Option<f32>,
    /// The chunk that ranked best for this item (for the snippet): its hit in the first
    /// ranking that found it.
    pub best: Hit,
    /// The texts the keyword probes matched, when they matched any (other chunks than
    /// `best`, or another field: an incident's cause and its notes), one per line: the
    /// explanation's shared words come from them.
    pub keyword_text: Option<String>,
}

/// The first hit of each item, in rank order.
fn per_item(hits: &[Hit]) -> Vec<&Hit> {
    let mut seen = std::collections::HashSet::new();
    hits.iter().filter(|h| seen.insert((h.payload.kind, h.payload.target_id))).collect()
}

fn unrecorded(h: &Hit, score: f32) -> Ranked {
    Ranked { kind: h.payload.kind, target_id: h.payload.target_id, score, dense: None, keyword: None, best: h.clone(), keyword_text: None }
}

fn ranked(h: &Hit, probe: Probe, score: f32) -> Ranked {
    let mut r = unrecorded(h, score);
    r.record(probe, h);
    r
}

impl Ranked {
    /// Notes one of the item's hits: its best score per probe, and every text a keyword
    /// probe matched.
    fn record(&mut self, probe: Probe, h: &Hit) {
        let best = |have: Option<f32>| Some(have.map_or(h.score, |s| s.max(h.score)));
        match probe {
            Probe::Dense => self.dense = best(self.dense),
            Probe::Keyword => {
                self.keyword = best(self.keyword);
                match &mut self.keyword_text {
                    None => self.keyword_text = Some(h.payload.text.clone()),
                    Some(t) if !t.split('\n').any(|line| line == h.payload.text) => {
                        t.push('\n');
                        t.push_str(&h.payload.text);
                    }
                    Some(_) => {}
                }
            }
        }
    }
}

/// One ranking alone: each item scored by its best chunk's own score.
pub fn single(hits: &[Hit], probe: Probe, k: usize) -> Vec<Ranked> {
    per_item(hits).into_iter().take(k).map(|h| ranked(h, probe, h.score)).collect()
}

/// Merges per-item contributions in first-seen order, then sorts by fused score (ties
/// keep the first ranking's order).
fn fuse(rankings: &[(&[Hit], Probe)], k: usize, contribution: impl Fn(usize, usize, &Hit) -> f32) -> Vec<Ranked> {
    let mut fused: HashMap<(JobKind, i64), (usize, Ranked)> = HashMap::new();
    for (which, (hits, probe)) in rankings.iter().enumerate() {
        for (rank, h) in per_item(hits).into_iter().enumerate() {
            let next = fused.len();
            let e = fused.entry((h.payload.kind, h.payload.target_id)).or_insert_with(|| (next, unrecorded(h, 0.0)));
            e.1.record(*probe, h);
            e.1.score += contribution(which, rank, h);
        }
    }
    let mut out: Vec<(usize, Ranked)> = fused.into_values().collect();
    out.sort_by(|(fa, a), (fb, b)| b.score.total_cmp(&a.score).then(fa.cmp(fb)));
    out.into_iter().map(|(_, r)| r).take(k).collect()
}

/// Several probes' hits for one ranking (the same probe under several filters) as one
/// list, best first: an item found by two of them keeps its best hit.
pub fn merged(lists: Vec<Vec<Hit>>) -> Vec<Hit> {
    let mut all: Vec<Hit> = lists.into_iter().flatten().collect();
    all.sort_by(|a, b| b.score.total_cmp(&a.score));
    all
}

/// Adds `bonus` to the fused score of every item `favoured` picks, then re-sorts (ties
/// keep the order they had) and keeps the best `k`.
pub fn favour(mut ranked: Vec<Ranked>, bonus: f32, favoured: impl Fn(&Ranked) -> bool, k: usize) -> Vec<Ranked> {
    for r in &mut ranked {
        if favoured(r) {
            r.score += bonus;
        }
    }
    // A stable sort: equal scores keep the fused order.
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
    ranked.truncate(k);
    ranked
}

/// Several rankings fused by RRF over items.
pub fn rrf(rankings: &[(&[Hit], Probe)], k: usize) -> Vec<Ranked> {
    fuse(rankings, k, |_, rank, _| 1.0 / (RRF_K + rank as f32 + 1.0))
}

/// Rankings fused by a weighted sum of scores scaled by each ranking's best: the best
/// item scores 1, the others their share of its score (a negative cosine 0); an item a
/// ranking did not find gets 0 there. `weights[i]` belongs to `rankings[i]`.
///
/// Not min-max: the worst candidate is whichever the probe fetched last, so its score
/// depends on how many were fetched (k, the corpus's size), and stretching it to 0 turns
/// a narrow spread of weak matches (a keyword probe whose every match is one common
/// word, cosines of 0.13 to 0.25) into the full range, as if the best of them were a
/// clear win. Divided by the best, five candidates that all match a little stay close
/// together and a probe that clearly prefers one still says so (docs/retrieval.md).
pub fn weighted(rankings: &[(&[Hit], Probe)], weights: &[f32], k: usize) -> Vec<Ranked> {
    let best: Vec<f32> =
        rankings.iter().map(|(hits, _)| per_item(hits).iter().map(|h| h.score).fold(f32::NEG_INFINITY, f32::max)).collect();
    fuse(rankings, k, |which, _, h| {
        let hi = best[which];
        let scaled = if hi > 0.0 { (h.score / hi).max(0.0) } else { 0.0 };
        weights.get(which).copied().unwrap_or(0.0) * scaled
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::index::{Field, PointPayload};

    fn hit(kind: JobKind, target: i64, chunk: u32, score: f32) -> Hit {
        Hit {
            id: crate::pipeline::index::point_id::point_id(kind, target, chunk),
            score,
            payload: PointPayload {
                kind,
                target_id: target,
                chunk,
                field: Field::Text,
                source: "t".into(),
                namespace: None,
                alertname: None,
                severity: None,
                time: 0,
                title: None,
                text: format!("{target}/{chunk}"),
                keyword_only: false,
            },
        }
    }

    #[test]
    fn items_appear_once_at_their_best_chunk() {
        let hits = [hit(JobKind::Document, 1, 3, 0.9), hit(JobKind::Document, 2, 0, 0.8), hit(JobKind::Document, 1, 0, 0.7)];
        let r = single(&hits, Probe::Dense, 10);
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].target_id, r[0].best.payload.chunk, r[0].score, r[0].dense), (1, 3, 0.9, Some(0.9)));
    }

    #[test]
    fn rrf_rewards_agreement() {
        let dense = [hit(JobKind::Incident, 1, 0, 0.9), hit(JobKind::Incident, 2, 0, 0.8), hit(JobKind::Incident, 3, 0, 0.7)];
        let keyword = [hit(JobKind::Incident, 2, 0, 12.0), hit(JobKind::Incident, 4, 0, 9.0)];
        let r = rrf(&[(&dense, Probe::Dense), (&keyword, Probe::Keyword)], 10);
        assert_eq!(r.iter().map(|r| r.target_id).collect::<Vec<_>>(), vec![2, 1, 4, 3]);
        assert!((r[0].score - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-6);
        assert_eq!((r[0].dense, r[0].keyword), (Some(0.8), Some(12.0)));
    }

    #[test]
    fn weighted_fusion_keeps_the_size_of_a_clear_win() {
        // Dense barely prefers 1; keyword strongly prefers 2: RRF would tie them, the
        // scaled sum picks 2.
        let dense = [hit(JobKind::Incident, 1, 1, 0.71), hit(JobKind::Incident, 2, 1, 0.70), hit(JobKind::Incident, 3, 1, 0.40)];
        let keyword = [hit(JobKind::Incident, 2, 1, 20.0), hit(JobKind::Incident, 1, 1, 2.0), hit(JobKind::Incident, 3, 1, 1.0)];
        let rankings = [(&dense[..], Probe::Dense), (&keyword[..], Probe::Keyword)];
        let r = weighted(&rankings, &[0.5, 0.5], 10);
        assert_eq!(r.iter().map(|r| r.target_id).collect::<Vec<_>>(), vec![2, 1, 3]);
        assert!((r[0].score - 0.5 * (0.70 / 0.71 + 1.0)).abs() < 1e-6, "each probe's best scores 1, the others their share");
        let rr = rrf(&rankings, 10);
        assert!((rr[0].score - rr[1].score).abs() < 1e-6, "RRF ties them");
    }

    #[test]
    fn weak_matches_stay_close_whatever_was_fetched_last() {
        // A keyword probe whose every match is one common word: min-max scaling made its
        // best a full point ahead of its last; divided by the best they stay within 0.3,
        // and a clear dense preference decides.
        let keyword = [hit(JobKind::Incident, 1, 1, 4.0), hit(JobKind::Incident, 2, 1, 3.5), hit(JobKind::Incident, 3, 1, 3.0)];
        let dense = [hit(JobKind::Incident, 3, 1, 0.6), hit(JobKind::Incident, 1, 1, 0.3), hit(JobKind::Incident, 2, 1, 0.3)];
        let r = weighted(&[(&dense[..], Probe::Dense), (&keyword[..], Probe::Keyword)], &[0.5, 0.5], 10);
        assert_eq!(r[0].target_id, 3);
        let deeper = [&keyword[..], &[hit(JobKind::Incident, 4, 1, 0.5)]].concat();
        let again = weighted(&[(&dense[..], Probe::Dense), (&deeper[..], Probe::Keyword)], &[0.5, 0.5], 10);
        assert!((r[0].score - again[0].score).abs() < 1e-6, "a deeper fetch changes no score");
    }

    #[test]
    fn a_bonus_lifts_a_close_second_but_not_a_distant_one() {
        let dense = [hit(JobKind::Incident, 1, 1, 0.9), hit(JobKind::Incident, 2, 1, 0.85), hit(JobKind::Incident, 3, 1, 0.2)];
        let r = weighted(&[(&dense[..], Probe::Dense)], &[1.0], 10);
        let own = |ids: &'static [i64]| move |r: &Ranked| ids.contains(&r.target_id);
        let lifted = favour(r.clone(), 0.2, own(&[2]), 10);
        assert_eq!(lifted.iter().map(|r| r.target_id).collect::<Vec<_>>(), vec![2, 1, 3]);
        let kept = favour(r, 0.2, own(&[3]), 2);
        assert_eq!(kept.iter().map(|r| r.target_id).collect::<Vec<_>>(), vec![1, 2], "0.0 + 0.2 stays below 0.93");
    }

    #[test]
    fn merged_lists_keep_each_items_best_hit_first() {
        let a = vec![hit(JobKind::Incident, 1, 1, 0.5), hit(JobKind::Incident, 2, 1, 0.4)];
        let b = vec![hit(JobKind::Incident, 2, 1, 0.4), hit(JobKind::Incident, 3, 1, 0.45)];
        let m = merged(vec![a, b]);
        assert_eq!(single(&m, Probe::Dense, 10).iter().map(|r| r.target_id).collect::<Vec<_>>(), vec![1, 3, 2]);
    }

    #[test]
    fn an_item_found_in_two_fields_keeps_its_best_scores_and_both_matched_texts() {
        let cause_kw = [hit(JobKind::Incident, 1, 1, 3.0)];
        let notes_kw = [hit(JobKind::Incident, 1, 2, 5.0)];
        let notes_dense = [hit(JobKind::Incident, 1, 2, 0.6)];
        let r = weighted(&[(&cause_kw[..], Probe::Keyword), (&notes_kw[..], Probe::Keyword), (&notes_dense[..], Probe::Dense)], &[0.25, 0.25, 0.5], 10);
        assert_eq!((r[0].keyword, r[0].dense), (Some(5.0), Some(0.6)));
        assert_eq!(r[0].keyword_text.as_deref(), Some("1/1\n1/2"));
        assert_eq!(r[0].best.payload.chunk, 1, "the first ranking's hit");
    }

    #[test]
    fn incidents_and_documents_with_the_same_row_id_are_different_items() {
        let a = [hit(JobKind::Incident, 1, 0, 0.9), hit(JobKind::Document, 1, 0, 0.8)];
        assert_eq!(rrf(&[(&a, Probe::Dense)], 10).len(), 2);
    }
}
