//! Log lines for refusals, at most one per key per interval: a guard that refuses ten
//! thousand requests a second must say so in the log (a limit must never be silent), but
//! in one line a minute with a count, not ten thousand lines. Metrics carry exact counts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys seen at most once per interval; the rest are counted until the next line.
pub struct Throttle {
    every: Duration,
    seen: Mutex<HashMap<String, (Instant, u64)>>,
}

impl Throttle {
    pub fn new(every: Duration) -> Self {
        Throttle { every, seen: Mutex::new(HashMap::new()) }
    }

    /// `Some(n)` when a line for `key` is due now, `n` being the refusals left unlogged
    /// since the last line; `None` when it is not due (this one is counted).
    pub fn due(&self, key: &str) -> Option<u64> {
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match seen.get_mut(key) {
            Some((last, skipped)) if now.duration_since(*last) < self.every => {
                *skipped += 1;
                None
            }
            Some((last, skipped)) => {
                *last = now;
                Some(std::mem::take(skipped))
            }
            None => {
                // Keys are sources and route classes (bounded by the token table), but a
                // table of them must still never grow without end.
                if seen.len() >= 4096 {
                    seen.clear();
                }
                seen.insert(key.to_owned(), (now, 0));
                Some(0)
            }
        }
    }
}

impl Default for Throttle {
    /// One line a minute per key.
    fn default() -> Self {
        Throttle::new(Duration::from_secs(60))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Throttle;

    #[test]
    fn one_line_per_interval_with_the_count_of_the_rest() {
        let t = Throttle::new(Duration::from_millis(50));
        assert_eq!(t.due("a"), Some(0));
        assert_eq!(t.due("a"), None);
        assert_eq!(t.due("a"), None);
        assert_eq!(t.due("b"), Some(0), "keys are independent");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(t.due("a"), Some(2));
    }
}
