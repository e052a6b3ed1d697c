//! The backlog of a queue that no process has open, read without changing
//! anything: for `omgssapi queue show` and `omgssapi queue export`, so that
//! what a stopped shipper still holds can be seen and handed to another
//! syslog daemon (a node rolled back to rsyslog, say).
//!
//! The records are those the checkpoint has not acknowledged, in order, with
//! the checksums checked as the consumer checks them; a torn tail is
//! skipped, not repaired (the next [`crate::open`] repairs it). As the
//! consumer, it skips a record numbered below one already listed (damaged or
//! hand-edited files) and counts one numbered out of range as unreadable, so
//! the records come in strictly increasing order, as the shipper delivers.

use std::io::Read;

use bytes::Bytes;

use crate::checkpoint;
use crate::work_dir::{Access, WorkDir};
use crate::config::QueueConfig;
use crate::error::QueueError;
use crate::reader::Record;
use crate::record::{RecordHeader, MAX_PLAUSIBLE, RECORD_HEADER, SEGMENT_HEADER, SEGMENT_MAGIC};
use crate::segment;

/// What [`read_backlog`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Records not acknowledged yet.
    pub records: u64,
    /// Their payload bytes.
    pub payload_bytes: u64,
    /// Bytes of the queue's segment files and checkpoint on disk.
    pub bytes_on_disk: u64,
    /// Segment files.
    pub segments: usize,
    /// The oldest and the newest of those records.
    pub oldest: Option<Record>,
    /// See `oldest`.
    pub newest: Option<Record>,
    /// Records skipped: checksum failed, or a length that cannot be framed.
    pub unreadable: u64,
}

/// Reads the unacknowledged records of the queue `config` names, in order,
/// calling `each` for every one. Fails with [`QueueError::Locked`] while a
/// shipper has the queue open: its state is moving. A queue with no files
/// is an empty backlog.
pub fn read_backlog(config: &QueueConfig, mut each: impl FnMut(&Record)) -> Result<Backlog, QueueError> {
    let dir = &config.dir;
    let mut backlog = Backlog::default();
    if !dir.is_dir() {
        return Ok(backlog);
    }
    let work_dir = WorkDir::open_unchecked(dir).map_err(QueueError::io("opening queue directory", dir))?;
    let lock_name = format!("{}.lock", config.name);
    let lock_path = work_dir.path_of(&lock_name);
    // No lock file: no process has ever opened this queue here. One is only
    // opened, never created, so that looking leaves nothing behind.
    match work_dir.open_file(&lock_name, Access::Read) {
        Ok(lock) if lock.try_lock().is_err() => return Err(QueueError::Locked { path: lock_path }),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(QueueError::Io { action: "opening lock file", path: lock_path, source: e }),
    }
    let ckpt_name = format!("{}.ckpt", config.name);
    let acked = checkpoint::read_only(&work_dir, &ckpt_name)?;
    backlog.bytes_on_disk = work_dir.stat(&ckpt_name).map(|(_, len)| len).unwrap_or(0);
    let ids = segment::list(&work_dir, &config.name)?;
    backlog.segments = ids.len();
    // The sequence number the next listed record must reach.
    let mut next_seq = acked.map_or(0, |a| a.seq);
    for id in ids {
        let name = segment::segment_name(&config.name, id);
        let mut data = Vec::new();
        work_dir
            .open_file(&name, Access::Read)
            .and_then(|mut f| f.read_to_end(&mut data))
            .map_err(QueueError::io("reading queue segment", work_dir.path_of(&name)))?;
        backlog.bytes_on_disk += data.len() as u64;
        if acked.is_some_and(|a| id < a.segment) {
            continue; // acknowledged; the next open deletes it
        }
        if data.len() < SEGMENT_HEADER as usize || &data[..SEGMENT_HEADER as usize] != SEGMENT_MAGIC {
            backlog.unreadable += 1;
            continue;
        }
        let mut pos = SEGMENT_HEADER as usize;
        while pos + RECORD_HEADER <= data.len() {
            let mut h = [0u8; RECORD_HEADER];
            h.copy_from_slice(&data[pos..pos + RECORD_HEADER]);
            let header = RecordHeader::decode(&h);
            let end = pos + RECORD_HEADER + header.len as usize;
            if end > data.len() {
                backlog.unreadable += 1;
                break;
            }
            let payload = &data[pos + RECORD_HEADER..end];
            pos = end;
            if !header.matches(payload) || header.seq > MAX_PLAUSIBLE {
                backlog.unreadable += 1;
                continue;
            }
            if header.seq < next_seq {
                continue; // acknowledged, or numbered below a record already listed
            }
            next_seq = header.seq + 1;
            let record = Record { seq: header.seq, payload: Bytes::copy_from_slice(payload) };
            backlog.records += 1;
            backlog.payload_bytes += payload.len() as u64;
            each(&record);
            if backlog.oldest.is_none() {
                backlog.oldest = Some(record.clone());
            }
            backlog.newest = Some(record);
        }
    }
    Ok(backlog)
}
