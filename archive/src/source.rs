//! The archive as the reports' [`Source`]: the sshd tables stored with
//! every sealed chunk (every generation), and the complete lines of the
//! live tails not sealed yet. A damaged table is named in the log and
//! skipped; the rest of the report stands.

use std::io;
use std::path::{Path, PathBuf};

use crate::content;
use crate::report::Source;
use crate::store::Archive;
use crate::tree;

pub struct ArchiveSource {
    pub archive: Archive,
    pub root: PathBuf,
}

impl ArchiveSource {
    pub fn open(archive_dir: &Path, root: &Path) -> Result<ArchiveSource, crate::store::OpenError> {
        Ok(ArchiveSource { archive: Archive::open(archive_dir)?, root: root.to_path_buf() })
    }
}

impl Source for ArchiveSource {
    fn for_each_table(&self, each: &mut dyn FnMut(&str, &[u8]) -> io::Result<()>) -> io::Result<()> {
        for (rel, rec) in &self.archive.manifest.files {
            let name = tree::display(rel);
            for c in rec.generations.iter().flat_map(|g| &g.chunks).filter(|c| c.table_len > 0) {
                match self.archive.packs.table(c) {
                    Ok(table) => each(&name, &table)?,
                    Err(e) => tracing::warn!("{name}: sshd table {e} (skipped)"),
                }
            }
        }
        Ok(())
    }

    fn for_each_tail(&self, each: &mut dyn FnMut(&str, &[u8]) -> io::Result<()>) -> io::Result<()> {
        let (files, errors) = tree::walk(&self.root, Some(&self.archive.dir));
        let mut errors = errors;
        let views = content::views(&self.archive.manifest, &self.root, &files, &mut errors);
        for e in errors {
            tracing::warn!("{e}");
        }
        for v in views {
            let Some((start, end)) = v.tail else { continue };
            let name = tree::display(&v.rel);
            content::for_each_block(&v.path, start, end, 8 << 20, |block| {
                // Only complete lines: a final partial line is not an event yet.
                match memchr::memrchr(b'\n', block) {
                    Some(nl) => each(&name, &block[..=nl]),
                    None => Ok(()),
                }
            })?;
        }
        Ok(())
    }
}
