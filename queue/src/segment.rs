//! Segment files: naming, listing, and the recovery scan.

use std::fs::File;
use std::io::{Read, Write};

use crate::error::QueueError;
use crate::record::{RecordHeader, MAX_PLAUSIBLE, RECORD_HEADER, SEGMENT_HEADER, SEGMENT_MAGIC};
use crate::work_dir::{Access, WorkDir};

/// The file name of segment `id` of queue `prefix`.
pub(crate) fn segment_name(prefix: &str, id: u64) -> String {
    format!("{prefix}.{id:010}.seg")
}

/// Ids of the segment files of queue `prefix` in `dir`, ascending.
pub(crate) fn list(dir: &WorkDir, prefix: &str) -> Result<Vec<u64>, QueueError> {
    let mut ids = Vec::new();
    for name in dir.list().map_err(QueueError::io("listing", dir.path()))? {
        let Some(rest) = name.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else { continue };
        let Some(id) = rest.strip_suffix(".seg").and_then(|d| d.parse::<u64>().ok()) else { continue };
        if id > MAX_PLAUSIBLE {
            continue; // not a name this queue gives out
        }
        ids.push(id);
    }
    ids.sort_unstable();
    Ok(ids)
}

/// Deletes a segment file; one already gone is fine, any other failure is
/// logged.
pub(crate) fn remove(dir: &WorkDir, prefix: &str, id: u64) {
    let name = segment_name(prefix, id);
    if let Err(e) = dir.remove(&name) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::error!(file = %dir.path_of(&name).display(), error = %e, "cannot delete acknowledged queue segment");
        }
    }
}

/// Moves an unreadable file aside (`NAME.bad`) so the queue can start.
pub(crate) fn quarantine(dir: &WorkDir, name: &str, why: &str) {
    let path = dir.path_of(name);
    match dir.rename(name, &format!("{name}.bad")) {
        Ok(()) => tracing::error!(file = %path.display(), reason = why, "queue segment moved aside as unreadable"),
        Err(e) => tracing::error!(file = %path.display(), reason = why, error = %e, "cannot move unreadable segment aside"),
    }
}

/// Creates a new, empty segment (just its header).
pub(crate) fn create(dir: &WorkDir, name: &str) -> Result<File, QueueError> {
    let path = dir.path_of(name);
    let mut file = dir.open_file(name, Access::CreateNew).map_err(QueueError::io("creating segment", &path))?;
    file.write_all(SEGMENT_MAGIC).map_err(QueueError::io("writing segment header", &path))?;
    Ok(file)
}

/// What the recovery scan learned about one segment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scanned {
    pub size: u64,
    pub first_seq: Option<u64>,
    /// One past the last intact record (only known for fully scanned segments).
    pub next_seq: Option<u64>,
}

/// Checks the header and reads the first record's sequence number, without
/// reading the rest. `Err` carries the reason the segment is unreadable.
pub(crate) fn inspect(dir: &WorkDir, name: &str) -> Result<Scanned, String> {
    let mut file = dir.open_file(name, Access::Read).map_err(|e| format!("cannot open: {e}"))?;
    let size = file.metadata().map_err(|e| format!("cannot stat: {e}"))?.len();
    let mut head = [0u8; SEGMENT_HEADER as usize + RECORD_HEADER];
    let n = read_up_to(&mut file, &mut head).map_err(|e| format!("cannot read: {e}"))?;
    if n < SEGMENT_HEADER as usize || &head[..SEGMENT_HEADER as usize] != SEGMENT_MAGIC {
        return Err("not a queue segment (bad header)".into());
    }
    let first_seq = (n == head.len()).then(|| {
        let mut h = [0u8; RECORD_HEADER];
        h.copy_from_slice(&head[SEGMENT_HEADER as usize..]);
        RecordHeader::decode(&h).seq
    }).filter(|seq| *seq <= MAX_PLAUSIBLE);
    Ok(Scanned { size, first_seq, next_seq: None })
}

/// Reads a whole segment, keeps every intact record, and cuts off a torn tail:
/// an incomplete last record, or a last record whose checksum fails. A bad
/// record followed by intact ones is left for the reader to skip and count.
pub(crate) fn scan_and_repair(dir: &WorkDir, name: &str, max_record: usize) -> Result<Scanned, String> {
    let path = dir.path_of(name);
    let mut data = Vec::new();
    let mut file = dir.open_file(name, Access::ReadWrite).map_err(|e| format!("cannot open: {e}"))?;
    file.read_to_end(&mut data).map_err(|e| format!("cannot read: {e}"))?;
    if data.len() < SEGMENT_HEADER as usize || &data[..SEGMENT_HEADER as usize] != SEGMENT_MAGIC {
        return Err("not a queue segment (bad header)".into());
    }
    let mut pos = SEGMENT_HEADER as usize;
    let (mut first_seq, mut next_seq) = (None, None);
    while pos + RECORD_HEADER <= data.len() {
        let mut h = [0u8; RECORD_HEADER];
        h.copy_from_slice(&data[pos..pos + RECORD_HEADER]);
        let header = RecordHeader::decode(&h);
        let end = pos + RECORD_HEADER + header.len as usize;
        if header.len as usize > max_record || end > data.len() {
            break; // torn: the length runs past the end, or is garbage
        }
        if !header.matches(&data[pos + RECORD_HEADER..end]) && end == data.len() {
            break; // torn: the last record did not reach the disk whole
        }
        if header.seq <= MAX_PLAUSIBLE {
            // (a record numbered beyond that is corrupt: the reader skips it)
            first_seq.get_or_insert(header.seq);
            next_seq = Some(header.seq + 1);
        }
        pos = end;
    }
    if pos < data.len() {
        tracing::warn!(file = %path.display(), kept = pos, dropped = data.len() - pos, "truncating torn tail of queue segment");
        file.set_len(pos as u64).map_err(|e| format!("cannot truncate torn tail: {e}"))?;
    }
    Ok(Scanned { size: pos as u64, first_seq, next_seq })
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}
