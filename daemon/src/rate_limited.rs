//! Events that may come by the thousand a second (a sender's every message,
//! a reconnect attempt that fails again), counted exactly and logged at most
//! once per interval, so that nothing is lost silently and the log is not
//! flooded either.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A count of events, with a report due for the first and then at most one per interval.
pub struct RateLimitedCount {
    interval: Duration,
    total: AtomicU64,
    /// Events since the last report, and when that report was.
    pending: Mutex<(u64, Option<Instant>)>,
}

/// What to log: events since the last report, and since the start.
#[derive(Debug, PartialEq, Eq)]
pub struct Report {
    /// Events since the last report (this one included).
    pub since_last: u64,
    /// Events since the start.
    pub total: u64,
}

impl RateLimitedCount {
    /// A count that reports at most once per `interval`.
    pub const fn new(interval: Duration) -> Self {
        RateLimitedCount { interval, total: AtomicU64::new(0), pending: Mutex::new((0, None)) }
    }

    /// Counts `n` events at `now`; returns a report when one is due: the first
    /// event, and then at most one per interval, carrying the events since.
    pub fn add(&self, n: u64, now: Instant) -> Option<Report> {
        if n == 0 {
            return None;
        }
        let total = self.total.fetch_add(n, Ordering::Relaxed) + n;
        let mut pending = self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        pending.0 += n;
        let due = pending.1.is_none_or(|last| now.saturating_duration_since(last) >= self.interval);
        if !due {
            return None;
        }
        let since_last = std::mem::take(&mut pending.0);
        pending.1 = Some(now);
        Some(Report { since_last, total })
    }

    /// Events since the start.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_event_is_reported_then_at_most_one_report_per_interval() {
        let count = RateLimitedCount::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(count.add(1, t0), Some(Report { since_last: 1, total: 1 }));
        assert_eq!(count.add(5, t0 + Duration::from_secs(1)), None);
        assert_eq!(count.add(0, t0 + Duration::from_secs(11)), None, "nothing new, nothing to say");
        assert_eq!(count.add(2, t0 + Duration::from_secs(9)), None);
        assert_eq!(count.add(1, t0 + Duration::from_secs(10)), Some(Report { since_last: 8, total: 9 }));
        assert_eq!(count.add(1, t0 + Duration::from_secs(12)), None);
        assert_eq!(count.total(), 10);
    }
}
