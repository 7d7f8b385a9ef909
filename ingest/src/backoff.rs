//! How long to wait before sending again. The gateway's `Retry-After` is obeyed, with up
//! to a fifth added at random so that many clients told the same time do not all return in
//! the same second; without one, waits double from 1 s to 60 s with full jitter.

use std::time::Duration;

/// Longest wait without the gateway's word for it.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// `retry_after` plus up to 20 % of it.
pub fn honour(retry_after: Duration) -> Duration {
    retry_after + retry_after.mul_f64(fastrand::f64() * 0.2)
}

/// The wait before try number `attempt` (0-based) when the gateway gave no hint: a random
/// time up to `min(60 s, 2^attempt s)`.
pub fn blind(attempt: u32) -> Duration {
    let cap = Duration::from_secs(1u64 << attempt.min(6)).min(MAX_WAIT);
    cap.mul_f64(fastrand::f64()).max(Duration::from_millis(100))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_stay_in_their_bounds() {
        for _ in 0..1000 {
            let w = honour(Duration::from_secs(10));
            assert!(w >= Duration::from_secs(10) && w <= Duration::from_secs(12));
            assert!(blind(0) <= Duration::from_secs(1));
            assert!(blind(30) <= MAX_WAIT);
        }
    }
}
