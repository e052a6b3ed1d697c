//! The manifest: the one file that says what the archive holds. Every pack
//! it names is complete and fsynced; a pack it does not name is a leftover
//! of a run that was killed and is deleted by the next seal. It is replaced
//! whole and atomically (see [`super::fsutil::replace_file`]), so a reader
//! sees either the state before a commit or the state after it.
//!
//! Layout: `GSLMANI1`, a body of varint records, then the CRC-32C of the body
//! (little-endian). See `archive/FORMAT.md`.

use std::collections::BTreeMap;

use super::codec::{Reader, Writer};
use super::FormatError;
use crate::linetime::LineTime;

pub const MAGIC: &[u8; 8] = b"GSLMANI2";
/// The manifest of format 1 (chunks as one frame, no block table): refused
/// with a message that says so.
pub const MAGIC_V1: &[u8; 8] = b"GSLMANI1";

/// Chunk flag: the chunk holds a NUL byte (grep calls such files binary).
pub const FLAG_NUL: u8 = 1;
/// Chunk flag: a token longer than the index keeps was cut short, so
/// substring lookups must read this chunk whatever its index says.
pub const FLAG_LONG_TOKEN: u8 = 2;
/// Chunk flag: a line has no timestamp (so its time range does not bound all lines).
pub const FLAG_UNSTAMPED: u8 = 4;

/// A line's time packed as the decimal number `YYYYMMDDhhmmss`; 0 when none.
pub type Stamp = u64;

pub fn stamp(t: &LineTime) -> Stamp {
    let d = &t.day;
    ((((u64::from(d.year.max(0) as u32) * 100 + u64::from(d.month)) * 100 + u64::from(d.day)) * 100 + u64::from(t.hour)) * 100
        + u64::from(t.minute))
        * 100
        + u64::from(t.second)
}

/// The day of a stamp, as `YYYYMMDD`.
pub fn stamp_day(s: Stamp) -> u64 {
    s / 1_000_000
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    /// The id the next pack gets; ids are never reused.
    pub next_pack: u64,
    pub packs: Vec<PackMeta>,
    /// Every file ever sealed, by its path relative to ROOT (bytes, `/`-separated).
    pub files: BTreeMap<Vec<u8>, FileRecord>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackMeta {
    pub id: u64,
    /// Bytes of the pack file (chunk frames and tables).
    pub data_len: u64,
    /// Bytes of its index file.
    pub index_len: u64,
    /// The chunks the pack holds (their slots in its index are 0..chunks).
    pub chunks: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileRecord {
    /// Oldest first; the last one is the file as it is now (or was last seen).
    pub generations: Vec<Generation>,
}

/// One life of a file: from its creation (or the truncation or replacement
/// that started it) on. Its sealed bytes are the file's first `sealed` bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Generation {
    pub number: u32,
    pub dev: u64,
    pub ino: u64,
    /// The first `head_len` bytes (at most 4 KiB) have CRC-32C `head_crc`.
    pub head_len: u32,
    pub head_crc: u32,
    /// The file's stat when it was last sealed: while size, mtime and ctime
    /// (nanoseconds) are still these, the file is unchanged and its head is
    /// not read again.
    pub stat: FileStat,
    pub sealed: u64,
    pub chunks: Vec<Chunk>,
}

/// What a stat says of a file's content: any write or truncation changes
/// mtime and ctime.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileStat {
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

/// A block: a run of complete lines inside a chunk (about 64 KiB), stored
/// as its own zstd frame so that it can be read alone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Block {
    pub stored_len: u32,
    pub raw_len: u32,
    pub stored_crc: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chunk {
    pub pack: u64,
    /// The chunk's slot in its pack's index.
    pub slot: u32,
    /// Where its zstd frame starts in the pack file, and its length.
    pub offset: u64,
    pub stored_len: u32,
    pub stored_crc: u32,
    /// The complete lines it holds.
    pub raw_len: u32,
    pub raw_crc: u32,
    pub lines: u64,
    pub flags: u8,
    /// The earliest and latest line time in it (0: no line had one).
    pub first: Stamp,
    pub last: Stamp,
    /// The sshd table stored after the frame (zstd), if any: length and CRC-32C.
    pub table_len: u32,
    pub table_crc: u32,
    /// The zstd dictionary its blocks were compressed with (`dict_len` 0:
    /// none): where it lies in the same pack, its length and CRC-32C.
    pub dict_offset: u64,
    pub dict_len: u32,
    pub dict_crc: u32,
    /// Its blocks, in order, one zstd frame each, from `offset` on: their
    /// stored and raw lengths add up to the chunk's.
    pub blocks: Vec<Block>,
}

impl Chunk {
    pub fn table_offset(&self) -> u64 {
        self.offset.saturating_add(u64::from(self.stored_len))
    }

    /// Where each block starts in the pack, and in the chunk's lines.
    pub fn block_offsets(&self) -> impl Iterator<Item = (u64, u64, &Block)> + '_ {
        let (mut stored, mut raw) = (self.offset, 0u64);
        self.blocks.iter().map(move |b| {
            let at = (stored, raw, b);
            stored = stored.saturating_add(u64::from(b.stored_len));
            raw = raw.saturating_add(u64::from(b.raw_len));
            at
        })
    }
}

impl Manifest {
    /// The manifest file's bytes: magic, body, CRC-32C of the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.buf.extend_from_slice(MAGIC);
        w.varint(self.next_pack);
        w.varint(self.packs.len() as u64);
        for p in &self.packs {
            w.varint(p.id);
            w.varint(p.data_len);
            w.varint(p.index_len);
            w.varint(u64::from(p.chunks));
        }
        w.varint(self.files.len() as u64);
        for (path, rec) in &self.files {
            w.bytes(path);
            w.varint(rec.generations.len() as u64);
            for g in &rec.generations {
                w.varint(u64::from(g.number));
                w.varint(g.dev);
                w.varint(g.ino);
                w.varint(u64::from(g.head_len));
                w.u32_le(g.head_crc);
                w.varint(g.stat.size);
                w.varint(g.stat.mtime_ns as u64);
                w.varint(g.stat.ctime_ns as u64);
                w.varint(g.sealed);
                w.varint(g.chunks.len() as u64);
                for c in &g.chunks {
                    w.varint(c.pack);
                    w.varint(u64::from(c.slot));
                    w.varint(c.offset);
                    w.varint(u64::from(c.stored_len));
                    w.u32_le(c.stored_crc);
                    w.varint(u64::from(c.raw_len));
                    w.u32_le(c.raw_crc);
                    w.varint(c.lines);
                    w.buf.push(c.flags);
                    w.varint(c.first);
                    w.varint(c.last);
                    w.varint(u64::from(c.table_len));
                    w.u32_le(c.table_crc);
                    w.varint(c.dict_offset);
                    w.varint(u64::from(c.dict_len));
                    w.u32_le(c.dict_crc);
                    w.varint(c.blocks.len() as u64);
                    for b in &c.blocks {
                        w.varint(u64::from(b.stored_len));
                        w.varint(u64::from(b.raw_len));
                        w.u32_le(b.stored_crc);
                    }
                }
            }
        }
        let crc = crc32c::crc32c(&w.buf[MAGIC.len()..]);
        w.u32_le(crc);
        w.buf
    }

    pub fn decode(bytes: &[u8]) -> Result<Manifest, FormatError> {
        if bytes.starts_with(MAGIC_V1) {
            return Err(FormatError::Invalid(
                "an archive of format 1 (gsslog before chunks had blocks): this gsslog reads format 2 only; seal the tree anew into an empty --archive folder",
            ));
        }
        if bytes.len() < MAGIC.len() + 4 || &bytes[..MAGIC.len()] != MAGIC {
            return Err(FormatError::BadMagic("manifest"));
        }
        let (body, crc) = bytes[MAGIC.len()..].split_at(bytes.len() - MAGIC.len() - 4);
        if crc32c::crc32c(body).to_le_bytes() != crc {
            return Err(FormatError::Checksum("manifest"));
        }
        Self::decode_body(body)
    }

    /// Reads the records between the magic and the checksum.
    pub fn decode_body(body: &[u8]) -> Result<Manifest, FormatError> {
        let mut r = Reader::new(body);
        let mut m = Manifest { next_pack: r.varint()?, ..Manifest::default() };
        for _ in 0..r.count()? {
            m.packs.push(PackMeta { id: r.varint()?, data_len: r.varint()?, index_len: r.varint()?, chunks: r.varint32()? });
        }
        for _ in 0..r.count()? {
            let path = r.bytes()?.to_vec();
            let mut rec = FileRecord::default();
            for _ in 0..r.count()? {
                let mut g = Generation {
                    number: r.varint32()?,
                    dev: r.varint()?,
                    ino: r.varint()?,
                    head_len: r.varint32()?,
                    head_crc: r.u32_le()?,
                    stat: FileStat { size: r.varint()?, mtime_ns: r.varint()? as i64, ctime_ns: r.varint()? as i64 },
                    sealed: r.varint()?,
                    chunks: Vec::new(),
                };
                for _ in 0..r.count()? {
                    let mut c = Chunk {
                        pack: r.varint()?,
                        slot: r.varint32()?,
                        offset: r.varint()?,
                        stored_len: r.varint32()?,
                        stored_crc: r.u32_le()?,
                        raw_len: r.varint32()?,
                        raw_crc: r.u32_le()?,
                        lines: r.varint()?,
                        flags: r.u8()?,
                        first: r.varint()?,
                        last: r.varint()?,
                        table_len: r.varint32()?,
                        table_crc: r.u32_le()?,
                        dict_offset: r.varint()?,
                        dict_len: r.varint32()?,
                        dict_crc: r.u32_le()?,
                        blocks: Vec::new(),
                    };
                    for _ in 0..r.count()? {
                        c.blocks.push(Block { stored_len: r.varint32()?, raw_len: r.varint32()?, stored_crc: r.u32_le()? });
                    }
                    let stored: u64 = c.blocks.iter().map(|b| u64::from(b.stored_len)).sum();
                    let raw: u64 = c.blocks.iter().map(|b| u64::from(b.raw_len)).sum();
                    if stored != u64::from(c.stored_len) || raw != u64::from(c.raw_len) || c.blocks.is_empty() {
                        return Err(FormatError::Invalid("a chunk's blocks do not add up to it"));
                    }
                    g.chunks.push(c);
                }
                let raw: u64 = g.chunks.iter().map(|c| u64::from(c.raw_len)).sum();
                if raw != g.sealed {
                    return Err(FormatError::Invalid("a generation's chunks do not add up to its sealed length"));
                }
                rec.generations.push(g);
            }
            if m.files.insert(path, rec).is_some() {
                return Err(FormatError::Invalid("a file is named twice"));
            }
        }
        if !r.is_empty() {
            return Err(FormatError::Invalid("bytes after the last record"));
        }
        Ok(m)
    }

    pub fn pack(&self, id: u64) -> Option<&PackMeta> {
        self.packs.iter().find(|p| p.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let blocks = vec![Block { stored_len: 4, raw_len: 12, stored_crc: 5 }, Block { stored_len: 6, raw_len: 8, stored_crc: 6 }];
        let chunk = Chunk {
            pack: 3,
            slot: 1,
            offset: 8,
            stored_len: 10,
            raw_len: 20,
            lines: 2,
            first: 20261207172917,
            dict_offset: 100,
            dict_len: 3,
            blocks,
            ..Chunk::default()
        };
        let stat = FileStat { size: 21, mtime_ns: -5, ctime_ns: 1_765_000_000_000_000_000 };
        let g = Generation { number: 1, ino: 77, sealed: 20, stat, chunks: vec![chunk], ..Generation::default() };
        let mut files = BTreeMap::new();
        files.insert(b"2026/12/10.0.0.1/auth.log".to_vec(), FileRecord { generations: vec![g] });
        Manifest { next_pack: 4, packs: vec![PackMeta { id: 3, data_len: 30, index_len: 40, chunks: 2 }], files }
    }

    #[test]
    fn a_manifest_round_trips() {
        let m = sample();
        assert_eq!(Manifest::decode(&m.encode()), Ok(m));
    }

    #[test]
    fn a_manifest_of_format_1_is_refused_by_name() {
        let mut bytes = sample().encode();
        bytes[..8].copy_from_slice(MAGIC_V1);
        let e = Manifest::decode(&bytes).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("format 1"), "{e}");
    }

    #[test]
    fn every_flipped_byte_and_every_cut_is_refused() {
        let bytes = sample().encode();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert!(Manifest::decode(&b).is_err(), "flip at {i}");
            assert!(Manifest::decode(&bytes[..i]).is_err(), "cut at {i}");
        }
    }
}
