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

use rayon::prelude::*;

use crate::content;
use crate::linetime::{self, PathDate};
use crate::progress::Progress;
use crate::store::index::{self, IndexBuilder};
use crate::store::manifest::{self, Chunk, Generation, Manifest, PackMeta, FLAG_LONG_TOKEN, FLAG_NUL, FLAG_UNSTAMPED};
use crate::store::pack::{PackWriter, MAX_CHUNK};
use crate::store::{Archive, OpenError};
use crate::tree::{self, TreeFile, HEAD};

/// Lines per chunk: the unit of decompression and of the token index.
pub const CHUNK: usize = 4 << 20;
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
}

impl Default for SealOptions {
    fn default() -> Self {
        SealOptions { level: 9, pack_bytes: PACK }
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

/// A chunk ready to append.
struct Ready {
    plan: usize,
    frame: Vec<u8>,
    table: Vec<u8>,
    tokens: index::Tokens,
    meta: Chunk,
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
    let progress = Progress::new("seal", total);
    let mut run = Run { archive: &mut archive, manifest: None, pack: None, compressed: Vec::new(), pack_raw: 0, options, summary: SealSummary::default(), started: vec![false; plans.len()] };
    let mut batch: Vec<Pending> = Vec::new();
    let mut batch_bytes = 0;
    let mut fatal = None;
    for (i, plan) in plans.iter().enumerate() {
        let mut sealed_here = false;
        let read = content::for_each_block(&plan.file.path, plan.from, plan.file.size, CHUNK, |block| {
            // Only complete lines: the final block may end in a partial one.
            let Some(nl) = memchr::memrchr(b'\n', block) else { return Ok(()) };
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
    pack: Option<(PackWriter, IndexBuilder)>,
    /// Chunks compressed, not appended yet.
    compressed: Vec<Ready>,
    /// Bytes of lines in the current pack.
    pack_raw: u64,
    options: SealOptions,
    summary: SealSummary,
    started: Vec<bool>,
}

impl Run<'_> {
    /// Compresses `batch` while the batch before it is appended (so that the
    /// pack and index work, which is serial, overlaps the compression).
    fn flush(&mut self, plans: &[Plan], batch: Vec<Pending>) -> Result<(), SealError> {
        let level = self.options.level;
        let previous = std::mem::take(&mut self.compressed);
        let (ready, appended) = rayon::join(
            || batch.into_par_iter().map(|p| prepare(p, plans, level)).collect::<io::Result<Vec<Ready>>>(),
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
            let writer = PackWriter::create(&Archive::packs_dir(&self.archive.dir), id).map_err(|source| SealError::Pack { pack: id, source })?;
            self.pack = Some((writer, IndexBuilder::default()));
        }
        let Some((writer, index)) = self.pack.as_mut() else { return Ok(()) };
        let pack = writer.id;
        let err = |source| SealError::Pack { pack, source };
        let mut meta = r.meta;
        meta.pack = pack;
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
        let Some(generation) = record.generations.last_mut() else { return Ok(()) };
        generation.sealed += u64::from(meta.raw_len);
        let head_len = generation.sealed.min(HEAD).min(plan.head.len() as u64) as usize;
        generation.head_len = head_len as u32;
        generation.head_crc = crc32c::crc32c(&plan.head[..head_len]);
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
        let Some((writer, index)) = self.pack.take() else { return Ok(()) };
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

/// Compresses, checksums, tokenises and classifies one chunk.
fn prepare(p: Pending, plans: &[Plan], level: i32) -> io::Result<Ready> {
    let raw = p.raw;
    let plan = &plans[p.plan];
    let rel = tree::display(&plan.file.rel);
    let frame = zstd::bulk::compress(&raw, level)?;
    let table = crate::sshd::extract(&rel, &raw);
    let table = if table.is_empty() { table } else { zstd::bulk::compress(&table, 3)? };
    let tokens = index::tokens(&raw);
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
        ..Chunk::default()
    };
    Ok(Ready { plan: p.plan, frame, table, tokens, meta })
}
