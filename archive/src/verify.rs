//! `gsslog verify`: every chunk against its checksums, every pack index
//! against its own, and every sealed byte of the files still in the tree
//! against the file.

use std::fs::File;
use std::path::Path;

use rayon::prelude::*;

use crate::content::read_full_at;
use crate::progress::Progress;
use crate::store::manifest::{FileRecord, Generation};
use crate::store::{Archive, OpenError};
use crate::tree;

/// Checks the archive; returns one line per problem, naming the file and the cause.
pub fn verify(archive_dir: &Path, root: &Path) -> Result<Vec<String>, OpenError> {
    let archive = Archive::open(archive_dir)?;
    let total: u64 = archive.manifest.files.values().flat_map(|r| &r.generations).map(|g| g.sealed).sum();
    let progress = Progress::new("verify", total);
    let mut problems: Vec<String> = archive
        .manifest
        .packs
        .par_iter()
        .filter_map(|p| {
            let checked = archive.read_index(p.id).and_then(|idx| idx.check().map_err(|e| e.to_string()));
            checked.err().map(|e| format!("index of pack {}: {e}", p.id))
        })
        .collect();
    let files: Vec<(&Vec<u8>, &FileRecord)> = archive.manifest.files.iter().collect();
    let per_file: Vec<Vec<String>> = files.par_iter().map(|(rel, rec)| verify_file(&archive, root, rel, rec, &progress)).collect();
    progress.finish();
    problems.extend(per_file.into_iter().flatten());
    Ok(problems)
}

fn verify_file(archive: &Archive, root: &Path, rel: &[u8], rec: &FileRecord, progress: &Progress) -> Vec<String> {
    let name = tree::display(rel);
    let mut problems = Vec::new();
    let Some(last) = rec.generations.last() else { return problems };
    let path = tree::join(root, rel);
    let source = match File::open(&path) {
        Ok(f) => match f.metadata() {
            Ok(meta) => {
                use std::os::unix::fs::MetadataExt;
                let same = (meta.dev(), meta.ino()) == (last.dev, last.ino) && meta.len() >= last.sealed;
                same.then_some(f)
            }
            Err(e) => {
                problems.push(format!("{name}: {e}"));
                None
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            problems.push(format!("{name}: {e}"));
            None
        }
    };
    for g in &rec.generations {
        let compare = if std::ptr::eq(g, last) { source.as_ref() } else { None };
        verify_generation(archive, &name, g, compare, &mut problems, progress);
    }
    problems
}

/// Whether `file` holds exactly the sealed bytes of `g` at their offsets.
pub fn compare_with_source(archive: &Archive, name: &str, g: &Generation, file: &File) -> Vec<String> {
    let mut problems = Vec::new();
    verify_generation(archive, name, g, Some(file), &mut problems, &Progress::new("compare", 0));
    problems
}

fn verify_generation(archive: &Archive, name: &str, g: &Generation, source: Option<&File>, problems: &mut Vec<String>, progress: &Progress) {
    let mut offset = 0u64;
    let mut live = Vec::new();
    for (k, c) in g.chunks.iter().enumerate() {
        progress.add(u64::from(c.raw_len));
        match archive.packs.chunk(c) {
            Err(e) => problems.push(format!("{name}: generation {} chunk {k} (bytes {offset}..{}): {e}", g.number, offset + u64::from(c.raw_len))),
            Ok(sealed) => {
                if let Some(f) = source {
                    live.resize(sealed.len(), 0);
                    match read_full_at(f, &mut live, offset) {
                        Ok(n) if n == sealed.len() && live == sealed => {}
                        Ok(n) if n < sealed.len() => problems.push(format!("{name}: shorter than the archive (ends at {})", offset + n as u64)),
                        Ok(_) => {
                            let at = live.iter().zip(&sealed).position(|(a, b)| a != b).unwrap_or(0) as u64 + offset;
                            problems.push(format!("{name}: byte {at} differs from the archive"));
                        }
                        Err(e) => problems.push(format!("{name}: {e}")),
                    }
                }
            }
        }
        offset += u64::from(c.raw_len);
    }
}
