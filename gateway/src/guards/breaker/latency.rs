//! How long a dependency's calls normally take, and so how long is too long.
//!
//! A fixed slow-call threshold is wrong on every node but one: 15 s is forever for a GPU
//! that answers in 20 ms (a hung embedder would go unnoticed for minutes) and too short
//! for a batch of long chunks on one busy core. So the threshold follows what the
//! dependency has been measured to take: the p99 of its recent successful calls, per unit
//! of cost (an embedding batch costs its estimated tokens, so a big batch is allowed
//! more time than a small one), times a margin, between a floor and a ceiling (the
//! operator's flag). Until enough calls have been measured the threshold is the floor
//! (a call that hangs from the very start is still caught) while the call timeout stays
//! at its ceiling (a first large batch is never cut off before anything is known).

use std::collections::VecDeque;
use std::time::Duration;

/// Recent calls the p99 is taken over: a few minutes of normal traffic.
const WINDOW: usize = 128;
/// Calls measured before the thresholds follow them.
const MIN_SAMPLES: usize = 8;
/// A call slower than this many times the p99 counts as a fault…
pub const SLOW_FACTOR: f64 = 4.0;
/// …and one slower than this many times is abandoned (where the caller sets a timeout).
pub const TIMEOUT_FACTOR: f64 = 8.0;

/// The measured latency of one dependency.
#[derive(Debug, Clone, Default)]
pub struct Latency {
    /// Seconds per unit of cost, newest last.
    samples: VecDeque<f64>,
    /// p99 of `samples`, recomputed as they change.
    p99: Option<f64>,
}

impl Latency {
    /// Records a successful call of `cost` units that took `took`.
    pub fn record(&mut self, took: Duration, cost: f64) {
        if self.samples.len() == WINDOW {
            self.samples.pop_front();
        }
        self.samples.push_back(took.as_secs_f64() / cost.max(1.0));
        self.p99 = (self.samples.len() >= MIN_SAMPLES).then(|| {
            let mut v: Vec<f64> = self.samples.iter().copied().collect();
            v.sort_by(f64::total_cmp);
            v[((v.len() as f64 * 0.99).ceil() as usize).clamp(1, v.len()) - 1]
        });
    }

    /// p99 seconds per unit of cost, once enough calls were measured.
    pub fn p99(&self) -> Option<f64> {
        self.p99
    }

    /// When a call of `cost` counts as slow: `SLOW_FACTOR` × p99 × cost, within
    /// `[floor, ceiling]`; the floor until measured.
    pub fn slow_after(&self, cost: f64, floor: Duration, ceiling: Duration) -> Duration {
        let floor = floor.min(ceiling);
        match self.p99 {
            Some(p) => scaled(p * cost.max(1.0) * SLOW_FACTOR).clamp(floor, ceiling),
            None => floor,
        }
    }

    /// When to give up on a call of `cost`: `TIMEOUT_FACTOR` × p99 × cost, at least twice
    /// the floor, at most `ceiling`; the ceiling until measured.
    pub fn timeout_after(&self, cost: f64, floor: Duration, ceiling: Duration) -> Duration {
        match self.p99 {
            Some(p) => scaled(p * cost.max(1.0) * TIMEOUT_FACTOR).clamp((floor * 2).min(ceiling), ceiling),
            None => ceiling,
        }
    }
}

fn scaled(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn unmeasured_the_threshold_is_the_floor_and_the_timeout_the_ceiling() {
        let l = Latency::default();
        assert_eq!(l.slow_after(1000.0, 500 * MS, 15_000 * MS), 500 * MS);
        assert_eq!(l.timeout_after(1000.0, 500 * MS, 30_000 * MS), 30_000 * MS);
        assert_eq!(l.slow_after(1.0, 500 * MS, MS), MS, "the ceiling wins over the floor");
    }

    #[test]
    fn measured_thresholds_scale_with_cost_between_floor_and_ceiling() {
        let mut l = Latency::default();
        for _ in 0..20 {
            l.record(100 * MS, 100.0); // 1 ms per token
        }
        assert_eq!(l.slow_after(1000.0, 500 * MS, 15_000 * MS), 4000 * MS, "1000 tokens × 1 ms × 4");
        assert_eq!(l.slow_after(10.0, 500 * MS, 15_000 * MS), 500 * MS, "a tiny batch gets the floor");
        assert_eq!(l.slow_after(100_000.0, 500 * MS, 15_000 * MS), 15_000 * MS, "never past the flag");
        assert_eq!(l.timeout_after(1000.0, 500 * MS, 30_000 * MS), 8000 * MS);
        assert_eq!(l.timeout_after(1.0, 500 * MS, 30_000 * MS), 1000 * MS);
    }

    #[test]
    fn the_p99_forgets_old_calls_and_follows_a_slowdown() {
        let mut l = Latency::default();
        for _ in 0..WINDOW {
            l.record(MS, 1.0);
        }
        assert!((l.p99().unwrap() - 0.001).abs() < 1e-9);
        for _ in 0..WINDOW {
            l.record(10 * MS, 1.0);
        }
        assert!((l.p99().unwrap() - 0.010).abs() < 1e-9);
    }
}
