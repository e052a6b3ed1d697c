//! How long a suspended action waits before it tries the collector again.
//!
//! Each wait has a *ceiling* that grows with the failed attempts, by one of
//! two [`Schedule`]s, and is drawn uniformly between half the ceiling and the
//! ceiling ("equal jitter"). The lower half bounds how often one node tries
//! (a ceiling of 1 s means at most two attempts a second, even at the start
//! of an outage, when every node tries at once); the upper half spreads a
//! fleet that lost the collector at the same moment, so that it does not
//! come back together.

use std::time::Duration;

use rand::Rng;

/// rsyslog caps a growing resume interval at half an hour (`action.resumeIntervalMax`).
const RESUME_INTERVAL_MAX: Duration = Duration::from_secs(1800);

/// How the ceiling of the wait grows with the failed attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// Ours (`$ActionGSSForwardBackoffBase`/`…Max`): `base × 2^attempt`, up
    /// to `max`. The default, 1 s doubling to 3 s, keeps every node within
    /// 3 s of a returning collector however long the outage.
    Doubling { base: Duration, max: Duration },
    /// rsyslog's `$ActionResumeInterval N`: N, growing by N after every ten
    /// failed attempts (N × (attempt / 10 + 1)), up to half an hour.
    ResumeInterval(Duration),
}

impl Schedule {
    /// The default: 1 s doubling to 3 s.
    pub const DEFAULT: Schedule = Schedule::Doubling { base: Duration::from_secs(1), max: Duration::from_secs(3) };

    fn ceiling(self, attempt: u32) -> Duration {
        match self {
            Schedule::Doubling { base, max } => {
                let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
                base.saturating_mul(factor).min(max.max(base))
            }
            Schedule::ResumeInterval(interval) => interval.saturating_mul(attempt / 10 + 1).min(RESUME_INTERVAL_MAX.max(interval)),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Backoff {
    schedule: Schedule,
    attempt: u32,
}

impl Backoff {
    pub fn new(schedule: Schedule) -> Self {
        Backoff { schedule, attempt: 0 }
    }

    /// The ceiling of the next wait (for tests and logs).
    pub fn ceiling(&self) -> Duration {
        self.schedule.ceiling(self.attempt)
    }

    /// The next wait, from half the ceiling to the ceiling, and one step further up.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling().as_millis() as u64;
        self.attempt = self.attempt.saturating_add(1);
        Duration::from_millis(rand::thread_rng().gen_range(ceiling / 2..=ceiling))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doubling(base_ms: u64, max_ms: u64) -> Schedule {
        Schedule::Doubling { base: Duration::from_millis(base_ms), max: Duration::from_millis(max_ms) }
    }

    #[test]
    fn ceilings_double_up_to_the_max_and_waits_stay_in_the_upper_half() {
        let mut b = Backoff::new(doubling(1000, 60_000));
        let ceilings: Vec<u64> = (0..9)
            .map(|_| {
                let c = b.ceiling();
                let wait = b.next_delay();
                assert!(wait <= c && wait >= c / 2, "{wait:?} outside {c:?}/2..={c:?}");
                c.as_secs()
            })
            .collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_secs(1));
    }

    #[test]
    fn the_default_never_waits_more_than_3_s_nor_tries_more_than_twice_a_second() {
        let mut b = Backoff::new(Schedule::DEFAULT);
        let waits: Vec<Duration> = (0..1000).map(|_| b.next_delay()).collect();
        assert!(waits.iter().all(|w| *w >= Duration::from_millis(500)), "at most two attempts a second");
        assert!(waits.iter().all(|w| *w <= Duration::from_secs(3)), "back within 3 s of a returning collector");
    }

    #[test]
    fn the_resume_interval_grows_by_itself_every_ten_attempts_up_to_half_an_hour() {
        let mut b = Backoff::new(Schedule::ResumeInterval(Duration::from_secs(30)));
        let ceilings: Vec<u64> = (0..25).map(|_| {
            let c = b.ceiling();
            b.next_delay();
            c.as_secs()
        }).collect();
        assert_eq!(&ceilings[..10], &[30; 10]);
        assert_eq!(&ceilings[10..20], &[60; 10]);
        assert_eq!(&ceilings[20..], &[90; 5]);
        let mut long = Backoff::new(Schedule::ResumeInterval(Duration::from_secs(30)));
        for _ in 0..10_000 {
            long.next_delay();
        }
        assert_eq!(long.ceiling(), Duration::from_secs(1800), "rsyslog's cap");
    }

    #[test]
    fn jitter_spreads_waits_over_the_upper_half() {
        let mut b = Backoff::new(doubling(8000, 8000));
        let waits: Vec<u128> = (0..200).map(|_| b.next_delay().as_millis()).collect();
        let lower_quarter = waits.iter().filter(|w| **w < 5000).count();
        assert!(lower_quarter > 10 && lower_quarter < 90, "uniform over 4..8 s: {lower_quarter}/200 under 5 s");
    }
}
