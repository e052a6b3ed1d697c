//! What each file of the tree holds now, pieced together from the archive
//! and the live file: the sealed chunks of its last generation while the
//! file on disk still continues that generation, followed by the live bytes
//! not sealed yet (the tail); the whole live file when it was truncated or
//! replaced since; the sealed chunks alone when the file is gone (removed
//! by `seal --remove-sources`).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::store::manifest::{Chunk, Generation, Manifest};
use crate::tree::{self, TreeFile};

/// One file as grep and cat see it.
pub struct FileView<'a> {
    pub rel: Vec<u8>,
    pub path: PathBuf,
    /// The sealed generation whose chunks come first, if any.
    pub generation: Option<&'a Generation>,
    /// Live bytes `[start, end)` of `path` after the sealed part.
    pub tail: Option<(u64, u64)>,
}

impl FileView<'_> {
    pub fn chunks(&self) -> &[Chunk] {
        self.generation.map_or(&[], |g| g.chunks.as_slice())
    }
}

/// Every file of the tree and of the archive, sorted by relative path.
/// `errors` gets one message for each file that could not be read.
pub fn views<'a>(manifest: &'a Manifest, root: &Path, files: &[TreeFile], errors: &mut Vec<String>) -> Vec<FileView<'a>> {
    let mut out = Vec::with_capacity(files.len().max(manifest.files.len()));
    let mut live = files.iter().peekable();
    let mut sealed = manifest.files.iter().peekable();
    loop {
        let order = match (live.peek(), sealed.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(f), Some((rel, _))) => f.rel.as_slice().cmp(rel.as_slice()),
        };
        match order {
            std::cmp::Ordering::Less => {
                let Some(f) = live.next() else { break };
                out.push(FileView { rel: f.rel.clone(), path: f.path.clone(), generation: None, tail: Some((0, f.size)) });
            }
            std::cmp::Ordering::Greater => {
                let Some((rel, rec)) = sealed.next() else { break };
                out.push(FileView { rel: rel.clone(), path: tree::join(root, rel), generation: rec.generations.last(), tail: None });
            }
            std::cmp::Ordering::Equal => {
                let (Some(f), Some((_, rec))) = (live.next(), sealed.next()) else { break };
                let last = rec.generations.last();
                let continues = match last.map(|g| f.continues(g)) {
                    Some(Ok(c)) => c,
                    Some(Err(e)) => {
                        errors.push(format!("{}: {e}", f.path.display()));
                        false
                    }
                    None => false,
                };
                let view = match last {
                    Some(g) if continues => FileView { rel: f.rel.clone(), path: f.path.clone(), generation: Some(g), tail: Some((g.sealed, f.size)) },
                    _ => FileView { rel: f.rel.clone(), path: f.path.clone(), generation: None, tail: Some((0, f.size)) },
                };
                out.push(view);
            }
        }
    }
    out
}

/// The live bytes `[start, end)` of `path` in blocks of about `block`
/// bytes, each ending at a newline except the very last when the file does.
pub fn for_each_block(path: &Path, start: u64, end: u64, block: usize, mut each: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
    let file = File::open(path)?;
    let mut pos = start;
    let mut buf: Vec<u8> = Vec::new();
    while pos < end {
        let want = (block as u64).min(end - pos) as usize;
        let old = buf.len();
        buf.resize(old + want, 0);
        let n = read_full_at(&file, &mut buf[old..], pos)?;
        buf.truncate(old + n);
        if n == 0 {
            // The file shrank while read: what was there is all there is.
            break;
        }
        pos += n as u64;
        if pos < end {
            if let Some(nl) = memchr::memrchr(b'\n', &buf) {
                each(&buf[..=nl])?;
                buf.drain(..=nl);
            }
        }
    }
    if !buf.is_empty() {
        each(&buf)?;
    }
    Ok(())
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
pub fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// The view of one file (see [`views`]); `None` when neither the tree nor
/// the archive has it.
pub fn view_of<'a>(manifest: &'a Manifest, root: &Path, rel: &[u8]) -> io::Result<Option<FileView<'a>>> {
    let path = tree::join(root, rel);
    let last = manifest.files.get(rel).and_then(|r| r.generations.last());
    let live = match std::fs::metadata(&path) {
        Ok(meta) if meta.is_file() => Some(TreeFile::from_meta(rel.to_vec(), path.clone(), &meta)),
        Ok(_) => None,
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    Ok(match (live, last) {
        (None, None) => None,
        (None, Some(g)) => Some(FileView { rel: rel.to_vec(), path, generation: Some(g), tail: None }),
        (Some(f), Some(g)) if f.continues(g)? => Some(FileView { rel: rel.to_vec(), path, generation: Some(g), tail: Some((g.sealed, f.size)) }),
        (Some(f), _) => Some(FileView { rel: rel.to_vec(), path, generation: None, tail: Some((0, f.size)) }),
    })
}
