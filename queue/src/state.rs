//! What the producers and the consumer share: the queue's settings, the three
//! locks, and the bookkeeping of segments and bytes.
//!
//! Locks: `writer` and `reader` are never held together; either may take
//! `shared` while holding it, never the other way round.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::cache::ReadCache;
use crate::checkpoint::Position;
use crate::config::{QueueConfig, Settled};
use crate::reader::Reader;
use crate::segment;
use crate::stats::Stats;
use crate::sync::SyncControl;
use crate::work_dir::WorkDir;
use crate::writer::Writer;

pub(crate) struct Inner {
    pub config: QueueConfig,
    pub settled: Settled,
    pub max_record: usize,
    pub writer: Mutex<Writer>,
    pub reader: Mutex<Reader>,
    pub shared: Mutex<Shared>,
    /// Signalled when segments are deleted (space freed).
    pub space: Condvar,
    /// Signalled when records are accepted.
    pub data: tokio::sync::Notify,
    pub syncer: std::sync::Arc<SyncControl>,
    pub checkpoint_file: File,
    pub _lock: File,
    /// The queue's directory, held open: every file is reached through it.
    pub work_dir: WorkDir,
}

/// One segment file, as far as the bookkeeping needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SegMeta {
    pub size: u64,
    pub first_seq: Option<u64>,
}

pub(crate) struct Shared {
    pub segments: BTreeMap<u64, SegMeta>,
    /// Exact bytes of the segment files and the checkpoint.
    pub bytes: u64,
    /// Bytes promised to enqueues that are writing now.
    pub reserved: u64,
    pub write_seg: u64,
    pub tail_seq: u64,
    pub acked_seq: u64,
    /// Set by drop-oldest: nothing before this position exists any more.
    pub floor: Option<Position>,
    pub cache: ReadCache,
    pub stats: Stats,
    /// Segments rolled over since the last fsync.
    pub unsynced: Vec<std::sync::Arc<File>>,
    /// Files were created or deleted since the last fsync of the directory.
    pub dir_dirty: bool,
    /// When records were accepted (for the oldest record's age).
    pub accept_times: crate::age::AcceptTimes,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a queue lock leaves consistent on-disk state (the
    // segments are the truth), so carrying on is safe.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Inner {
    pub fn segment_name(&self, id: u64) -> String {
        segment::segment_name(&self.config.name, id)
    }

    /// Segment `id`'s path, for messages.
    pub fn segment_path(&self, id: u64) -> PathBuf {
        self.work_dir.path_of(&self.segment_name(id))
    }

    pub fn remove_segment(&self, id: u64) {
        segment::remove(&self.work_dir, &self.config.name, id);
    }

    /// The counters, with the byte and backlog figures of this moment.
    pub fn stats(&self) -> Stats {
        let s = lock(&self.shared);
        let mut stats = s.stats.clone();
        stats.bytes_on_disk = s.bytes;
        let start = s.floor.map_or(s.acked_seq, |f| f.seq.max(s.acked_seq));
        stats.queued = s.tail_seq.saturating_sub(start);
        stats.oldest_age = (stats.queued > 0)
            .then(|| s.accept_times.accepted_at(start))
            .flatten()
            .map(|t| std::time::SystemTime::now().duration_since(t).unwrap_or_default());
        stats
    }
}
