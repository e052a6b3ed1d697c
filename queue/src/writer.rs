//! The producer side: enqueue. Records are framed, written to the current
//! segment with one `write` per batch, and published to the consumer and the
//! read cache; a full segment rolls over to a new one.

use std::fs::File;
use std::io::Write;
use std::sync::Arc;

use crate::error::{PushError, QueueError};
use crate::record::{self, SEGMENT_HEADER};
use crate::state::{lock, Inner, SegMeta};
use crate::stats::Stats;

/// The enqueue side of a queue. Cheap to clone: every clone writes to the same
/// queue, from any thread. It cannot read: that is the [`crate::Consumer`]'s.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

/// The segment being written.
pub(crate) struct Writer {
    pub id: u64,
    pub file: Arc<File>,
    pub size: u64,
    pub next_seq: u64,
    pub buf: Vec<u8>,
    /// A failed write could not be rolled back: start a new segment first.
    pub broken: bool,
}

impl Writer {
    pub fn new(id: u64, file: File, next_seq: u64) -> Self {
        Writer { id, file: Arc::new(file), size: SEGMENT_HEADER, next_seq, buf: Vec::with_capacity(64 * 1024), broken: false }
    }
}

impl Producer {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Producer { inner }
    }

    /// The largest payload one record may carry.
    pub fn max_record(&self) -> usize {
        self.inner.max_record
    }

    /// Enqueues one message. `Ok` means it is written to the queue file and
    /// survives a `kill -9` of this process. Blocks at most the enqueue timeout.
    pub fn push(&self, payload: &[u8]) -> Result<(), PushError> {
        match self.push_batch(&[payload])? {
            1 => Ok(()),
            _ => Err(PushError::Full),
        }
    }

    /// Enqueues several messages with one write. Returns how many were accepted
    /// (a prefix of `payloads`); the rest were discarded because the disk cap
    /// stayed reached for the enqueue timeout, and are counted as such.
    /// Blocks at most the enqueue timeout.
    pub fn push_batch(&self, payloads: &[&[u8]]) -> Result<usize, PushError> {
        if let Some(big) = payloads.iter().find(|p| p.len() > self.inner.max_record) {
            return Err(PushError::TooLarge { len: big.len(), max: self.inner.max_record });
        }
        let (count, reservation) = self.inner.reserve(payloads)?;
        let outcome = self.inner.write(&payloads[..count], reservation);
        if count > 0 {
            self.inner.data.notify_one();
        }
        if count < payloads.len() {
            let (accepted, discarded) = (count, payloads.len() - count);
            let cap = self.inner.config.max_disk_bytes.unwrap_or(0);
            tracing::warn!(queue = %self.inner.config.name, accepted, discarded, cap, "queue full: disk cap reached for the whole enqueue timeout, messages discarded");
        }
        match outcome {
            Ok(()) if count == 0 => Err(PushError::Full),
            Ok(()) => Ok(count),
            Err(e) => Err(PushError::Io(e)),
        }
    }

    /// The queue's counters.
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// Forces what was written so far to stable storage now.
    pub fn sync(&self) -> Result<(), QueueError> {
        self.inner.sync_now()
    }
}

impl Inner {
    /// Appends records (space already reserved) and publishes them.
    fn write(&self, payloads: &[&[u8]], reservation: u64) -> Result<(), QueueError> {
        let mut w = lock(&self.writer);
        let result = self.write_locked(&mut w, payloads);
        let mut s = lock(&self.shared);
        s.reserved -= reservation;
        if result.is_err() {
            s.stats.write_errors += 1;
        }
        drop(s);
        self.space.notify_all();
        result
    }

    fn write_locked(&self, w: &mut Writer, payloads: &[&[u8]]) -> Result<(), QueueError> {
        if w.broken {
            self.roll(w)?;
        }
        let mut start = 0;
        while start < payloads.len() {
            // Take as many records as fit in the current segment (at least one
            // in an empty segment), write them with one call, publish them.
            w.buf.clear();
            let mut end = start;
            let mut size = w.size;
            while end < payloads.len() {
                let len = record::encoded_len(payloads[end].len());
                if size + len > self.settled.segment_bytes && (size > SEGMENT_HEADER || end > start) {
                    break;
                }
                record::encode(&mut w.buf, w.next_seq + (end - start) as u64, payloads[end]);
                size += len;
                end += 1;
            }
            if end == start {
                self.roll(w)?;
                continue;
            }
            if let Err(e) = (&*w.file).write_all(&w.buf) {
                // Undo a partial write so the segment stays a sequence of whole records.
                if w.file.set_len(w.size).is_err() {
                    w.broken = true;
                }
                return Err(QueueError::Io { action: "appending to queue segment", path: self.segment_path(w.id), source: e });
            }
            self.publish(w, &payloads[start..end], size);
            start = end;
        }
        Ok(())
    }

    /// Makes written records visible to the reader and the read cache.
    fn publish(&self, w: &mut Writer, payloads: &[&[u8]], new_size: u64) {
        let first = w.next_seq;
        let mut s = lock(&self.shared);
        let added = new_size - w.size;
        s.bytes += added;
        if let Some(meta) = s.segments.get_mut(&w.id) {
            meta.size = new_size;
            meta.first_seq.get_or_insert(first);
        }
        let mut end = w.size;
        for (i, payload) in payloads.iter().enumerate() {
            end += record::encoded_len(payload.len());
            s.cache.offer(first + i as u64, w.id, end, payload);
        }
        w.size = new_size;
        w.next_seq += payloads.len() as u64;
        s.tail_seq = w.next_seq;
        s.stats.enqueued += payloads.len() as u64;
        s.accept_times.accepted(first, std::time::SystemTime::now());
    }

    /// Closes the current segment and starts the next one.
    fn roll(&self, w: &mut Writer) -> Result<(), QueueError> {
        let id = w.id + 1;
        let file = crate::segment::create(&self.work_dir, &self.segment_name(id))?;
        let old = std::mem::replace(&mut w.file, Arc::new(file));
        w.id = id;
        w.size = SEGMENT_HEADER;
        w.broken = false;
        let mut s = lock(&self.shared);
        s.segments.insert(id, SegMeta { size: SEGMENT_HEADER, first_seq: None });
        s.write_seg = id;
        s.bytes += SEGMENT_HEADER;
        s.unsynced.push(old);
        s.dir_dirty = true;
        Ok(())
    }
}
