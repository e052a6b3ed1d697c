//! `gsslog grep`: searches sealed chunks and live tails together and
//! prints what `(cd ROOT && grep -r OPTS -e PATTERN -- *) | LC_ALL=C sort
//! -t: -k1,1 -s` prints over the original tree (GNU grep in the C locale).
//!
//! Files are visited in byte order of their relative paths (see
//! `content::views`); within a file, its sealed chunks then its tail. A
//! chunk is read only if the filters (`filter.rs`) and its pack's token
//! index (for the literal the pattern requires) say it may hold a match.
//! Work is done on every core, a window of chunks at a time, and printed in
//! order. A file with a NUL byte is binary to grep: NUL bytes end lines
//! too, its matches are counted but not printed, and `binary file matches`
//! goes to stderr. A damaged
//! chunk is named on stderr and skipped; the exit status is then 2.

pub mod filter;
pub mod matcher;

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::Path;

use rayon::prelude::*;

use crate::content::{self, FileView};
use crate::linetime::PathDate;
use crate::store::index::Hit;
use crate::store::manifest::{Chunk, FLAG_LONG_TOKEN, FLAG_NUL};
use crate::store::{Archive, OpenError};
use crate::tree;
use filter::Filter;
use matcher::{Matcher, Mode};

#[derive(Clone, Debug, Default)]
pub struct GrepOptions {
    pub mode: Mode,
    pub count: bool,
    pub list: bool,
    pub filter: Filter,
}

#[derive(Debug, thiserror::Error)]
pub enum GrepError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("pattern: {0}")]
    Pattern(String),
    #[error("writing: {0}")]
    Output(io::Error),
}

/// What a search found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub matched: bool,
    /// Something could not be read (named on `err`).
    pub errors: bool,
}

enum Unit {
    /// A chunk of a file's view: all of it, or only these blocks.
    Chunk(usize, usize, Option<Vec<u32>>),
    Tail(usize, u64, u64),
}

impl Unit {
    fn file(&self) -> usize {
        match *self {
            Unit::Chunk(f, _, _) | Unit::Tail(f, _, _) => f,
        }
    }
}

#[derive(Default)]
struct Found {
    count: u64,
    lines: Vec<u8>,
    error: Option<String>,
}

pub fn grep(
    archive_dir: &Path,
    root: &Path,
    pattern: &str,
    options: &GrepOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome, GrepError> {
    let matcher = Matcher::new(pattern, options.mode).map_err(|e| GrepError::Pattern(e.to_string()))?;
    let archive = Archive::open(archive_dir)?;
    let mut errors = Vec::new();
    let (files, walk_errors) = tree::walk(root, Some(archive_dir));
    errors.extend(walk_errors);
    let views: Vec<FileView> = content::views(&archive.manifest, root, &files, &mut errors)
        .into_iter()
        .filter(|v| options.filter.file(&tree::display(&v.rel)))
        .collect();
    let this_year = crate::clock::today_utc().year;
    let years: Vec<i32> = views.iter().map(|v| PathDate::of(&tree::display(&v.rel)).year().unwrap_or(this_year)).collect();

    // The chunks the index rules out, pack by pack.
    let candidates = candidates(&archive, &views, &matcher, err);

    let print_lines = !options.count && !options.list;
    let mut units = Vec::new();
    let mut binary = vec![false; views.len()];
    for (i, v) in views.iter().enumerate() {
        for (k, c) in v.chunks().iter().enumerate() {
            binary[i] |= c.flags & FLAG_NUL != 0;
            if !options.filter.chunk(c) {
                continue;
            }
            match may_hold(&candidates, &matcher, c) {
                Hit::No => {}
                Hit::All => units.push(Unit::Chunk(i, k, None)),
                Hit::Blocks(blocks) => units.push(Unit::Chunk(i, k, Some(blocks))),
            }
        }
        if let Some((start, end)) = v.tail {
            if start < end {
                if !binary[i] {
                    let mut nul = false;
                    if let Err(e) = content::for_each_block(&v.path, start, end, 8 << 20, |b| {
                        nul |= memchr::memchr(0, b).is_some();
                        Ok(())
                    }) {
                        errors.push(format!("{}: {e}", v.path.display()));
                    }
                    binary[i] = nul;
                }
                units.push(Unit::Tail(i, start, end));
            }
        }
    }
    for e in &errors {
        let _ = writeln!(err, "gsslog: {e}");
    }
    let mut outcome = Outcome { matched: false, errors: !errors.is_empty() };

    let scan = |buf: &[u8], file: usize, found: &mut Found| {
        let rel = &views[file].rel;
        let print = print_lines && !binary[file];
        // In a binary file grep takes NUL bytes for line ends too (its lines are
        // not printed, but they are counted and matched so).
        let zapped: Vec<u8>;
        let buf = if binary[file] && memchr::memchr(0, buf).is_some() {
            zapped = buf.iter().map(|&b| if b == 0 { b'\n' } else { b }).collect();
            &zapped[..]
        } else {
            buf
        };
        matcher.for_each_line(buf, |line| {
            if options.filter.by_time() && !options.filter.line(line, years[file]) {
                return true;
            }
            found.count += 1;
            if print {
                found.lines.extend_from_slice(rel);
                found.lines.push(b':');
                found.lines.extend_from_slice(line);
                found.lines.push(b'\n');
            }
            !options.list
        });
    };
    let work = |unit: &Unit| -> Found {
        let mut found = Found::default();
        match *unit {
            Unit::Chunk(file, k, ref blocks) => {
                let chunk = &views[file].chunks()[k];
                let read = match blocks {
                    None => archive.packs.chunk(chunk),
                    Some(blocks) => archive.packs.blocks(chunk, blocks),
                };
                match read {
                    Ok(buf) => scan(&buf, file, &mut found),
                    Err(e) => found.error = Some(format!("{}: {e} (skipped)", tree::display(&views[file].rel))),
                }
            }
            Unit::Tail(file, start, end) => {
                let r = content::for_each_block(&views[file].path, start, end, 8 << 20, |b| {
                    scan(b, file, &mut found);
                    Ok(())
                });
                if let Err(e) = r {
                    found.error = Some(format!("{}: {e}", views[file].path.display()));
                }
            }
        }
        found
    };

    let window = rayon::current_num_threads() * 4;
    let mut current: Option<(usize, u64)> = None;
    let finish = |file: usize, count: u64, out: &mut dyn Write, err: &mut dyn Write| -> io::Result<()> {
        if count == 0 {
            return Ok(());
        }
        let rel = &views[file].rel;
        if options.list {
            out.write_all(rel)?;
            out.write_all(b"\n")?;
        } else if options.count {
            out.write_all(rel)?;
            writeln!(out, ":{count}")?;
        } else if binary[file] {
            writeln!(err, "gsslog: {}: binary file matches", tree::display(rel))?;
        }
        Ok(())
    };
    for batch in units.chunks(window) {
        // With -l, a file already listed needs no more reading.
        let listed = current.filter(|&(_, count)| options.list && count > 0).map(|(f, _)| f);
        let results: Vec<Found> = batch.par_iter().map(|u| if listed == Some(u.file()) { Found::default() } else { work(u) }).collect();
        for (unit, found) in batch.iter().zip(results) {
            let file = unit.file();
            if let Some((f, count)) = current {
                if f != file {
                    finish(f, count, out, err).map_err(GrepError::Output)?;
                    current = None;
                }
            }
            let entry = current.get_or_insert((file, 0));
            entry.1 += found.count;
            outcome.matched |= found.count > 0;
            if let Some(e) = found.error {
                outcome.errors = true;
                let _ = writeln!(err, "gsslog: {e}");
            }
            out.write_all(&found.lines).map_err(GrepError::Output)?;
        }
    }
    if let Some((f, count)) = current {
        finish(f, count, out, err).map_err(GrepError::Output)?;
    }
    out.flush().map_err(GrepError::Output)?;
    Ok(outcome)
}

/// Where the chunks of a pack may hold the probe, slot by slot; `None`: anywhere.
type Slots = Option<Vec<Hit>>;
type Candidates = HashMap<u64, Slots>;

/// For every pack the views read, which slots may hold the probe (`None`: all).
fn candidates(archive: &Archive, views: &[FileView], matcher: &Matcher, err: &mut dyn Write) -> Candidates {
    let Some(probe) = &matcher.probe else {
        return Candidates::new();
    };
    let mut packs: Vec<u64> = views.iter().flat_map(|v| v.chunks().iter().map(|c| c.pack)).collect();
    packs.sort_unstable();
    packs.dedup();
    let answers: Vec<(u64, Result<Slots, String>)> = packs
        .par_iter()
        .map(|&p| (p, archive.read_index(p).and_then(|idx| idx.candidates(probe).map_err(|e| format!("index of pack {p}: {e}")))))
        .collect();
    answers
        .into_iter()
        .map(|(p, answer)| {
            let slots = answer.unwrap_or_else(|e| {
                let _ = writeln!(err, "gsslog: {e}; reading all its chunks");
                None
            });
            (p, slots)
        })
        .collect()
}

/// Where chunk `c` may hold a match: nowhere, anywhere, or in some blocks.
fn may_hold(candidates: &Candidates, matcher: &Matcher, c: &Chunk) -> Hit {
    let Some(probe) = &matcher.probe else {
        return Hit::All;
    };
    if !probe.is_exact() && c.flags & FLAG_LONG_TOKEN != 0 {
        return Hit::All;
    }
    match candidates.get(&c.pack) {
        Some(Some(slots)) => match slots.get(c.slot as usize) {
            // A block the chunk does not have: the index is not this chunk's.
            Some(Hit::Blocks(b)) if b.iter().any(|&k| k as usize >= c.blocks.len()) => Hit::All,
            Some(hit) => hit.clone(),
            None => Hit::All,
        },
        _ => Hit::All,
    }
}
