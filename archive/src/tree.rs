//! The collector's tree as `grep -r -- *` sees it from ROOT: every regular
//! file below ROOT's entries that do not start with a dot (the shell's `*`),
//! not following symbolic links below them; the archive's own folder is
//! left out when it lies inside ROOT. And how a file is recognised again:
//! its device, inode and the checksum of its first sealed bytes.

use std::fs::{self, File, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::store::manifest::{FileStat, Generation};

/// How many leading bytes identify a file's content.
pub const HEAD: u64 = 4096;

/// A regular file of the tree.
#[derive(Clone, Debug)]
pub struct TreeFile {
    /// Relative to ROOT, components joined by `/`.
    pub rel: Vec<u8>,
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub stat: FileStat,
}

impl TreeFile {
    pub fn from_meta(rel: Vec<u8>, path: PathBuf, meta: &Metadata) -> TreeFile {
        let ns = |secs: i64, nsecs: i64| secs.saturating_mul(1_000_000_000).saturating_add(nsecs);
        let stat =
            FileStat { size: meta.len(), mtime_ns: ns(meta.mtime(), meta.mtime_nsec()), ctime_ns: ns(meta.ctime(), meta.ctime_nsec()) };
        TreeFile { rel, path, dev: meta.dev(), ino: meta.ino(), size: meta.len(), stat }
    }

    /// The file's first `min(size, HEAD)` bytes.
    pub fn head(&self) -> io::Result<Vec<u8>> {
        self.first_bytes(self.size.min(HEAD) as usize)
    }

    /// Up to `n` first bytes of the file (fewer if it is shorter now).
    fn first_bytes(&self, n: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0; n];
        let got = crate::content::read_full_at(&File::open(&self.path)?, &mut buf, 0)?;
        buf.truncate(got);
        Ok(buf)
    }

    /// Whether this is still the file `generation` sealed, grown or not:
    /// same device and inode, at least as long, same first bytes. A file
    /// whose stat (size, mtime, ctime) is still the one the seal recorded
    /// costs no read: any write or truncation since would have changed it.
    pub fn continues(&self, generation: &Generation) -> io::Result<bool> {
        if (self.dev, self.ino) != (generation.dev, generation.ino) || self.size < generation.sealed {
            return Ok(false);
        }
        if self.stat == generation.stat {
            return Ok(true);
        }
        let n = generation.head_len as usize;
        let head = self.first_bytes(n)?;
        Ok(head.len() == n && crc32c::crc32c(&head) == generation.head_crc)
    }
}

/// The files of the tree, sorted by their relative path's bytes, and the
/// errors met on the way (each names the path).
pub fn walk(root: &Path, skip: Option<&Path>) -> (Vec<TreeFile>, Vec<String>) {
    // The archive's folder, known by device and inode (however ROOT spells it).
    let skip = skip.and_then(|s| fs::metadata(s).ok()).map(|m| (m.dev(), m.ino()));
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let entries = match sorted_entries(root) {
        Ok(e) => e,
        Err(e) => {
            errors.push(format!("{}: {e}", root.display()));
            return (files, errors);
        }
    };
    for (name, path) in entries {
        if name.first() == Some(&b'.') {
            continue;
        }
        // The shell's `*` names these on grep's command line: links are followed here.
        match fs::metadata(&path) {
            Ok(meta) => visit(&path, name, meta, skip, &mut files, &mut errors),
            Err(e) => errors.push(format!("{}: {e}", path.display())),
        }
    }
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    (files, errors)
}

fn visit(path: &Path, rel: Vec<u8>, meta: Metadata, skip: Option<(u64, u64)>, files: &mut Vec<TreeFile>, errors: &mut Vec<String>) {
    if meta.is_file() {
        files.push(TreeFile::from_meta(rel, path.to_path_buf(), &meta));
        return;
    }
    if !meta.is_dir() {
        return;
    }
    if skip == Some((meta.dev(), meta.ino())) {
        return;
    }
    let entries = match sorted_entries(path) {
        Ok(e) => e,
        Err(e) => {
            errors.push(format!("{}: {e}", path.display()));
            return;
        }
    };
    for (name, child) in entries {
        match fs::symlink_metadata(&child) {
            Ok(meta) if meta.file_type().is_symlink() => {}
            Ok(meta) => {
                let mut child_rel = rel.clone();
                child_rel.push(b'/');
                child_rel.extend_from_slice(&name);
                visit(&child, child_rel, meta, skip, files, errors);
            }
            Err(e) => errors.push(format!("{}: {e}", child.display())),
        }
    }
}

fn sorted_entries(dir: &Path) -> io::Result<Vec<(Vec<u8>, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        out.push((entry.file_name().as_bytes().to_vec(), entry.path()));
    }
    out.sort();
    Ok(out)
}

/// A relative path's bytes as a path below `root`.
pub fn join(root: &Path, rel: &[u8]) -> PathBuf {
    root.join(std::ffi::OsStr::from_bytes(rel))
}

/// A relative path for messages and for the sshd tables.
pub fn display(rel: &[u8]) -> String {
    String::from_utf8_lossy(rel).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::manifest::Generation;

    fn tree_file(path: &Path) -> TreeFile {
        let meta = fs::metadata(path).unwrap_or_else(|e| panic!("{e}"));
        TreeFile::from_meta(b"f".to_vec(), path.to_path_buf(), &meta)
    }

    #[test]
    fn an_unchanged_file_is_known_by_its_stat_and_a_changed_one_by_its_head() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("f");
        fs::write(&path, b"first line\n").unwrap_or_else(|e| panic!("{e}"));
        let f = tree_file(&path);
        let head = f.head().unwrap_or_default();
        // A head checksum that does not match: only a file whose stat is the
        // recorded one is taken as unchanged without reading it.
        let g = Generation {
            dev: f.dev,
            ino: f.ino,
            sealed: 11,
            head_len: head.len() as u32,
            head_crc: !crc32c::crc32c(&head),
            stat: f.stat,
            ..Generation::default()
        };
        assert!(f.continues(&g).unwrap_or(false), "same stat: no read, taken as unchanged");
        // Rewritten in place, same length: the stat differs, so the head is read.
        fs::write(&path, b"other line\n").unwrap_or_else(|e| panic!("{e}"));
        let f = tree_file(&path);
        assert_ne!(f.stat, g.stat);
        assert!(!f.continues(&g).unwrap_or(true), "rewritten: the head decides");
        let g = Generation { head_crc: crc32c::crc32c(b"other line\n"), ..g };
        assert!(f.continues(&g).unwrap_or(false), "grown or touched with the same head: continues");
    }
}
