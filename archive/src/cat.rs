//! `gsslog cat`: one file's original bytes, the sealed part from the
//! archive and the live tail from the file, or an earlier generation.

use std::io::{self, Write};
use std::path::Path;

use crate::content;
use crate::store::{Archive, ChunkError, OpenError};
use crate::tree;

#[derive(Debug, thiserror::Error)]
pub enum CatError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("{0}: neither in the tree nor in the archive")]
    NotFound(String),
    #[error("{0}: no generation {1} in the archive")]
    NoGeneration(String, u32),
    #[error("{path}: {source}")]
    Chunk { path: String, source: ChunkError },
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
}

/// Writes `rel`'s bytes (or those of its sealed `generation`) to `out`.
pub fn cat(archive_dir: &Path, root: &Path, rel: &[u8], generation: Option<u32>, out: &mut dyn Write) -> Result<(), CatError> {
    let archive = Archive::open(archive_dir)?;
    let name = tree::display(rel);
    let io_err = |source| CatError::Io { path: name.clone(), source };
    let (chunks, tail, path) = match generation {
        Some(n) => {
            let g = archive
                .manifest
                .files
                .get(rel)
                .and_then(|r| r.generations.iter().find(|g| g.number == n))
                .ok_or_else(|| CatError::NoGeneration(name.clone(), n))?;
            (g.chunks.as_slice(), None, tree::join(root, rel))
        }
        None => {
            let view = content::view_of(&archive.manifest, root, rel).map_err(io_err)?.ok_or_else(|| CatError::NotFound(name.clone()))?;
            (view.generation.map_or(&[][..], |g| g.chunks.as_slice()), view.tail, view.path)
        }
    };
    for c in chunks {
        let bytes = archive.packs.chunk(c).map_err(|source| CatError::Chunk { path: name.clone(), source })?;
        out.write_all(&bytes).map_err(io_err)?;
    }
    if let Some((start, end)) = tail {
        content::for_each_block(&path, start, end, 1 << 20, |b| out.write_all(b)).map_err(io_err)?;
    }
    out.flush().map_err(io_err)
}
