//! The consumer side: hand out records in order (from the read cache, else
//! from the segment files), acknowledge them, or rewind to hand them out
//! again. There is one consumer per queue: [`Consumer`] is not `Clone`, and
//! reading, acknowledging and rewinding take it by `&mut`.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

use crate::checkpoint::{Checkpoint, Position};
use crate::error::QueueError;
use crate::record::{RecordHeader, MAX_PLAUSIBLE, RECORD_HEADER, SEGMENT_HEADER};
use crate::state::{lock, Inner};
use crate::stats::Stats;

/// One queued message, as handed to the consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Sequence number: strictly increasing in the order messages were accepted.
    pub seq: u64,
    /// The message, as it was enqueued.
    pub payload: Bytes,
}

/// The one reading side of a queue: hands out records, acknowledges them,
/// rewinds. Not `Clone`: a queue has exactly one consumer.
///
/// ```compile_fail
/// fn cloneable<T: Clone>() {}
/// cloneable::<queue::Consumer>(); // a second consumer cannot be made
/// ```
pub struct Consumer {
    inner: Arc<Inner>,
}

/// Where the consumer is.
pub(crate) struct Reader {
    /// Next record to hand out.
    pos: Position,
    /// Next record not yet acknowledged.
    acked: Position,
    /// Handed out, not yet acknowledged: (seq, segment, end offset).
    inflight: VecDeque<(u64, u64, u64)>,
    file: Option<OpenSegment>,
    checkpoint: Checkpoint,
}

impl Reader {
    /// A reader that starts at `acked`, the oldest unacknowledged record.
    pub fn new(acked: Position, checkpoint: Checkpoint) -> Self {
        Reader { pos: acked, acked, inflight: VecDeque::new(), file: None, checkpoint }
    }
}

/// The segment file being read, and where in it.
struct OpenSegment {
    id: u64,
    /// For error messages; built once, when the segment is opened.
    path: PathBuf,
    reader: BufReader<File>,
    offset: u64,
}

impl Consumer {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Consumer { inner }
    }

    /// Hands out up to `max_records` (and about `max_bytes`) records in order,
    /// without waiting; empty when nothing is pending. Records stay queued
    /// until [`Consumer::ack`]; [`Consumer::rewind`] hands them out again.
    pub fn pop_batch(&mut self, max_records: usize, max_bytes: usize) -> Result<Vec<Record>, QueueError> {
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

    /// Like [`Consumer::pop_batch`], but waits until at least one record is
    /// there. Disk reads run on tokio's blocking pool.
    ///
    /// Not cancellation-safe: dropped while the pop runs, the records it took
    /// count as handed out (until [`Consumer::rewind`]). In a `select!`, wait
    /// with [`Consumer::wait_for_data`] instead and call this after.
    pub async fn next_batch(&mut self, max_records: usize, max_bytes: usize) -> Result<Vec<Record>, QueueError> {
        loop {
            let notified = self.inner.data.notified();
            let inner = self.inner.clone();
            let batch = tokio::task::spawn_blocking(move || inner.pop_batch(max_records, max_bytes))
                .await
                .map_err(QueueError::ReadTask)??;
            if !batch.is_empty() {
                return Ok(batch);
            }
            notified.await;
        }
    }

    /// Acknowledges every handed-out record up to and including `seq`: they
    /// will not be delivered again, even after a crash. Segments whose records
    /// are all acknowledged are deleted.
    pub fn ack(&mut self, seq: u64) -> Result<(), QueueError> {
        self.inner.ack(seq)
    }

    /// Forgets what was handed out and not acknowledged, so the next batch
    /// starts again at the oldest unacknowledged record (after a failed send).
    pub fn rewind(&mut self) {
        let mut reader = lock(&self.inner.reader);
        reader.pos = reader.acked;
        reader.inflight.clear();
    }

    /// The queue's counters.
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// Orderly stop: syncs everything; with `save_on_shutdown` off, deletes
    /// the queued messages instead (rsyslog's `$ActionQueueSaveOnShutdown off`).
    /// The queue's files stay locked until every [`crate::Producer`] is
    /// dropped as well.
    pub fn close(self) -> Result<(), QueueError> {
        self.inner.stop_syncer();
        if self.inner.config.save_on_shutdown {
            return self.inner.sync_now();
        }
        let ids: Vec<u64> = lock(&self.inner.shared).segments.keys().copied().collect();
        for id in ids {
            self.inner.remove_segment(id);
        }
        let ckpt = format!("{}.ckpt", self.inner.config.name);
        self.inner.work_dir.remove(&ckpt).map_err(QueueError::io("removing checkpoint", self.inner.work_dir.path_of(&ckpt)))
    }
}

impl Inner {
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
            let cached = lock(&self.shared).cache.take(r.pos.seq);
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

    /// The reader's segment file, opened (or reused) and placed at its position.
    fn open_at<'r>(&self, r: &'r mut Reader) -> Result<&'r mut OpenSegment, QueueError> {
        let pos = r.pos;
        let reusable = r.file.as_ref().is_some_and(|f| f.id == pos.segment);
        if !reusable {
            r.file = None;
        }
        let seg = match r.file {
            Some(ref mut seg) => seg,
            None => {
                let path = self.segment_path(pos.segment);
                let file = self
                    .work_dir
                    .open_file(&self.segment_name(pos.segment), crate::work_dir::Access::Read)
                    .map_err(QueueError::io("opening queue segment", &path))?;
                let reader = BufReader::with_capacity(256 * 1024, file);
                r.file.insert(OpenSegment { id: pos.segment, path, reader, offset: 0 })
            }
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
        s.accept_times.forget_before(acked.seq);
        self.free_acknowledged(s, acked);
        Ok(())
    }
}
