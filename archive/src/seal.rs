//! `gsslog seal`: stores every complete line not sealed yet.
//!
//! For each file of the tree (sorted), the bytes after what its last
//! generation sealed are cut into chunks of complete lines (about
//! [`CHUNK`] each; a trailing partial line waits for the next run), or, when
//! the file was truncated or replaced, all of it as a new generation. Chunks
//! are compressed, tokenised and given to `sshd::extract` on every core,
//! then appended in order to the run's pack. Each pack is committed (pack
//! and index fsynced and renamed, then the manifest replaced) once it holds
//! about [`PACK`] bytes of lines, and at the end: a kill at any moment loses
//! at most the uncommitted pack, which the next run deletes and redoes.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;

use crate::content;
use crate::linetime::{self, PathDate};
use crate::progress::Progress;
use crate::store::index::{self, IndexBuilder};
use crate::store::manifest::{self, Block, Chunk, Generation, Manifest, PackMeta, FLAG_LONG_TOKEN, FLAG_NUL, FLAG_UNSTAMPED};
use crate::store::pack::{PackWriter, MAX_CHUNK};
use crate::store::{Archive, OpenError};
use crate::tree::{self, TreeFile, HEAD};

/// Lines per chunk: the unit of the manifest and of the token index's slots.
pub const CHUNK: usize = 4 << 20;
/// Lines per block: the unit of decompression, and of the token index for
/// rare tokens.
pub const BLOCK: usize = 64 << 10;
/// The dictionary of a run: its size, and the sample it is trained on
/// (one block from each of up to that many files, spread over the tree).
const DICTIONARY: usize = 110 << 10;
/// Runs of fewer new bytes than this compress blocks without a dictionary
/// (training costs time, and the dictionary space, that a small run does
/// not win back).
pub const DICTIONARY_MIN: u64 = 64 << 20;
const SAMPLE_FILES: usize = 256;
/// Lines per pack (and per manifest commit).
pub const PACK: u64 = 256 << 20;
/// Lines compressed together on all cores.
const BATCH: usize = 32 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("compressing: {source}")]
    Compress { source: io::Error },
    #[error("writing pack {pack}: {source}")]
    Pack { pack: u64, source: io::Error },
}

#[derive(Clone, Copy, Debug)]
pub struct SealOptions {
    /// zstd level of the chunks.
    pub level: i32,
    /// Bytes of lines per pack (and per manifest commit).
    pub pack_bytes: u64,
    /// A run of fewer new bytes gets no dictionary.
    pub dictionary_min: u64,
}

impl Default for SealOptions {
    fn default() -> Self {
        SealOptions { level: 9, pack_bytes: PACK, dictionary_min: DICTIONARY_MIN }
    }
}

/// What a run did.
#[derive(Debug, Default)]
pub struct SealSummary {
    pub files: usize,
    pub bytes: u64,
    pub chunks: usize,
    pub new_generations: usize,
    /// Files that could not be read (each with its path and cause).
    pub errors: Vec<String>,
}

/// A file's part in this run.
struct Plan {
    file: TreeFile,
    from: u64,
    new_generation: bool,
    head: Vec<u8>,
    year: i32,
}

/// A chunk read, before compression.
struct Pending {
    plan: usize,
    raw: Vec<u8>,
}

/// The zstd dictionary of a run.
struct Dictionary {
    bytes: Vec<u8>,
    crc: u32,
    encoder: zstd::dict::EncoderDictionary<'static>,
}

/// A chunk ready to append.
struct Ready {
    plan: usize,
    /// Its blocks' frames, one after the other.
    frame: Vec<u8>,
    table: Vec<u8>,
    tokens: index::Tokens,
    meta: Chunk,
    /// Compressed with the run's dictionary.
    dictionary: bool,
}

pub fn seal(archive_dir: &Path, root: &Path, options: SealOptions) -> Result<(Archive, SealSummary), SealError> {
    let mut archive = Archive::open_for_sealing(archive_dir)?;
    let (files, mut errors) = tree::walk(root, Some(archive_dir));
    let this_year = crate::clock::today_utc().year;
    let mut plans = Vec::new();
    for file in files {
        let last = archive.manifest.files.get(&file.rel).and_then(|r| r.generations.last());
        let continues = match last.map(|g| file.continues(g)) {
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                errors.push(format!("{}: {e}", file.path.display()));
                continue;
            }
            None => false,
        };
        let from = match (last, continues) {
            (Some(g), true) => g.sealed,
            _ => 0,
        };
        if file.size <= from {
            continue;
        }
        let head = match file.head() {
            Ok(h) => h,
            Err(e) => {
                errors.push(format!("{}: {e}", file.path.display()));
                continue;
            }
        };
        let year = PathDate::of(&tree::display(&file.rel)).year().unwrap_or(this_year);
        plans.push(Plan { file, from, new_generation: !continues, head, year });
    }
    let total: u64 = plans.iter().map(|p| p.file.size - p.from).sum();
    let dictionary = if total >= options.dictionary_min { train(&plans, options.level).map(Arc::new) } else { None };
    let progress = Progress::new("seal", total);
    let mut run = Run {
        archive: &mut archive,
        manifest: None,
        pack: None,
        compressed: Vec::new(),
        pack_raw: 0,
        options,
        dictionary,
        summary: SealSummary::default(),
        started: vec![false; plans.len()],
    };
    let mut batch: Vec<Pending> = Vec::new();
    let mut batch_bytes = 0;
    let mut fatal = None;
    for (i, plan) in plans.iter().enumerate() {
        let mut sealed_here = false;
        let read = content::for_each_block(&plan.file.path, plan.from, plan.file.size, CHUNK, |block| {
            // Only complete lines: the final block may end in a partial one.
            let Some(nl) = memchr::memrchr(b'\n', block) else {
                return Ok(());
            };
            let lines = &block[..=nl];
            if lines.len() > MAX_CHUNK as usize {
                return Err(io::Error::other(format!("a line longer than {MAX_CHUNK} bytes")));
            }
            sealed_here = true;
            batch_bytes += lines.len();
            progress.add(lines.len() as u64);
            batch.push(Pending { plan: i, raw: lines.to_vec() });
            if batch_bytes >= BATCH.min(options.pack_bytes as usize) {
                batch_bytes = 0;
                if let Err(e) = run.flush(&plans, std::mem::take(&mut batch)) {
                    fatal = Some(e);
                    return Err(io::Error::other("sealing stopped"));
                }
            }
            Ok(())
        });
        if let Some(e) = fatal {
            return Err(e);
        }
        if let Err(e) = read {
            errors.push(format!("{}: {e}", plan.file.path.display()));
        }
        if sealed_here {
            run.summary.files += 1;
        }
    }
    run.flush(&plans, batch)?;
    run.drain(&plans)?;
    run.commit_pack()?;
    progress.finish();
    let mut summary = run.summary;
    summary.errors = errors;
    Ok((archive, summary))
}

struct Run<'a> {
    archive: &'a mut Archive,
    /// The manifest being built (committed at each pack's end).
    manifest: Option<Manifest>,
    /// The pack being written, its index, and where the dictionary lies in it.
    pack: Option<(PackWriter, IndexBuilder, Option<u64>)>,
    /// Chunks compressed, not appended yet.
    compressed: Vec<Ready>,
    /// Bytes of lines in the current pack.
    pack_raw: u64,
    options: SealOptions,
    dictionary: Option<Arc<Dictionary>>,
    summary: SealSummary,
    started: Vec<bool>,
}

impl Run<'_> {
    /// Compresses `batch` while the batch before it is appended (so that the
    /// pack and index work, which is serial, overlaps the compression).
    fn flush(&mut self, plans: &[Plan], batch: Vec<Pending>) -> Result<(), SealError> {
        let level = self.options.level;
        let previous = std::mem::take(&mut self.compressed);
        let dictionary = self.dictionary.clone();
        let (ready, appended) = rayon::join(
            || batch.into_par_iter().map(|p| prepare(p, plans, level, dictionary.as_deref())).collect::<io::Result<Vec<Ready>>>(),
            || previous.into_iter().try_for_each(|r| self.append(plans, r)),
        );
        appended?;
        self.compressed = ready.map_err(|source| SealError::Compress { source })?;
        Ok(())
    }

    /// Appends what the last flush compressed.
    fn drain(&mut self, plans: &[Plan]) -> Result<(), SealError> {
        std::mem::take(&mut self.compressed).into_iter().try_for_each(|r| self.append(plans, r))
    }

    fn append(&mut self, plans: &[Plan], r: Ready) -> Result<(), SealError> {
        if self.pack.is_none() {
            let manifest = self.manifest.get_or_insert_with(|| self.archive.manifest.clone());
            let id = manifest.next_pack;
            manifest.next_pack += 1;
            let writer =
                PackWriter::create(&Archive::packs_dir(&self.archive.dir), id).map_err(|source| SealError::Pack { pack: id, source })?;
            self.pack = Some((writer, IndexBuilder::default(), None));
        }
        let Some((writer, index, dict_at)) = self.pack.as_mut() else {
            return Ok(());
        };
        let pack = writer.id;
        let err = |source| SealError::Pack { pack, source };
        let mut meta = r.meta;
        meta.pack = pack;
        if let (Some(d), true) = (&self.dictionary, r.dictionary) {
            let at = match *dict_at {
                Some(at) => at,
                None => {
                    let at = writer.append(&d.bytes).map_err(err)?;
                    *dict_at = Some(at);
                    at
                }
            };
            (meta.dict_offset, meta.dict_len, meta.dict_crc) = (at, d.bytes.len() as u32, d.crc);
        }
        meta.offset = writer.append(&r.frame).map_err(err)?;
        writer.append(&r.table).map_err(err)?;
        meta.slot = index.add(r.tokens);
        self.pack_raw += u64::from(meta.raw_len);

        let plan = &plans[r.plan];
        let manifest = self.manifest.get_or_insert_with(|| self.archive.manifest.clone());
        let record = manifest.files.entry(plan.file.rel.clone()).or_default();
        if plan.new_generation && !self.started[r.plan] {
            let number = record.generations.last().map_or(1, |g| g.number + 1);
            record.generations.push(Generation { number, dev: plan.file.dev, ino: plan.file.ino, ..Generation::default() });
            self.summary.new_generations += usize::from(number > 1);
        }
        self.started[r.plan] = true;
        let Some(generation) = record.generations.last_mut() else {
            return Ok(());
        };
        generation.sealed += u64::from(meta.raw_len);
        let head_len = generation.sealed.min(HEAD).min(plan.head.len() as u64) as usize;
        generation.head_len = head_len as u32;
        generation.head_crc = crc32c::crc32c(&plan.head[..head_len]);
        generation.stat = plan.file.stat;
        self.summary.bytes += u64::from(meta.raw_len);
        self.summary.chunks += 1;
        generation.chunks.push(meta);
        if self.pack_raw >= self.options.pack_bytes {
            self.commit_pack()?;
        }
        Ok(())
    }

    /// Makes the current pack durable and visible.
    fn commit_pack(&mut self) -> Result<(), SealError> {
        let Some((writer, index, _)) = self.pack.take() else {
            return Ok(());
        };
        self.pack_raw = 0;
        let id = writer.id;
        let chunks = index.slots();
        let data_len = writer.len();
        let index = index.encode().map_err(|source| SealError::Compress { source })?;
        let index_len = writer.finish(&index).map_err(|source| SealError::Pack { pack: id, source })?;
        let mut manifest = self.manifest.take().unwrap_or_else(|| self.archive.manifest.clone());
        manifest.packs.push(PackMeta { id, data_len, index_len, chunks });
        self.archive.commit(manifest)?;
        tracing::debug!(pack = id, chunks, "pack committed");
        Ok(())
    }
}

/// Where the blocks of `lines` end: after the first newline at or past
/// each [`BLOCK`] bytes, and at the end.
pub fn block_ends(lines: &[u8]) -> Vec<usize> {
    let mut ends = Vec::with_capacity(lines.len() / BLOCK + 1);
    let mut start = 0;
    while start < lines.len() {
        let from = (start + BLOCK).min(lines.len()) - 1;
        let end = memchr::memchr(b'\n', &lines[from..]).map_or(lines.len(), |k| from + k + 1);
        ends.push(end);
        start = end;
    }
    ends
}

/// Trains the run's dictionary on one block of new lines of up to
/// [`SAMPLE_FILES`] files spread over the plan; `None` when there is too
/// little to learn from (zstd then compresses each block on its own).
fn train(plans: &[Plan], level: i32) -> Option<Dictionary> {
    let step = plans.len().div_ceil(SAMPLE_FILES).max(1);
    let mut samples = Vec::new();
    for plan in plans.iter().step_by(step) {
        let want = (plan.file.size - plan.from).min(BLOCK as u64) as usize;
        let mut buf = vec![0; want];
        let Ok(n) = std::fs::File::open(&plan.file.path).and_then(|f| content::read_full_at(&f, &mut buf, plan.from)) else {
            continue;
        };
        buf.truncate(n);
        if let Some(nl) = memchr::memrchr(b'\n', &buf) {
            buf.truncate(nl + 1);
            samples.push(buf);
        }
    }
    let total: usize = samples.iter().map(Vec::len).sum();
    if samples.len() < 8 || total < 4 * DICTIONARY {
        return None;
    }
    let bytes = zstd::dict::from_samples(&samples, DICTIONARY).ok()?;
    let encoder = zstd::dict::EncoderDictionary::copy(&bytes, level);
    Some(Dictionary { crc: crc32c::crc32c(&bytes), bytes, encoder })
}

/// Compresses, checksums, tokenises and classifies one chunk.
fn prepare(p: Pending, plans: &[Plan], level: i32, dictionary: Option<&Dictionary>) -> io::Result<Ready> {
    let raw = p.raw;
    let plan = &plans[p.plan];
    let rel = tree::display(&plan.file.rel);
    let ends = block_ends(&raw);
    let mut compressor = match dictionary {
        Some(d) => zstd::bulk::Compressor::with_prepared_dictionary(&d.encoder)?,
        None => zstd::bulk::Compressor::new(level)?,
    };
    let mut frame = Vec::new();
    let mut blocks = Vec::with_capacity(ends.len());
    let mut start = 0;
    for &end in &ends {
        let stored = compressor.compress(&raw[start..end])?;
        blocks.push(Block { stored_len: stored.len() as u32, raw_len: (end - start) as u32, stored_crc: crc32c::crc32c(&stored) });
        frame.extend_from_slice(&stored);
        start = end;
    }
    let table = crate::sshd::extract(&rel, &raw);
    let table = if table.is_empty() { table } else { zstd::bulk::compress(&table, 3)? };
    let tokens = index::tokens(&raw, &ends);
    let long = tokens.long;
    let (mut first, mut last) = (0, 0);
    let mut unstamped = false;
    for line in raw[..raw.len().saturating_sub(1)].split(|&b| b == b'\n') {
        match linetime::parse(line, plan.year) {
            Some(t) => {
                let s = manifest::stamp(&t);
                first = if first == 0 { s } else { first.min(s) };
                last = last.max(s);
            }
            None => unstamped = true,
        }
    }
    let lines = memchr::memchr_iter(b'\n', &raw).count() as u64;
    let mut flags = 0;
    if memchr::memchr(0, &raw).is_some() {
        flags |= FLAG_NUL;
    }
    if long {
        flags |= FLAG_LONG_TOKEN;
    }
    if unstamped {
        flags |= FLAG_UNSTAMPED;
    }
    let meta = Chunk {
        stored_len: frame.len() as u32,
        stored_crc: crc32c::crc32c(&frame),
        raw_len: raw.len() as u32,
        raw_crc: crc32c::crc32c(&raw),
        lines,
        flags,
        first,
        last,
        table_len: table.len() as u32,
        table_crc: crc32c::crc32c(&table),
        blocks,
        ..Chunk::default()
    };
    Ok(Ready { plan: p.plan, frame, table, tokens, meta, dictionary: dictionary.is_some() })
}
