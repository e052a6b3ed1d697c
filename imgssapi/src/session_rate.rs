//! A session's rate limit (`$InputGSSServerRateLimitInterval`,
//! `$InputGSSServerRateLimitBurst`, rsyslog's `ratelimit.interval` and
//! `ratelimit.burst`), as a state machine without I/O: at most `burst`
//! messages in each interval, counted from the first message of the interval.
//!
//! rsyslog drops what is over the limit; here the session stops reading
//! until the next interval instead, so TCP slows the sender and its queue
//! keeps the messages: nothing authenticated is thrown away.

use std::time::Duration;

use tokio::time::Instant;

/// A session's rate limit, rsyslog's `ratelimit.interval` and
/// `ratelimit.burst`: at most `burst` messages in each `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// `None`: no limit (rsyslog's 0, its default).
    pub interval: Option<Duration>,
    pub burst: u64,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings { interval: None, burst: 10_000 }
    }
}

const LONGEST_INTERVAL: Duration = Duration::from_secs(86_400);
/// A chunk holds at most about 100,000 messages: a burst of 1 waits no more
/// intervals than that.
const MOST_INTERVALS_AHEAD: u64 = 100_000;

pub struct SessionRate {
    interval: Duration,
    burst: u64,
    window_start: Option<Instant>,
    in_window: u64,
}

impl SessionRate {
    /// `None` when the limit is off.
    pub fn new(settings: &RateLimitSettings) -> Option<SessionRate> {
        // Longer than a day means nothing more, and keeps the arithmetic
        // on instants far from overflowing.
        let interval = settings.interval?.min(LONGEST_INTERVAL);
        Some(SessionRate { interval, burst: settings.burst.max(1), window_start: None, in_window: 0 })
    }

    /// Counts `messages` received at `now`; when the interval's burst is
    /// used up, the instant the session may read again.
    pub fn received(&mut self, messages: u64, now: Instant) -> Option<Instant> {
        let start = match self.window_start {
            Some(start) if now < start + self.interval => start,
            _ => {
                self.window_start = Some(now);
                self.in_window = 0;
                now
            }
        };
        self.in_window = self.in_window.saturating_add(messages);
        if self.in_window < self.burst {
            return None;
        }
        // The next interval starts when this one ends, with what was over
        // the burst counted in it.
        let next = start + self.interval;
        self.window_start = Some(next);
        self.in_window -= self.burst;
        // A chunk far over the burst waits one interval per burst it holds.
        let extra = (self.in_window / self.burst).min(MOST_INTERVALS_AHEAD);
        if extra > 0 {
            self.window_start = Some(next + self.interval * u32::try_from(extra).unwrap_or(u32::MAX));
            self.in_window %= self.burst;
        }
        self.window_start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(interval_secs: u64, burst: u64) -> SessionRate {
        SessionRate::new(&RateLimitSettings { interval: Some(Duration::from_secs(interval_secs)), burst }).unwrap()
    }

    #[test]
    fn off_without_an_interval() {
        assert!(SessionRate::new(&RateLimitSettings { interval: None, burst: 5 }).is_none());
    }

    #[test]
    fn the_burst_passes_then_the_session_waits_for_the_next_interval() {
        let t0 = Instant::now();
        let mut r = limit(10, 100);
        assert_eq!(r.received(60, t0), None);
        assert_eq!(r.received(39, t0 + Duration::from_secs(1)), None);
        assert_eq!(r.received(1, t0 + Duration::from_secs(2)), Some(t0 + Duration::from_secs(10)), "the 100th waits");
        // In the next interval the count starts again.
        assert_eq!(r.received(99, t0 + Duration::from_secs(10)), None);
    }

    #[test]
    fn a_new_interval_starts_after_a_quiet_spell() {
        let t0 = Instant::now();
        let mut r = limit(10, 100);
        assert_eq!(r.received(99, t0), None);
        assert_eq!(r.received(99, t0 + Duration::from_secs(30)), None);
    }

    #[test]
    fn absurd_settings_do_not_overflow() {
        let t0 = Instant::now();
        let mut r = SessionRate::new(&RateLimitSettings { interval: Some(Duration::from_secs(u64::MAX)), burst: 1 }).unwrap();
        assert!(r.received(u64::MAX / 2, t0).is_some());
    }

    #[test]
    fn a_chunk_of_many_bursts_waits_an_interval_per_burst() {
        let t0 = Instant::now();
        let mut r = limit(1, 100);
        assert_eq!(r.received(350, t0), Some(t0 + Duration::from_secs(3)));
        assert_eq!(r.received(49, t0 + Duration::from_secs(3)), None, "50 of the next burst were used");
        assert_eq!(r.received(1, t0 + Duration::from_secs(3)), Some(t0 + Duration::from_secs(4)));
    }
}
