//! Exponential backoff with full jitter: each wait is drawn uniformly from
//! zero to min(max, base × 2^attempt), so 700 nodes that lost the collector at
//! the same moment spread their reconnects instead of arriving together.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff { base, max: max.max(base), attempt: 0 }
    }

    /// The ceiling of the next wait (for tests and logs).
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The next wait, and one step further up.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let ms = ceiling.as_millis() as u64;
        Duration::from_millis(rand::thread_rng().gen_range(0..=ms))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_up_to_the_max_and_waits_stay_below() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let ceilings: Vec<u64> = (0..9)
            .map(|_| {
                let c = b.ceiling();
                assert!(b.next_delay() <= c);
                c.as_secs()
            })
            .collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_secs(1));
    }

    #[test]
    fn full_jitter_spreads_waits() {
        let mut b = Backoff::new(Duration::from_secs(8), Duration::from_secs(8));
        let waits: Vec<u128> = (0..200).map(|_| b.next_delay().as_millis()).collect();
        let below_a_second = waits.iter().filter(|w| **w < 1000).count();
        assert!(below_a_second > 5 && below_a_second < 60, "uniform over 0..8 s: {below_a_second}/200 under 1 s");
    }
}
