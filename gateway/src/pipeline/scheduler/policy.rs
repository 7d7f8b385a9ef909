//! Which class gets the next batch, as a pure function so it can be tested exhaustively.

use std::time::Duration;

use crate::pipeline::embedding::Class;

/// Scheduler limits; each has a `FIREBREAK_*` flag in the binary.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerConfig {
    /// Batches in flight at once (`--embed-concurrency`). The embedder runs one batch at a
    /// time per device; 1–2 keeps it busy without queueing inside it.
    pub concurrency: usize,
    /// Texts per batch.
    pub max_batch_texts: usize,
    /// Texts allowed to wait per class: interactive, alert, bulk.
    pub capacity: [usize; 3],
    /// Bulk gets at least one batch in this many…
    pub bulk_every: u32,
    /// …unless a higher class has waited longer than this.
    pub max_priority_wait: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            concurrency: 1,
            max_batch_texts: 32,
            capacity: [256, 4096, 4096],
            bulk_every: 4,
            max_priority_wait: Duration::from_secs(2),
        }
    }
}

impl SchedulerConfig {
    pub fn capacity(&self, c: Class) -> usize {
        self.capacity[c as usize]
    }
}

/// The class of the next batch, given how long the oldest text of each class has waited
/// (`None`: empty) and how many batches went by since bulk last ran.
pub fn pick_class(cfg: &SchedulerConfig, oldest: [Option<Duration>; 3], since_bulk: u32) -> Option<Class> {
    let [interactive, alert, bulk] = oldest;
    let higher_overdue = [interactive, alert].iter().flatten().any(|w| *w > cfg.max_priority_wait);
    if bulk.is_some() && since_bulk + 1 >= cfg.bulk_every && !higher_overdue {
        return Some(Class::Bulk);
    }
    Class::ALL.into_iter().find(|c| oldest[*c as usize].is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_millis(10);
    const LATE: Duration = Duration::from_secs(10);

    fn cfg() -> SchedulerConfig {
        SchedulerConfig { bulk_every: 4, ..Default::default() }
    }

    #[test]
    fn highest_class_first() {
        assert_eq!(pick_class(&cfg(), [Some(S), Some(S), Some(S)], 0), Some(Class::Interactive));
        assert_eq!(pick_class(&cfg(), [None, Some(S), Some(S)], 0), Some(Class::Alert));
        assert_eq!(pick_class(&cfg(), [None, None, Some(S)], 0), Some(Class::Bulk));
        assert_eq!(pick_class(&cfg(), [None, None, None], 9), None);
    }

    #[test]
    fn bulk_gets_its_share_when_nothing_higher_is_late() {
        assert_eq!(pick_class(&cfg(), [Some(S), Some(S), Some(S)], 3), Some(Class::Bulk));
        assert_eq!(pick_class(&cfg(), [None, Some(S), Some(S)], 2), Some(Class::Alert));
    }

    #[test]
    fn bulk_share_yields_to_an_overdue_higher_class() {
        assert_eq!(pick_class(&cfg(), [Some(LATE), None, Some(S)], 3), Some(Class::Interactive));
        assert_eq!(pick_class(&cfg(), [None, Some(LATE), Some(S)], 50), Some(Class::Alert));
    }

    #[test]
    fn share_of_one_in_four_over_a_long_run() {
        let mut since = 0;
        let mut bulk = 0;
        for _ in 0..100 {
            let c = pick_class(&cfg(), [Some(S), Some(S), Some(S)], since).unwrap();
            since = if c == Class::Bulk { bulk += 1; 0 } else { since + 1 };
        }
        assert_eq!(bulk, 25);
    }
}
