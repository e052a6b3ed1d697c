//! The archive on disk (see `archive/FORMAT.md`): a manifest, and packs of
//! zstd-compressed chunks of complete lines with a token index each.
//!
//! - `manifest.rs`: what the archive holds, replaced atomically at each commit;
//! - `pack.rs`: pack files, written whole then renamed; reading chunks back
//!   with their checksums;
//! - `index.rs`: tokens, the per-pack index, and the probes grep asks it;
//! - `codec.rs`: the bounded binary reader and writer;
//! - `fsutil.rs`: atomic replacement and directory fsync.

pub mod codec;
pub mod fsutil;
pub mod index;
pub mod manifest;
pub mod pack;

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use manifest::Manifest;
use pack::Packs;

/// An archive file that is not what it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("truncated")]
    Truncated,
    #[error("not a gsslog {0} file")]
    BadMagic(&'static str),
    #[error("{0} checksum mismatch")]
    Checksum(&'static str),
    #[error("{0}")]
    Invalid(&'static str),
}

/// A chunk that cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("damaged: {0}")]
    Damaged(String),
    #[error("unreadable: {0}")]
    Unreadable(String),
}

/// Why the archive cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: {source}")]
    Format { path: PathBuf, source: FormatError },
    #[error("{0}: another gsslog seal is running on this archive")]
    Locked(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> OpenError + '_ {
    move |source| OpenError::Io { path: path.to_path_buf(), source }
}

/// An open archive: its manifest and its packs.
pub struct Archive {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub packs: Packs,
    /// Held while sealing: one writer at a time.
    _lock: Option<File>,
}

impl Archive {
    pub fn manifest_path(dir: &Path) -> PathBuf {
        dir.join("manifest")
    }

    pub fn packs_dir(dir: &Path) -> PathBuf {
        dir.join("packs")
    }

    /// Opens the archive to read it. A missing archive reads as empty.
    pub fn open(dir: &Path) -> Result<Archive, OpenError> {
        let manifest = read_manifest(dir)?;
        let packs = Packs::open(&Self::packs_dir(dir), &manifest);
        Ok(Archive { dir: dir.to_path_buf(), manifest, packs, _lock: None })
    }

    /// Opens (creating) the archive to seal into it: takes its lock, and
    /// deletes what a killed run left (packs the manifest does not name).
    pub fn open_for_sealing(dir: &Path) -> Result<Archive, OpenError> {
        let packs_dir = Self::packs_dir(dir);
        fs::create_dir_all(&packs_dir).map_err(io_err(&packs_dir))?;
        let lock_path = dir.join("lock");
        let lock = File::create(&lock_path).map_err(io_err(&lock_path))?;
        if lock.try_lock().is_err() {
            return Err(OpenError::Locked(dir.to_path_buf()));
        }
        let manifest = read_manifest(dir)?;
        let entries = fs::read_dir(&packs_dir).map_err(io_err(&packs_dir))?;
        for entry in entries {
            let entry = entry.map_err(io_err(&packs_dir))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let known = name
                .split_once('.')
                .filter(|(_, ext)| *ext == "pack" || *ext == "idx")
                .and_then(|(id, _)| id.parse::<u64>().ok())
                .is_some_and(|id| manifest.pack(id).is_some());
            if !known {
                tracing::info!(file = %entry.path().display(), "removing what an interrupted seal left");
                fs::remove_file(entry.path()).map_err(io_err(&entry.path()))?;
            }
        }
        let packs = Packs::open(&packs_dir, &manifest);
        Ok(Archive { dir: dir.to_path_buf(), manifest, packs, _lock: Some(lock) })
    }

    /// Makes `manifest` the archive's state, atomically and durably.
    pub fn commit(&mut self, manifest: Manifest) -> Result<(), OpenError> {
        let path = Self::manifest_path(&self.dir);
        fsutil::replace_file(&path, &manifest.encode()).map_err(io_err(&path))?;
        self.packs = Packs::open(&Self::packs_dir(&self.dir), &manifest);
        self.manifest = manifest;
        Ok(())
    }

    /// Opens a pack's index file (its header read; the rest when asked).
    pub fn read_index(&self, pack: u64) -> Result<index::PackIndex, String> {
        index::PackIndex::open(&pack::index_path(&Self::packs_dir(&self.dir), pack))
    }
}

fn read_manifest(dir: &Path) -> Result<Manifest, OpenError> {
    let path = Archive::manifest_path(dir);
    match fs::read(&path) {
        Ok(bytes) => Manifest::decode(&bytes).map_err(|source| OpenError::Format { path, source }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Manifest::default()),
        Err(source) => Err(OpenError::Io { path, source }),
    }
}
