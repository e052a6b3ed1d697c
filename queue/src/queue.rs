//! The queue: one writer side (enqueue), one reader side (hand out batches,
//! acknowledge, rewind), and the shared bookkeeping between them.
//!
//! Locks: `writer` and `reader` are never held together; either may take
//! `shared` while holding it, never the other way round.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, File};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::checkpoint::{Checkpoint, Position, CHECKPOINT_BYTES};
use crate::config::{FullPolicy, QueueConfig, Settled};
use crate::error::{PushError, QueueError};
use crate::record::{self, RecordHeader, MAX_PLAUSIBLE, RECORD_HEADER, SEGMENT_HEADER};
use crate::segment;

/// One queued message, as handed to the consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Sequence number: strictly increasing in the order messages were accepted.
    pub seq: u64,
    pub payload: Bytes,
}

/// Counters for the daemons to expose.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub enqueued: u64,
    pub dequeued: u64,
    pub acknowledged: u64,
    /// Messages discarded because the disk cap stayed reached (either policy).
    pub discarded_full: u64,
    /// Records skipped on read because their checksum failed or they were unreadable.
    pub corrupt_skipped: u64,
    /// Enqueues that failed on a write error (disk full, I/O error).
    pub write_errors: u64,
    /// Exact bytes of the queue's files (segments and checkpoint).
    pub bytes_on_disk: u64,
    /// Messages accepted and not yet acknowledged.
    pub queued: u64,
}

/// A crash-safe, disk-capped FIFO. Cheap to clone: clones share one queue.
#[derive(Clone)]
pub struct Queue {
    inner: Arc<Inner>,
}

struct Inner {
    config: QueueConfig,
    settled: Settled,
    max_record: usize,
    writer: Mutex<Writer>,
    reader: Mutex<Reader>,
    shared: Mutex<Shared>,
    /// Signalled when segments are deleted (space freed).
    space: Condvar,
    /// Signalled when records are accepted.
    data: tokio::sync::Notify,
    syncer: Arc<SyncControl>,
    checkpoint_file: File,
    _lock: File,
}

struct Writer {
    id: u64,
    file: Arc<File>,
    size: u64,
    next_seq: u64,
    buf: Vec<u8>,
    /// A failed write could not be rolled back: start a new segment first.
    broken: bool,
}

struct Reader {
    /// Next record to hand out.
    pos: Position,
    /// Next record not yet acknowledged.
    acked: Position,
    /// Handed out, not yet acknowledged: (seq, segment, end offset).
    inflight: VecDeque<(u64, u64, u64)>,
    file: Option<OpenSegment>,
    checkpoint: Checkpoint,
}

struct OpenSegment {
    id: u64,
    /// For error messages; built once, when the segment is opened.
    path: PathBuf,
    reader: BufReader<File>,
    offset: u64,
}

#[derive(Debug, Clone, Copy)]
struct SegMeta {
    size: u64,
    first_seq: Option<u64>,
}

struct Shared {
    segments: BTreeMap<u64, SegMeta>,
    bytes: u64,
    reserved: u64,
    write_seg: u64,
    tail_seq: u64,
    acked_seq: u64,
    /// Set by drop-oldest: nothing before this position exists any more.
    floor: Option<Position>,
    cache: VecDeque<Cached>,
    caching: bool,
    stats: Stats,
    unsynced: Vec<Arc<File>>,
    dir_dirty: bool,
}

struct Cached {
    seq: u64,
    segment: u64,
    end: u64,
    payload: Bytes,
}

struct SyncControl {
    stop: Mutex<bool>,
    wake: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a queue lock leaves consistent on-disk state (the
    // segments are the truth), so carrying on is safe.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Queue {
    /// Opens the queue in `config.dir`, recovering whatever an earlier run left:
    /// a torn last record is cut off, unreadable segments are moved aside, and
    /// the checkpoint tells where delivery resumes. It always starts unless the
    /// directory itself is unusable or another process holds the queue.
    pub fn open(config: QueueConfig) -> Result<Queue, QueueError> {
        let settled = config.validate()?;
        let dir = config.dir.clone();
        let prefix = config.name.clone();
        fs::create_dir_all(&dir).map_err(QueueError::io("creating queue directory", &dir))?;
        let lock_path = dir.join(format!("{prefix}.lock"));
        let lock_file = File::create(&lock_path).map_err(QueueError::io("creating lock file", &lock_path))?;
        if lock_file.try_lock().is_err() {
            return Err(QueueError::Locked { path: lock_path });
        }
        let max_record = (settled.segment_bytes - SEGMENT_HEADER) as usize - RECORD_HEADER;

        let ckpt_path = dir.join(format!("{prefix}.ckpt"));
        let (checkpoint, stored) = Checkpoint::open(&ckpt_path)?;
        let checkpoint_file = File::open(&ckpt_path).map_err(QueueError::io("opening checkpoint", &ckpt_path))?;

        let (mut segments, scanned_tail) = recover_segments(&config, max_record)?;
        // Segments before the checkpoint's were fully acknowledged; a crash came
        // between writing the checkpoint and deleting them.
        if let Some(ck) = stored {
            let done: Vec<u64> = segments.range(..ck.segment).map(|(id, _)| *id).collect();
            for id in done {
                remove_segment(&config, id);
                segments.remove(&id);
            }
        }
        let last_id = segments.keys().next_back().copied();
        // Never reuse a sequence number the checkpoint has seen acknowledged.
        let tail_seq = scanned_tail.max(stored.map_or(0, |c| c.seq));
        let write_id = last_id.max(stored.map(|c| c.segment)).map_or(1, |id| id + 1);
        let file = segment::create(&segment::segment_path(&dir, &prefix, write_id))?;
        segments.insert(write_id, SegMeta { size: SEGMENT_HEADER, first_seq: None });

        let acked = match stored {
            Some(ck) if segments.contains_key(&ck.segment) => {
                let size = segments[&ck.segment].size;
                Position { offset: ck.offset.min(size), ..ck }
            }
            _ => {
                let (id, meta) = segments.iter().next().map(|(i, m)| (*i, *m)).unwrap_or((write_id, segments[&write_id]));
                let seq = meta.first_seq.unwrap_or(tail_seq).max(stored.map_or(0, |c| c.seq));
                Position { segment: id, offset: SEGMENT_HEADER, seq }
            }
        };
        let bytes = segments.values().map(|m| m.size).sum::<u64>() + CHECKPOINT_BYTES;
        let queued = tail_seq.saturating_sub(acked.seq);
        if queued > 0 {
            tracing::info!(queue = %prefix, queued, bytes, "queue recovered a backlog");
        }

        let inner = Arc::new(Inner {
            settled,
            max_record,
            writer: Mutex::new(Writer {
                id: write_id,
                file: Arc::new(file),
                size: SEGMENT_HEADER,
                next_seq: tail_seq,
                buf: Vec::with_capacity(64 * 1024),
                broken: false,
            }),
            reader: Mutex::new(Reader { pos: acked, acked, inflight: VecDeque::new(), file: None, checkpoint }),
            shared: Mutex::new(Shared {
                segments,
                bytes,
                reserved: 0,
                write_seg: write_id,
                tail_seq,
                acked_seq: acked.seq,
                floor: None,
                cache: VecDeque::new(),
                caching: true,
                stats: Stats { bytes_on_disk: bytes, queued, ..Stats::default() },
                unsynced: Vec::new(),
                dir_dirty: true,
            }),
            space: Condvar::new(),
            data: tokio::sync::Notify::new(),
            syncer: Arc::new(SyncControl { stop: Mutex::new(false), wake: Condvar::new() }),
            checkpoint_file,
            _lock: lock_file,
            config,
        });
        if let Some(interval) = inner.config.fsync_interval {
            start_syncer(Arc::downgrade(&inner), inner.syncer.clone(), interval)?;
        }
        Ok(Queue { inner })
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
        match outcome {
            Ok(()) if count == 0 => Err(PushError::Full),
            Ok(()) => Ok(count),
            Err(e) => Err(PushError::Io(e)),
        }
    }

    /// Hands out up to `max_records` (and about `max_bytes`) records in order,
    /// without waiting; empty when nothing is pending. Records stay queued
    /// until [`Queue::ack`]; [`Queue::rewind`] hands them out again.
    pub fn pop_batch(&self, max_records: usize, max_bytes: usize) -> Result<Vec<Record>, QueueError> {
        self.inner.pop_batch(max_records, max_bytes)
    }

    /// Waits until a record is there to hand out. Cancellation-safe: it takes
    /// nothing from the queue, so it can stand in a `select!`.
    pub async fn wait_for_data(&self) {
        loop {
            let notified = self.inner.data.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.has_pending() {
                return;
            }
            notified.await;
        }
    }

    fn has_pending(&self) -> bool {
        let pos = lock(&self.inner.reader).pos.seq;
        let s = lock(&self.inner.shared);
        pos.max(s.floor.map_or(0, |f| f.seq)) < s.tail_seq
    }

    /// Like [`Queue::pop_batch`], but waits until at least one record is there.
    /// Disk reads run on tokio's blocking pool.
    ///
    /// Not cancellation-safe: dropped while the pop runs, the records it took
    /// count as handed out (until [`Queue::rewind`]). In a `select!`, wait with
    /// [`Queue::wait_for_data`] instead and call this after.
    pub async fn next_batch(&self, max_records: usize, max_bytes: usize) -> Result<Vec<Record>, QueueError> {
        loop {
            let notified = self.inner.data.notified();
            let queue = self.clone();
            let batch = tokio::task::spawn_blocking(move || queue.pop_batch(max_records, max_bytes))
                .await
                .map_err(|e| QueueError::Config(format!("queue reader task failed: {e}")))??;
            if !batch.is_empty() {
                return Ok(batch);
            }
            notified.await;
        }
    }

    /// Acknowledges every handed-out record up to and including `seq`: they
    /// will not be delivered again, even after a crash. Segments whose records
    /// are all acknowledged are deleted.
    pub fn ack(&self, seq: u64) -> Result<(), QueueError> {
        self.inner.ack(seq)
    }

    /// Forgets what was handed out and not acknowledged, so the next batch
    /// starts again at the oldest unacknowledged record (after a failed send).
    pub fn rewind(&self) {
        let mut reader = lock(&self.inner.reader);
        reader.pos = reader.acked;
        reader.inflight.clear();
    }

    pub fn stats(&self) -> Stats {
        let s = lock(&self.inner.shared);
        let mut stats = s.stats.clone();
        stats.bytes_on_disk = s.bytes;
        let start = s.floor.map_or(s.acked_seq, |f| f.seq.max(s.acked_seq));
        stats.queued = s.tail_seq.saturating_sub(start);
        stats
    }

    /// Forces what was written so far to stable storage now.
    pub fn sync(&self) -> Result<(), QueueError> {
        self.inner.sync_now()
    }

    /// Orderly stop: syncs everything; with `save_on_shutdown` off, deletes
    /// the queued messages instead (rsyslog's `$ActionQueueSaveOnShutdown off`).
    pub fn close(self) -> Result<(), QueueError> {
        self.inner.stop_syncer();
        if self.inner.config.save_on_shutdown {
            return self.inner.sync_now();
        }
        let ids: Vec<u64> = lock(&self.inner.shared).segments.keys().copied().collect();
        for id in ids {
            remove_segment(&self.inner.config, id);
        }
        let ckpt = self.inner.config.dir.join(format!("{}.ckpt", self.inner.config.name));
        fs::remove_file(&ckpt).map_err(QueueError::io("removing checkpoint", ckpt))
    }
}

impl Inner {
    /// Reserves disk space for a prefix of `payloads`, waiting up to the enqueue
    /// timeout for all of them; returns how many fit and the bytes reserved.
    fn reserve(&self, payloads: &[&[u8]]) -> Result<(usize, u64), PushError> {
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
        let discarded = (payloads.len() - fits) as u64;
        s.stats.discarded_full += discarded;
        tracing::warn!(queue = %self.config.name, discarded, cap, "queue full: disk cap reached for the whole enqueue timeout, messages discarded");
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
        remove_segment(&self.config, victim);
        s.segments.remove(&victim);
        s.bytes -= meta.size;
        s.dir_dirty = true;
        s.stats.discarded_full += lost;
        s.floor = Some(Position { segment: next, offset: SEGMENT_HEADER, seq: end_seq });
        s.cache.retain(|c| c.seq >= end_seq);
        tracing::warn!(queue = %self.config.name, discarded = lost, "queue full: dropped the oldest segment");
        true
    }

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
                let path = segment::segment_path(&self.config.dir, &self.config.name, w.id);
                return Err(QueueError::Io { action: "appending to queue segment", path, source: e });
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
            if s.caching && s.cache.len() >= self.settled.cache_high {
                s.caching = false;
            }
            if s.caching {
                let seq = first + i as u64;
                s.cache.push_back(Cached { seq, segment: w.id, end, payload: Bytes::copy_from_slice(payload) });
            }
        }
        w.size = new_size;
        w.next_seq += payloads.len() as u64;
        s.tail_seq = w.next_seq;
        s.stats.enqueued += payloads.len() as u64;
    }

    fn roll(&self, w: &mut Writer) -> Result<(), QueueError> {
        let id = w.id + 1;
        let file = segment::create(&segment::segment_path(&self.config.dir, &self.config.name, id))?;
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

    fn pop_batch(&self, max_records: usize, max_bytes: usize) -> Result<Vec<Record>, QueueError> {
        let mut r = lock(&self.reader);
        let tail = {
            let s = lock(&self.shared);
            if let Some(floor) = s.floor.filter(|f| f.seq > r.pos.seq) {
                r.pos = floor;
                r.file = None;
            }
            s.tail_seq
        };
        let mut out = Vec::new();
        let mut bytes = 0;
        while out.len() < max_records.max(1) && bytes < max_bytes.max(1) {
            if r.pos.seq >= tail {
                break;
            }
            let cached = {
                let mut s = lock(&self.shared);
                while s.cache.front().is_some_and(|c| c.seq < r.pos.seq) {
                    s.cache.pop_front();
                }
                let hit = if s.cache.front().is_some_and(|c| c.seq == r.pos.seq) { s.cache.pop_front() } else { None };
                if !s.caching && s.cache.len() <= self.settled.cache_low {
                    s.caching = true;
                }
                hit
            };
            let record = match cached {
                Some(c) => {
                    r.pos = Position { segment: c.segment, offset: c.end, seq: c.seq + 1 };
                    Record { seq: c.seq, payload: c.payload }
                }
                None => match self.read_from_disk(&mut r, tail)? {
                    Some(rec) => rec,
                    None => break,
                },
            };
            bytes += record.payload.len();
            let (seg, end) = (r.pos.segment, r.pos.offset);
            r.inflight.push_back((record.seq, seg, end));
            out.push(record);
        }
        lock(&self.shared).stats.dequeued += out.len() as u64;
        Ok(out)
    }

    /// Reads the record at the reader's position from its segment file,
    /// skipping (and counting) records that fail their checksum.
    fn read_from_disk(&self, r: &mut Reader, tail: u64) -> Result<Option<Record>, QueueError> {
        loop {
            if r.pos.seq >= tail {
                return Ok(None);
            }
            let (size, next, write_seg) = {
                let s = lock(&self.shared);
                let next = s.segments.range(r.pos.segment + 1..).next().map(|(id, _)| *id);
                (s.segments.get(&r.pos.segment).map(|m| m.size), next, s.write_seg)
            };
            let Some(size) = size.filter(|&sz| r.pos.offset + RECORD_HEADER as u64 <= sz) else {
                // End of this segment (or it is gone): continue in the next one.
                match next {
                    Some(id) if r.pos.segment != write_seg => {
                        r.pos = Position { segment: id, offset: SEGMENT_HEADER, seq: r.pos.seq };
                        r.file = None;
                        continue;
                    }
                    _ => {
                        // The records up to the tail are unreadable: count them.
                        self.count_corrupt(tail - r.pos.seq);
                        r.pos.seq = tail;
                        return Ok(None);
                    }
                }
            };
            let (start, seq) = (r.pos.offset, r.pos.seq);
            let seg = self.open_at(r)?;
            let mut h = [0u8; RECORD_HEADER];
            seg.reader.read_exact(&mut h).map_err(QueueError::io("reading queue segment", &seg.path))?;
            let header = RecordHeader::decode(&h);
            let end = start + RECORD_HEADER as u64 + u64::from(header.len);
            if header.len as usize > self.max_record || end > size {
                // Length is garbage: the rest of this segment cannot be framed.
                // The gap in sequence numbers counts what was lost.
                tracing::error!(file = %seg.path.display(), offset = start, "unreadable record: skipping the rest of the segment");
                r.pos.offset = size;
                r.file = None;
                continue;
            }
            let mut payload = vec![0u8; header.len as usize];
            seg.reader.read_exact(&mut payload).map_err(QueueError::io("reading queue segment", &seg.path))?;
            seg.offset = end;
            if !header.matches(&payload) || header.seq > MAX_PLAUSIBLE {
                tracing::error!(file = %seg.path.display(), seq, "queue record failed its checksum or is numbered out of range: skipped");
                r.pos.offset = end;
                self.count_corrupt(1);
                r.pos.seq += 1;
                continue;
            }
            r.pos.offset = end;
            if header.seq < r.pos.seq {
                continue; // already delivered (before a drop-oldest floor)
            }
            if header.seq > r.pos.seq {
                self.count_corrupt(header.seq - r.pos.seq);
            }
            r.pos.seq = header.seq + 1;
            return Ok(Some(Record { seq: header.seq, payload: Bytes::from(payload) }));
        }
    }

    fn open_at<'r>(&self, r: &'r mut Reader) -> Result<&'r mut OpenSegment, QueueError> {
        let pos = r.pos;
        let reusable = r.file.as_ref().is_some_and(|f| f.id == pos.segment);
        if !reusable {
            let path = segment::segment_path(&self.config.dir, &self.config.name, pos.segment);
            let file = File::open(&path).map_err(QueueError::io("opening queue segment", &path))?;
            let reader = BufReader::with_capacity(256 * 1024, file);
            r.file = Some(OpenSegment { id: pos.segment, path, reader, offset: 0 });
        }
        let Some(seg) = r.file.as_mut() else {
            return Err(QueueError::Config("internal: segment reader missing".into()));
        };
        if seg.offset != pos.offset {
            let delta = pos.offset as i64 - seg.offset as i64;
            if reusable {
                seg.reader.seek_relative(delta).map_err(QueueError::io("seeking in queue segment", &seg.path))?;
            } else {
                seg.reader.seek(SeekFrom::Start(pos.offset)).map_err(QueueError::io("seeking in queue segment", &seg.path))?;
            }
            seg.offset = pos.offset;
        }
        Ok(seg)
    }

    fn count_corrupt(&self, n: u64) {
        lock(&self.shared).stats.corrupt_skipped += n;
    }

    fn ack(&self, seq: u64) -> Result<(), QueueError> {
        let mut r = lock(&self.reader);
        let mut last = None;
        let mut count = 0;
        while r.inflight.front().is_some_and(|(s, _, _)| *s <= seq) {
            last = r.inflight.pop_front();
            count += 1;
        }
        let Some((seq, segment, end)) = last else { return Ok(()) };
        let mut acked = Position { segment, offset: end, seq: seq + 1 };
        {
            let s = lock(&self.shared);
            if let Some(floor) = s.floor.filter(|f| f.seq > acked.seq) {
                acked = floor;
            }
            // A fully read segment that is no longer written is done: point past it.
            let finished = s.segments.get(&acked.segment).is_some_and(|m| m.size == acked.offset);
            if finished && acked.segment != s.write_seg {
                if let Some((&next, _)) = s.segments.range(acked.segment + 1..).next() {
                    acked = Position { segment: next, offset: SEGMENT_HEADER, seq: acked.seq };
                }
            }
        }
        // Checkpoint first, then delete: a crash in between only leaves files
        // that the next open removes.
        r.checkpoint.store(acked)?;
        r.acked = acked;
        let mut s = lock(&self.shared);
        s.acked_seq = acked.seq;
        s.stats.acknowledged += count;
        let done: Vec<u64> = s.segments.range(..acked.segment).map(|(id, _)| *id).collect();
        for id in &done {
            if let Some(meta) = s.segments.remove(id) {
                remove_segment(&self.config, *id);
                s.bytes -= meta.size;
                s.dir_dirty = true;
            }
        }
        drop(s);
        if !done.is_empty() {
            self.space.notify_all();
        }
        Ok(())
    }

    fn sync_now(&self) -> Result<(), QueueError> {
        let (file, unsynced, dir_dirty) = {
            let w = lock(&self.writer);
            let mut s = lock(&self.shared);
            (w.file.clone(), std::mem::take(&mut s.unsynced), std::mem::take(&mut s.dir_dirty))
        };
        let dir = &self.config.dir;
        for f in unsynced.iter().chain([&file]) {
            f.sync_data().map_err(QueueError::io("syncing queue segment in", dir))?;
        }
        self.checkpoint_file.sync_data().map_err(QueueError::io("syncing checkpoint in", dir))?;
        if dir_dirty {
            File::open(dir).and_then(|d| d.sync_all()).map_err(QueueError::io("syncing directory", dir))?;
        }
        Ok(())
    }

    fn stop_syncer(&self) {
        *lock(&self.syncer.stop) = true;
        self.syncer.wake.notify_all();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_syncer();
        if let Err(e) = self.sync_now() {
            tracing::error!(queue = %self.config.name, error = %e, "final queue sync failed");
        }
    }
}

fn start_syncer(inner: Weak<Inner>, control: Arc<SyncControl>, interval: Duration) -> Result<(), QueueError> {
    std::thread::Builder::new()
        .name("queue-fsync".into())
        .spawn(move || loop {
            let stop = lock(&control.stop);
            let (stop, _) = control.wake.wait_timeout(stop, interval).unwrap_or_else(|p| p.into_inner());
            if *stop {
                return;
            }
            drop(stop);
            let Some(inner) = inner.upgrade() else { return };
            if let Err(e) = inner.sync_now() {
                tracing::error!(queue = %inner.config.name, error = %e, "periodic queue fsync failed");
            }
        })
        .map(|_| ())
        .map_err(QueueError::io("starting fsync thread for", PathBuf::from("queue")))
}

fn remove_segment(config: &QueueConfig, id: u64) {
    let path = segment::segment_path(&config.dir, &config.name, id);
    if let Err(e) = fs::remove_file(&path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::error!(file = %path.display(), error = %e, "cannot delete acknowledged queue segment");
        }
    }
}

/// Lists the segments; fully scans (and repairs) the newest ones until one
/// holds records, and only inspects the header of the others. Returns them
/// with the sequence number that follows the last intact record.
fn recover_segments(config: &QueueConfig, max_record: usize) -> Result<(BTreeMap<u64, SegMeta>, u64), QueueError> {
    let mut segments = BTreeMap::new();
    let mut tail = None;
    for id in segment::list(&config.dir, &config.name)?.into_iter().rev() {
        let path = segment::segment_path(&config.dir, &config.name, id);
        let scanned = if tail.is_some() { segment::inspect(&path) } else { segment::scan_and_repair(&path, max_record) };
        match scanned {
            Ok(sc) if sc.first_seq.is_none() && tail.is_none() => {
                // An empty newest segment (header only): nothing to keep.
                remove_segment(config, id);
            }
            Ok(sc) => {
                tail = tail.or(sc.next_seq);
                segments.insert(id, SegMeta { size: sc.size, first_seq: sc.first_seq });
            }
            Err(why) => segment::quarantine(&path, &why),
        }
    }
    Ok((segments, tail.unwrap_or(0)))
}
