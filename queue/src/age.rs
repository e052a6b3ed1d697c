//! When records were accepted, so that the age of the oldest queued record
//! can be told (a backlog's age is what an admin watches during an outage)
//! without a timestamp in every record on disk.
//!
//! Samples `(first sequence number of a write, time)` are kept at most one
//! per [`SAMPLE_EVERY`]: a record was accepted no earlier than the sample at
//! or before its sequence number, and within [`SAMPLE_EVERY`] of it unless
//! the queue was idle in between; so the age is exact to about a second.
//! Samples of acknowledged records are dropped; when a long outage makes
//! [`MAX_SAMPLES`], every other one is dropped (coarser, still bounded).
//!
//! A backlog recovered at open has one sample: the time its oldest
//! segment was last written (a lower bound on its age).

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

/// At most one sample this often.
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// The most samples kept (16 bytes each).
pub(crate) const MAX_SAMPLES: usize = 65536;

#[derive(Debug, Default)]
pub(crate) struct AcceptTimes {
    samples: VecDeque<(u64, SystemTime)>,
    /// Grows when the samples are thinned.
    spacing: Duration,
}

impl AcceptTimes {
    pub fn new() -> Self {
        AcceptTimes { samples: VecDeque::new(), spacing: SAMPLE_EVERY }
    }

    /// Records from `first_seq` on were accepted at `now`.
    pub fn accepted(&mut self, first_seq: u64, now: SystemTime) {
        let due = self.samples.back().is_none_or(|(_, t)| now.duration_since(*t).unwrap_or_default() >= self.spacing);
        if !due {
            return;
        }
        self.samples.push_back((first_seq, now));
        if self.samples.len() > MAX_SAMPLES {
            // Keep the first (the oldest record's), drop every other one after.
            let mut i = 0;
            self.samples.retain(|_| {
                i += 1;
                i % 2 == 1
            });
            self.spacing *= 2;
        }
    }

    /// Records before `seq` are gone (acknowledged or dropped).
    pub fn forget_before(&mut self, seq: u64) {
        while self.samples.len() >= 2 && self.samples[1].0 <= seq {
            self.samples.pop_front();
        }
    }

    /// When the record `seq` (the oldest still queued) was accepted, at the earliest.
    pub fn accepted_at(&self, seq: u64) -> Option<SystemTime> {
        let at = self.samples.iter().take_while(|(s, _)| *s <= seq).last().or(self.samples.front());
        at.map(|(_, t)| *t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_queued_records_time_to_a_second() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut a = AcceptTimes::new();
        a.accepted(0, t0);
        a.accepted(10, t0 + Duration::from_millis(500)); // within the second: no sample
        a.accepted(20, t0 + Duration::from_secs(5));
        a.accepted(30, t0 + Duration::from_secs(60));
        assert_eq!(a.accepted_at(0), Some(t0));
        assert_eq!(a.accepted_at(15), Some(t0));
        assert_eq!(a.accepted_at(25), Some(t0 + Duration::from_secs(5)));
        a.forget_before(25);
        assert_eq!(a.accepted_at(25), Some(t0 + Duration::from_secs(5)));
        a.forget_before(30);
        assert_eq!(a.accepted_at(31), Some(t0 + Duration::from_secs(60)));
        assert_eq!(a.samples.len(), 1);
    }

    #[test]
    fn a_long_outage_keeps_the_samples_bounded_and_the_oldest() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut a = AcceptTimes::new();
        for i in 0..(3 * MAX_SAMPLES as u64) {
            a.accepted(i * 10, t0 + Duration::from_secs(i));
        }
        assert!(a.samples.len() <= MAX_SAMPLES);
        assert_eq!(a.accepted_at(0), Some(t0));
    }
}
