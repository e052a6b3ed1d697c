//! The disk cap: space is reserved before a write and freed one whole
//! segment at a time, when the consumer has acknowledged all of it or when
//! drop-oldest discards it. The count is exact: segment files plus the
//! checkpoint.

use std::sync::MutexGuard;
use std::time::Instant;

use crate::checkpoint::Position;
use crate::config::FullPolicy;
use crate::error::PushError;
use crate::record::{self, SEGMENT_HEADER};
use crate::state::{lock, Inner, Shared};

impl Inner {
    /// Reserves disk space for a prefix of `payloads`, waiting up to the enqueue
    /// timeout for all of them; returns how many fit and the bytes reserved.
    /// The rest are counted as discarded.
    pub(crate) fn reserve(&self, payloads: &[&[u8]]) -> Result<(usize, u64), PushError> {
        let Some(cap) = self.config.max_disk_bytes else {
            return Ok((payloads.len(), 0));
        };
        // Room for the records plus the header of every segment they may open.
        let need = |n: usize| {
            let body: u64 = payloads[..n].iter().map(|p| record::encoded_len(p.len())).sum();
            body + SEGMENT_HEADER * (body / self.settled.segment_bytes + 2)
        };
        let all = need(payloads.len());
        let deadline = Instant::now() + self.config.enqueue_timeout;
        let mut s = lock(&self.shared);
        loop {
            if s.bytes + s.reserved + all <= cap {
                s.reserved += all;
                return Ok((payloads.len(), all));
            }
            if self.config.when_full == FullPolicy::DropOldest && self.drop_oldest_segment(&mut s) {
                continue;
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            s = self.space.wait_timeout(s, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
        let fits = (0..payloads.len()).rev().find(|&n| s.bytes + s.reserved + need(n) <= cap).unwrap_or(0);
        let reserved = if fits > 0 { need(fits) } else { 0 };
        s.reserved += reserved;
        s.stats.discarded_full += (payloads.len() - fits) as u64;
        // The "queue full" line is the writer's, once the prefix that fits is
        // on disk: logged here, it came before that write.
        Ok((fits, reserved))
    }

    /// Deletes the oldest segment other than the one being written, counting
    /// its unacknowledged records as discarded. False if there is none.
    fn drop_oldest_segment(&self, s: &mut Shared) -> bool {
        let Some((&victim, &meta)) = s.segments.iter().next().filter(|(id, _)| **id != s.write_seg) else {
            return false;
        };
        let (&next, next_meta) = match s.segments.range(victim + 1..).next() {
            Some(n) => n,
            None => return false,
        };
        let end_seq = next_meta.first_seq.unwrap_or(s.tail_seq);
        let start = meta.first_seq.unwrap_or(end_seq).max(s.acked_seq).max(s.floor.map_or(0, |f| f.seq));
        let lost = end_seq.saturating_sub(start);
        self.remove_segment(victim);
        s.segments.remove(&victim);
        s.bytes -= meta.size;
        s.dir_dirty = true;
        s.stats.discarded_full += lost;
        s.floor = Some(Position { segment: next, offset: SEGMENT_HEADER, seq: end_seq });
        s.cache.forget_before(end_seq);
        tracing::warn!(queue = %self.config.name, discarded = lost, "queue full: dropped the oldest segment");
        true
    }

    /// Deletes the segments before `acked` (all their records are
    /// acknowledged) and wakes enqueues waiting for space. Takes the shared
    /// lock the caller holds, and releases it.
    pub(crate) fn free_acknowledged(&self, mut s: MutexGuard<'_, Shared>, acked: Position) {
        let done: Vec<u64> = s.segments.range(..acked.segment).map(|(id, _)| *id).collect();
        for id in &done {
            if let Some(meta) = s.segments.remove(id) {
                self.remove_segment(*id);
                s.bytes -= meta.size;
                s.dir_dirty = true;
            }
        }
        drop(s);
        if !done.is_empty() {
            self.space.notify_all();
        }
    }
}
