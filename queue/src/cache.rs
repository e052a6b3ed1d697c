//! The read cache: recently accepted records kept in memory, so that a
//! consumer that keeps up never reads the disk. Every cached record is on disk
//! as well; the cache only saves the read.
//!
//! It takes records until it holds the high watermark, then none until the
//! consumer has brought it down to the low watermark
//! (`$ActionQueueHighWatermark` / `$ActionQueueLowWatermark`).

use std::collections::VecDeque;

use bytes::Bytes;

/// A cached record and where it ends on disk (for the consumer's position).
pub(crate) struct Cached {
    pub seq: u64,
    pub segment: u64,
    pub end: u64,
    pub payload: Bytes,
}

pub(crate) struct ReadCache {
    entries: VecDeque<Cached>,
    taking: bool,
    high: usize,
    low: usize,
}

impl ReadCache {
    pub fn new(high: usize, low: usize) -> Self {
        ReadCache { entries: VecDeque::new(), taking: true, high, low }
    }

    /// Offers a record just written; kept unless the cache is at its high mark.
    pub fn offer(&mut self, seq: u64, segment: u64, end: u64, payload: &[u8]) {
        if self.taking && self.entries.len() >= self.high {
            self.taking = false;
        }
        if self.taking {
            self.entries.push_back(Cached { seq, segment, end, payload: Bytes::copy_from_slice(payload) });
        }
    }

    /// The record `seq` if it is cached; records before it are dropped (they
    /// were handed out already).
    pub fn take(&mut self, seq: u64) -> Option<Cached> {
        while self.entries.front().is_some_and(|c| c.seq < seq) {
            self.entries.pop_front();
        }
        let hit = if self.entries.front().is_some_and(|c| c.seq == seq) { self.entries.pop_front() } else { None };
        if !self.taking && self.entries.len() <= self.low {
            self.taking = true;
        }
        hit
    }

    /// Forgets every record before `seq` (drop-oldest discarded them).
    pub fn forget_before(&mut self, seq: u64) {
        self.entries.retain(|c| c.seq >= seq);
    }
}
