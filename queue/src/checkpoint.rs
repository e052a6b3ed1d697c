//! The reader checkpoint: how far the consumer has acknowledged.
//!
//! A 64-byte file with two 32-byte slots written alternately in place, each
//! `magic | crc32c | next_seq | segment | offset`. A write that is torn (power
//! loss) leaves the other slot valid, so reading picks the valid slot with the
//! higher sequence. Recovery treats it as a hint: the segments are the truth.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use crate::error::QueueError;
use crate::record::MAX_PLAUSIBLE;
use crate::work_dir::{Access, WorkDir};

pub(crate) const CHECKPOINT_BYTES: u64 = 64;
const SLOT: usize = 32;
const MAGIC: &[u8; 4] = b"GQCK";

/// A position in the log: the next record to deliver is `seq`, found at
/// `offset` in segment `segment`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub segment: u64,
    pub offset: u64,
    pub seq: u64,
}

pub(crate) struct Checkpoint {
    file: File,
    path: PathBuf,
    next_slot: u64,
}

impl Checkpoint {
    /// The open checkpoint file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Opens (creating if needed) the checkpoint `name` in `dir` and returns
    /// the stored position.
    pub fn open(dir: &WorkDir, name: &str) -> Result<(Checkpoint, Option<Position>), QueueError> {
        let path = dir.path_of(name);
        let path = path.as_path();
        let file = dir.open_file(name, Access::ReadWriteCreate).map_err(QueueError::io("opening checkpoint", path))?;
        crate::work_dir::make_private(&file, path);
        let mut bytes = [0u8; CHECKPOINT_BYTES as usize];
        let len = file.metadata().map_err(QueueError::io("reading checkpoint", path))?.len();
        if len >= CHECKPOINT_BYTES {
            file.read_exact_at(&mut bytes, 0).map_err(QueueError::io("reading checkpoint", path))?;
        } else {
            file.set_len(CHECKPOINT_BYTES).map_err(QueueError::io("sizing checkpoint", path))?;
        }
        let slots = [decode(&bytes[..SLOT]), decode(&bytes[SLOT..])];
        let (best, slot) = match slots {
            [Some(a), Some(b)] if b.seq > a.seq => (Some(b), 1),
            [Some(a), _] => (Some(a), 0),
            [None, Some(b)] => (Some(b), 1),
            [None, None] => (None, 1),
        };
        Ok((Checkpoint { file, path: path.to_path_buf(), next_slot: 1 - slot }, best))
    }

    /// Stores `pos` in the older slot: one `pwrite`, visible to a restarted
    /// process even after `kill -9`.
    pub fn store(&mut self, pos: Position) -> Result<(), QueueError> {
        let mut slot = [0u8; SLOT];
        slot[8..16].copy_from_slice(&pos.seq.to_le_bytes());
        slot[16..24].copy_from_slice(&pos.segment.to_le_bytes());
        slot[24..32].copy_from_slice(&pos.offset.to_le_bytes());
        slot[..4].copy_from_slice(MAGIC);
        let crc = crc32c::crc32c(&slot[8..]);
        slot[4..8].copy_from_slice(&crc.to_le_bytes());
        self.file
            .write_all_at(&slot, self.next_slot * SLOT as u64)
            .map_err(QueueError::io("writing checkpoint", &self.path))?;
        self.next_slot = 1 - self.next_slot;
        Ok(())
    }
}

/// The stored position of the checkpoint `name` in `dir`, read without creating
/// or changing anything; `None` when there is no file or no valid slot.
pub(crate) fn read_only(dir: &WorkDir, name: &str) -> Result<Option<Position>, QueueError> {
    let path = dir.path_of(name);
    let mut bytes = Vec::new();
    match dir.open_file(name, Access::Read).and_then(|mut f| f.read_to_end(&mut bytes)) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(QueueError::Io { action: "reading checkpoint", path, source: e }),
    };
    if bytes.len() < CHECKPOINT_BYTES as usize {
        return Ok(None);
    }
    let slots = [decode(&bytes[..SLOT]), decode(&bytes[SLOT..CHECKPOINT_BYTES as usize])];
    Ok(match slots {
        [Some(a), Some(b)] => Some(if b.seq > a.seq { b } else { a }),
        [a, b] => a.or(b),
    })
}

fn decode(slot: &[u8]) -> Option<Position> {
    if &slot[..4] != MAGIC {
        return None;
    }
    let crc = u32::from_le_bytes(slot[4..8].try_into().ok()?);
    if crc32c::crc32c(&slot[8..32]) != crc {
        return None;
    }
    let word = |i: usize| u64::from_le_bytes(slot[i..i + 8].try_into().unwrap_or([0; 8]));
    let pos = Position { seq: word(8), segment: word(16), offset: word(24) };
    (pos.seq <= MAX_PLAUSIBLE && pos.segment <= MAX_PLAUSIBLE).then_some(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_valid_slot_wins_and_a_torn_slot_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.ckpt");
        let work = WorkDir::open(dir.path(), None).unwrap();
        let (mut ck, none) = Checkpoint::open(&work, "q.ckpt").unwrap();
        assert_eq!(none, None);
        let a = Position { segment: 1, offset: 100, seq: 5 };
        let b = Position { segment: 2, offset: 8, seq: 9 };
        ck.store(a).unwrap();
        ck.store(b).unwrap();
        drop(ck);
        assert_eq!(Checkpoint::open(&work, "q.ckpt").unwrap().1, Some(b));
        // Tear the newer slot: the older one is used.
        let raw = std::fs::read(&path).unwrap();
        let newer = if raw[8] == 9 { 0 } else { 1 };
        let mut torn = raw.clone();
        torn[newer * SLOT + 20] ^= 0xff;
        std::fs::write(&path, &torn).unwrap();
        assert_eq!(Checkpoint::open(&work, "q.ckpt").unwrap().1, Some(a));
    }
}
