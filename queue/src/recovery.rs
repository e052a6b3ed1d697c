//! Opening a queue is recovering it: take the lock, read the checkpoint, and
//! derive the truth from the segments an earlier run left (a torn last record
//! is cut off, an unreadable segment is moved aside, fully acknowledged ones
//! are deleted), then hand out the two ends.

use std::collections::BTreeMap;
use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::cache::ReadCache;
use crate::checkpoint::{Checkpoint, Position, CHECKPOINT_BYTES};
use crate::config::QueueConfig;
use crate::error::QueueError;
use crate::reader::{Consumer, Reader};
use crate::record::{RECORD_HEADER, SEGMENT_HEADER};
use crate::segment;
use crate::state::{Inner, SegMeta, Shared};
use crate::stats::Stats;
use crate::sync::{start_syncer, SyncControl};
use crate::work_dir::{self, Access, WorkDir};
use crate::writer::{Producer, Writer};

/// Opens the queue in `config.dir`, recovering whatever an earlier run left:
/// a torn last record is cut off, unreadable segments are moved aside, and
/// the checkpoint tells where delivery resumes. It always starts unless the
/// directory itself is unusable or another process holds the queue.
///
/// Returns the enqueue side (clone it for every input) and the one consumer.
pub fn open(config: QueueConfig) -> Result<(Producer, Consumer), QueueError> {
    let settled = config.validate()?;
    let dir = config.dir.clone();
    let prefix = config.name.clone();
    create_private_dir(&dir)?;
    let work_dir = WorkDir::open(&dir, config.also_owned_by)?;
    let lock_name = format!("{prefix}.lock");
    let lock_path = work_dir.path_of(&lock_name);
    let lock_file = work_dir.open_file(&lock_name, Access::ReadWriteCreate).map_err(QueueError::io("creating lock file", &lock_path))?;
    work_dir::make_private(&lock_file, &lock_path);
    if lock_file.try_lock().is_err() {
        return Err(QueueError::Locked { path: lock_path });
    }
    let max_record = (settled.segment_bytes - SEGMENT_HEADER) as usize - RECORD_HEADER;

    let ckpt_name = format!("{prefix}.ckpt");
    let (checkpoint, stored) = Checkpoint::open(&work_dir, &ckpt_name)?;
    let checkpoint_file = checkpoint.file().try_clone().map_err(QueueError::io("opening checkpoint", work_dir.path_of(&ckpt_name)))?;

    let (mut segments, scanned_tail) = recover_segments(&work_dir, &config, max_record)?;
    // Segments before the checkpoint's were fully acknowledged; a crash came
    // between writing the checkpoint and deleting them.
    if let Some(ck) = stored {
        let done: Vec<u64> = segments.range(..ck.segment).map(|(id, _)| *id).collect();
        for id in done {
            segment::remove(&work_dir, &prefix, id);
            segments.remove(&id);
        }
    }
    let last_id = segments.keys().next_back().copied();
    // Never reuse a sequence number the checkpoint has seen acknowledged.
    let tail_seq = scanned_tail.max(stored.map_or(0, |c| c.seq));
    let write_id = last_id.max(stored.map(|c| c.segment)).map_or(1, |id| id + 1);
    let file = segment::create(&work_dir, &segment::segment_name(&prefix, write_id))?;
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
        writer: Mutex::new(Writer::new(write_id, file, tail_seq)),
        reader: Mutex::new(Reader::new(acked, checkpoint)),
        shared: Mutex::new(Shared {
            segments,
            bytes,
            reserved: 0,
            write_seg: write_id,
            tail_seq,
            acked_seq: acked.seq,
            floor: None,
            cache: ReadCache::new(settled.cache_high, settled.cache_low),
            stats: Stats { bytes_on_disk: bytes, queued, ..Stats::default() },
            unsynced: Vec::new(),
            dir_dirty: true,
            accept_times: recovered_accept_times(&work_dir, &config, acked, queued),
        }),
        space: std::sync::Condvar::new(),
        data: tokio::sync::Notify::new(),
        syncer: SyncControl::new(),
        checkpoint_file,
        _lock: lock_file,
        work_dir,
        config,
    });
    if let Some(interval) = inner.config.fsync_interval {
        start_syncer(&inner, interval)?;
    }
    Ok((Producer::new(inner.clone()), Consumer::new(inner)))
}

/// The mode of every file the queue creates: the records are the node's
/// syslog, authpriv included, so only the shipper's user reads them.
pub(crate) const PRIVATE_FILE: u32 = 0o600;
/// The mode of the directories the queue creates.
const PRIVATE_DIR: u32 = 0o700;

/// Creates the work directory (and missing parents) 0700. A directory that
/// exists already keeps its mode: it may be shared (`/var/spool/rsyslog`).
fn create_private_dir(dir: &Path) -> Result<(), QueueError> {
    if dir.is_dir() {
        return Ok(());
    }
    DirBuilder::new().recursive(true).mode(PRIVATE_DIR).create(dir).map_err(QueueError::io("creating queue directory", dir))
}


/// A recovered backlog was accepted at the latest when its oldest segment
/// was last written.
fn recovered_accept_times(dir: &WorkDir, config: &QueueConfig, acked: Position, queued: u64) -> crate::age::AcceptTimes {
    let mut times = crate::age::AcceptTimes::new();
    if queued > 0 {
        if let Ok((written, _)) = dir.stat(&segment::segment_name(&config.name, acked.segment)) {
            times.accepted(acked.seq, written);
        }
    }
    times
}

/// Lists the segments; fully scans (and repairs) the newest ones until one
/// holds records, and only inspects the header of the others. Returns them
/// with the sequence number that follows the last intact record.
fn recover_segments(dir: &WorkDir, config: &QueueConfig, max_record: usize) -> Result<(BTreeMap<u64, SegMeta>, u64), QueueError> {
    let mut segments = BTreeMap::new();
    let mut tail = None;
    for id in segment::list(dir, &config.name)?.into_iter().rev() {
        let name = segment::segment_name(&config.name, id);
        let scanned = if tail.is_some() { segment::inspect(dir, &name) } else { segment::scan_and_repair(dir, &name, max_record) };
        match scanned {
            Ok(sc) if sc.first_seq.is_none() && tail.is_none() => {
                // An empty newest segment (header only): nothing to keep.
                segment::remove(dir, &config.name, id);
            }
            Ok(sc) => {
                if let Ok(file) = dir.open_file(&name, Access::Read) {
                    work_dir::make_private(&file, &dir.path_of(&name));
                }
                tail = tail.or(sc.next_seq);
                segments.insert(id, SegMeta { size: sc.size, first_seq: sc.first_seq });
            }
            Err(why) => segment::quarantine(dir, &name, &why),
        }
    }
    Ok((segments, tail.unwrap_or(0)))
}
