//! How often something that may fail for a while is tried, and how long to
//! wait between tries: the one retry policy of paywire's Stripe calls, its
//! webhook inbox and the sandbox's webhook deliveries.
//!
//! It depends on nothing else in paywire, so that it can move to a crate of
//! its own; each user keeps its own defaults as a constant beside it.

use std::time::Duration;

/// Up to `attempts` tries, waiting `first_delay` after the first failure and
/// twice as long after each further one, never more than `max_delay`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Attempts in all, the first included.
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Backoff {
    /// The wait after failed attempt `after_attempt` (from 1): doubling,
    /// capped. The doubling stops at 2^16 and the product saturates, so no
    /// attempt count overflows.
    pub fn delay(&self, after_attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(after_attempt.saturating_sub(1).min(16));
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let backoff = Backoff {
            attempts: 10,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
        };
        let delays: Vec<u128> = (1..=6).map(|n| backoff.delay(n).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 500, 500, 500]);
        // The attempt before the first counts as the first, and huge counts
        // saturate at the cap rather than overflowing.
        assert_eq!(backoff.delay(0), Duration::from_millis(100));
        assert_eq!(backoff.delay(u32::MAX), Duration::from_millis(500));
        let uncapped = Backoff {
            max_delay: Duration::MAX,
            ..backoff
        };
        assert_eq!(uncapped.delay(u32::MAX), Duration::from_millis(100) * 65536);
    }
}
