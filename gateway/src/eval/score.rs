//! The figures: where the expected incident ranked, per query and mode, and top-1, top-3
//! and mean reciprocal rank per mode. An incident not among the results counts as rank
//! ∞ (reciprocal 0).

use serde::Serialize;

/// One query's outcome in one mode.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// 1-based; `None` when the expected incident was not returned at all.
    pub rank: Option<usize>,
    /// The set's key of the first result, for the per-query table.
    pub first: Option<String>,
    /// The first result's relevance (0–1), whoever it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relevance: Option<f64>,
    /// Why the gateway answered in keyword mode or without the store, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub degraded: Option<String>,
}

/// The summary of one mode.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Figures {
    pub top1: f64,
    pub top3: f64,
    pub mrr: f64,
}

impl Figures {
    pub fn of(outcomes: &[Outcome]) -> Figures {
        let n = outcomes.len().max(1) as f64;
        let within = |k: usize| outcomes.iter().filter(|o| o.rank.is_some_and(|r| r <= k)).count() as f64 / n;
        let mrr = outcomes.iter().map(|o| o.rank.map_or(0.0, |r| 1.0 / r as f64)).sum::<f64>() / n;
        Figures { top1: within(1), top3: within(3), mrr }
    }
}

/// The median and range of the first result's relevance over `outcomes`, split by whether
/// that first result was the right one: what "no good match" should look like, measured.
pub fn relevance_split(outcomes: &[&Outcome]) -> [Option<(f64, f64, f64)>; 2] {
    let summary = |right: bool| {
        let mut v: Vec<f64> = outcomes.iter().filter(|o| (o.rank == Some(1)) == right).filter_map(|o| o.relevance).collect();
        v.sort_by(f64::total_cmp);
        (!v.is_empty()).then(|| (v[v.len() / 2], v[0], v[v.len() - 1]))
    };
    [summary(true), summary(false)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_counts_as_zero() {
        let o = |rank| Outcome { rank, first: None, relevance: None, degraded: None };
        let f = Figures::of(&[o(Some(1)), o(Some(2)), o(Some(4)), o(None)]);
        assert_eq!(f.top1, 0.25);
        assert_eq!(f.top3, 0.5);
        assert!((f.mrr - (1.0 + 0.5 + 0.25) / 4.0).abs() < 1e-12);
    }
}
