//! Pack files: the chunks one seal run stored, each a run of zstd frames (one
//! per block, compressed with the run's dictionary, which the pack holds
//! too) followed by its sshd table (a zstd frame too, when the chunk has sshd
//! lines). A pack is written under a temporary name and renamed once
//! complete and fsynced; only the manifest makes it part of the archive.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::fsutil;
use super::manifest::{Chunk, Manifest};
use super::ChunkError;

pub const MAGIC: &[u8; 8] = b"GSLPACK2";
/// The largest chunk (complete lines) a reader accepts: a longer line makes
/// a longer chunk, up to this.
pub const MAX_CHUNK: u32 = 256 << 20;

pub fn pack_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:010}.pack"))
}

pub fn index_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:010}.idx"))
}

/// Appends frames to a new pack.
pub struct PackWriter {
    pub id: u64,
    dir: PathBuf,
    tmp: PathBuf,
    file: io::BufWriter<File>,
    len: u64,
}

impl PackWriter {
    pub fn create(dir: &Path, id: u64) -> io::Result<PackWriter> {
        let tmp = pack_path(dir, id).with_extension("pack.tmp");
        let mut file = io::BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
        file.write_all(MAGIC)?;
        Ok(PackWriter { id, dir: dir.to_path_buf(), tmp, file, len: MAGIC.len() as u64 })
    }

    /// Appends `bytes`, returning where they start.
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<u64> {
        let at = self.len;
        self.file.write_all(bytes)?;
        self.len += bytes.len() as u64;
        Ok(at)
    }

    /// Bytes written so far (never 0: the magic comes first).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Makes the pack and its index durable under their final names
    /// (the manifest, written after, makes them visible). Returns the
    /// index file's length.
    pub fn finish(self, index: &[u8]) -> io::Result<u64> {
        let file = self.file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        let index_tmp = index_path(&self.dir, self.id).with_extension("idx.tmp");
        let mut f = File::create(&index_tmp)?;
        f.write_all(index)?;
        f.sync_all()?;
        fs::rename(&self.tmp, pack_path(&self.dir, self.id))?;
        fs::rename(&index_tmp, index_path(&self.dir, self.id))?;
        fsutil::sync_dir(&self.dir)?;
        Ok(index.len() as u64)
    }
}

type Dictionaries = Mutex<HashMap<(u64, u64), Arc<zstd::dict::DecoderDictionary<'static>>>>;

/// The packs of an archive, open for reading (from any thread).
pub struct Packs {
    dir: PathBuf,
    files: HashMap<u64, Result<(File, u64), String>>,
    /// Dictionaries read so far, by pack and offset.
    dictionaries: Dictionaries,
}

impl Packs {
    pub fn open(dir: &Path, manifest: &Manifest) -> Packs {
        let files = manifest
            .packs
            .iter()
            .map(|p| {
                let path = pack_path(dir, p.id);
                let opened = File::open(&path).map_err(|e| format!("{}: {e}", path.display())).and_then(|f| {
                    let len = f.metadata().map_err(|e| format!("{}: {e}", path.display()))?.len();
                    if len != p.data_len {
                        return Err(format!("{}: {len} bytes, the manifest says {}", path.display(), p.data_len));
                    }
                    Ok((f, len))
                });
                (p.id, opened)
            })
            .collect();
        Packs { dir: dir.to_path_buf(), files, dictionaries: Mutex::default() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn read_at(&self, pack: u64, offset: u64, len: u32) -> Result<Vec<u8>, ChunkError> {
        let (file, pack_len) = match self.files.get(&pack) {
            Some(Ok(f)) => f,
            Some(Err(e)) => return Err(ChunkError::Unreadable(e.clone())),
            None => return Err(ChunkError::Damaged(format!("pack {pack} is not in the manifest"))),
        };
        let end = offset.checked_add(u64::from(len));
        if offset < MAGIC.len() as u64 || end.is_none_or(|end| end > *pack_len) {
            return Err(ChunkError::Damaged(format!("bytes {offset}+{len} lie outside pack {pack}")));
        }
        let mut buf = vec![0; len as usize];
        file.read_exact_at(&mut buf, offset)
            .map_err(|e| ChunkError::Unreadable(format!("{}: {e}", pack_path(&self.dir, pack).display())))?;
        Ok(buf)
    }

    /// The dictionary the chunk's blocks were compressed with, if any.
    fn dictionary(&self, c: &Chunk) -> Result<Option<Arc<zstd::dict::DecoderDictionary<'static>>>, ChunkError> {
        if c.dict_len == 0 {
            return Ok(None);
        }
        let key = (c.pack, c.dict_offset);
        if let Some(d) = self.dictionaries.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(Some(d));
        }
        let bytes = self.read_at(c.pack, c.dict_offset, c.dict_len)?;
        if crc32c::crc32c(&bytes) != c.dict_crc {
            return Err(ChunkError::Damaged(format!("pack {} at {}: dictionary checksum mismatch", c.pack, c.dict_offset)));
        }
        let d = Arc::new(zstd::dict::DecoderDictionary::copy(&bytes));
        if let Ok(mut m) = self.dictionaries.lock() {
            m.insert(key, Arc::clone(&d));
        }
        Ok(Some(d))
    }

    /// Decompresses one block (`stored`, checked by the caller).
    fn block(&self, c: &Chunk, stored: &[u8], raw_len: u32) -> Result<Vec<u8>, ChunkError> {
        let damaged = |e: String| ChunkError::Damaged(format!("pack {} at {}: {e}", c.pack, c.offset));
        if raw_len > MAX_CHUNK {
            return Err(damaged(format!("a block of {raw_len} bytes is over the limit of {MAX_CHUNK}")));
        }
        let raw = match self.dictionary(c)? {
            Some(d) => zstd::bulk::Decompressor::with_prepared_dictionary(&d).and_then(|mut z| z.decompress(stored, raw_len as usize)),
            None => zstd::bulk::decompress(stored, raw_len as usize),
        }
        .map_err(|e| damaged(format!("zstd: {e}")))?;
        if raw.len() != raw_len as usize {
            return Err(damaged("a block is shorter than the manifest says".into()));
        }
        Ok(raw)
    }

    /// The chunk's lines, checked against both its checksums.
    pub fn chunk(&self, c: &Chunk) -> Result<Vec<u8>, ChunkError> {
        let stored = self.read_at(c.pack, c.offset, c.stored_len)?;
        if crc32c::crc32c(&stored) != c.stored_crc {
            return Err(ChunkError::Damaged(format!("pack {} at {}: stored checksum mismatch", c.pack, c.offset)));
        }
        let mut raw = Vec::with_capacity(c.raw_len.min(MAX_CHUNK) as usize);
        let mut at = 0usize;
        for b in &c.blocks {
            let end = at.saturating_add(b.stored_len as usize).min(stored.len());
            raw.extend_from_slice(&self.block(c, &stored[at..end], b.raw_len)?);
            at = end;
        }
        if crc32c::crc32c(&raw) != c.raw_crc {
            return Err(ChunkError::Damaged(format!("pack {} at {}: checksum mismatch after decompression", c.pack, c.offset)));
        }
        Ok(raw)
    }

    /// The lines of the chunk's blocks `which` (ascending; ids past its
    /// last block are ignored), each block checked against its checksum.
    pub fn blocks(&self, c: &Chunk, which: &[u32]) -> Result<Vec<u8>, ChunkError> {
        let mut raw = Vec::new();
        let mut wanted = which.iter().copied().peekable();
        for (k, (offset, _, b)) in c.block_offsets().enumerate() {
            let Some(&next) = wanted.peek() else { break };
            if next as usize != k {
                continue;
            }
            wanted.next();
            let stored = self.read_at(c.pack, offset, b.stored_len)?;
            if crc32c::crc32c(&stored) != b.stored_crc {
                return Err(ChunkError::Damaged(format!("pack {} at {offset}: block checksum mismatch", c.pack)));
            }
            raw.extend_from_slice(&self.block(c, &stored, b.raw_len)?);
        }
        Ok(raw)
    }

    /// The chunk's sshd table (empty when it has none).
    pub fn table(&self, c: &Chunk) -> Result<Vec<u8>, ChunkError> {
        if c.table_len == 0 {
            return Ok(Vec::new());
        }
        let stored = self.read_at(c.pack, c.table_offset(), c.table_len)?;
        if crc32c::crc32c(&stored) != c.table_crc {
            return Err(ChunkError::Damaged(format!("pack {} at {}: sshd table checksum mismatch", c.pack, c.table_offset())));
        }
        let size = match zstd::zstd_safe::get_frame_content_size(&stored) {
            Ok(Some(size)) if size <= u64::from(MAX_CHUNK) => size as u32,
            _ => return Err(ChunkError::Damaged(format!("pack {}: sshd table: no valid frame size", c.pack))),
        };
        decompress(&stored, size).map_err(|e| ChunkError::Damaged(format!("pack {}: sshd table: {e}", c.pack)))
    }
}

/// Decompresses one zstd frame of at most `limit` bytes.
pub fn decompress(stored: &[u8], limit: u32) -> Result<Vec<u8>, String> {
    if limit > MAX_CHUNK {
        return Err(format!("a chunk of {limit} bytes is over the limit of {MAX_CHUNK}"));
    }
    zstd::bulk::decompress(stored, limit as usize).map_err(|e| format!("zstd: {e}"))
}
