//! The work directory and the files in it, against planted links.
//!
//! The shipper may run as root, and `$WorkDirectory` may be a directory that
//! another account can write (docs/security.md allows a shared spool). Whoever can
//! write it could plant `NAME.lock` or `NAME.ckpt` as a symbolic link to any
//! file, which the queue would then truncate, resize and chmod; or plant a
//! regular file of their own, which the queue would fill with the node's
//! logs. So:
//! - an existing directory that anyone may write without the sticky bit
//!   (`/tmp` has it), or that belongs to another account than root or this
//!   process's, is refused;
//! - the directory is opened once ([`WorkDir`]) and every file is opened,
//!   listed, renamed and deleted relative to that open directory (`openat`),
//!   so a directory swapped for another (or for a link) after the checks
//!   changes nothing;
//! - every file is opened with `O_NOFOLLOW` (a link at its name fails the
//!   open, "Too many levels of symbolic links") and `O_NONBLOCK` (a FIFO
//!   planted at a name cannot block the open), segments are created with
//!   `O_EXCL` as well; then the open file must be a regular file with one
//!   link (a hard link to a file elsewhere is refused) belonging to this
//!   process's user, the user it drops to, the directory's owner or root;
//! - permissions are set through the open file (`fchmod`), never by name.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat, CWD};

use crate::error::QueueError;

/// How a file in the work directory is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    /// Read and write an existing file.
    ReadWrite,
    /// Read and write, creating the file (0600) if it is not there.
    ReadWriteCreate,
    /// A new file (0600), for appending; fails if the name exists.
    CreateNew,
}

/// The queue's directory, held open: every file in it is reached through
/// this descriptor, never by a path that could lead elsewhere.
pub(crate) struct WorkDir {
    path: PathBuf,
    fd: OwnedFd,
    /// The directory's owner, whose files are trusted.
    owner: u32,
    /// A user besides this process's whose files these may be (the one it
    /// drops to).
    also: Option<u32>,
}

impl WorkDir {
    /// Opens `path`, refusing a directory that another account could plant
    /// files in: one that anyone may write without the sticky bit, or one
    /// that belongs to another user than root, this process's, or `also`.
    pub(crate) fn open(path: &Path, also: Option<u32>) -> Result<WorkDir, QueueError> {
        let dir = Self::open_unchecked(path).map_err(QueueError::io("opening queue directory", path))?;
        let meta = rustix::fs::fstat(&dir.fd).map_err(|e| QueueError::Io { action: "checking queue directory", path: path.into(), source: e.into() })?;
        let mode = meta.st_mode;
        let unsafe_dir = |why: String| QueueError::UnsafeDirectory { path: path.to_path_buf(), why };
        if mode & 0o002 != 0 && mode & 0o1000 == 0 {
            return Err(unsafe_dir(format!(
                "it is writable by everyone (mode {:04o}) without the sticky bit, so anyone could replace the queue's files",
                mode & 0o7777
            )));
        }
        let me = effective_uid().map_err(QueueError::io("reading this process's user id from", "/proc/self/status"))?;
        if meta.st_uid != 0 && meta.st_uid != me && Some(meta.st_uid) != also {
            return Err(unsafe_dir(format!(
                "it belongs to uid {}, neither root nor this process's user (uid {me}) nor the one it drops to, who controls what is in it",
                meta.st_uid
            )));
        }
        Ok(WorkDir { also, ..dir })
    }

    /// Opens `path` for looking only (the backlog reader): files are still
    /// checked as they are opened.
    pub(crate) fn open_unchecked(path: &Path) -> std::io::Result<WorkDir> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(CWD, path, flags, Mode::empty())?;
        let owner = rustix::fs::fstat(&fd)?.st_uid;
        Ok(WorkDir { path: path.to_path_buf(), fd, owner, also: None })
    }

    /// Where `name` is, for messages.
    pub(crate) fn path_of(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Opens `name` in the directory, never following a link at it nor
    /// blocking on a FIFO, and checks what it opened: a regular file with
    /// one link, of a trusted owner.
    pub(crate) fn open_file(&self, name: &str, access: Access) -> std::io::Result<File> {
        let (flags, mode) = match access {
            Access::Read => (OFlags::RDONLY, Mode::empty()),
            Access::ReadWrite => (OFlags::RDWR, Mode::empty()),
            Access::ReadWriteCreate => (OFlags::RDWR | OFlags::CREATE, private_mode()),
            Access::CreateNew => (OFlags::RDWR | OFlags::APPEND | OFlags::CREATE | OFlags::EXCL, private_mode()),
        };
        // O_NONBLOCK: opening a FIFO would otherwise wait for its other end.
        // (It changes nothing for a regular file's reads and writes.)
        let flags = flags | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
        let fd = rustix::fs::openat(&self.fd, name, flags, mode).map_err(|e| match e {
            rustix::io::Errno::NXIO => refused("a FIFO or device sits at the name, not a regular file".into()),
            e => e.into(),
        })?;
        let meta = rustix::fs::fstat(&fd)?;
        self.check_file(&meta)?;
        Ok(File::from(fd))
    }

    fn check_file(&self, meta: &Stat) -> std::io::Result<()> {
        if FileType::from_raw_mode(meta.st_mode) != FileType::RegularFile {
            return Err(refused(format!("not a regular file ({:?})", FileType::from_raw_mode(meta.st_mode))));
        }
        if meta.st_nlink != 1 {
            return Err(refused(format!("it has {} hard links: another name could be a file elsewhere", meta.st_nlink)));
        }
        let me = effective_uid()?;
        let owner = meta.st_uid;
        if owner != me && owner != 0 && owner != self.owner && Some(owner) != self.also {
            return Err(refused(format!("the file belongs to uid {owner}, not to this process's user (uid {me}) nor the directory's")));
        }
        Ok(())
    }

    /// The names in the directory.
    pub(crate) fn list(&self) -> std::io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in rustix::fs::Dir::read_from(&self.fd)? {
            let entry = entry?;
            if let Ok(name) = entry.file_name().to_str() {
                names.push(name.to_string());
            }
        }
        Ok(names)
    }

    /// Deletes `name` (not following a link: the link itself goes).
    pub(crate) fn remove(&self, name: &str) -> std::io::Result<()> {
        Ok(rustix::fs::unlinkat(&self.fd, name, AtFlags::empty())?)
    }

    pub(crate) fn rename(&self, from: &str, to: &str) -> std::io::Result<()> {
        Ok(rustix::fs::renameat(&self.fd, from, &self.fd, to)?)
    }

    /// When `name` was last written, and its size (of a link: the link's).
    pub(crate) fn stat(&self, name: &str) -> std::io::Result<(SystemTime, u64)> {
        let meta = rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)?;
        let since = Duration::new(u64::try_from(meta.st_mtime).unwrap_or(0), u32::try_from(meta.st_mtime_nsec).unwrap_or(0));
        Ok((SystemTime::UNIX_EPOCH + since, u64::try_from(meta.st_size).unwrap_or(0)))
    }

    /// Forces the directory's entries (files created, deleted) to disk.
    pub(crate) fn sync(&self) -> std::io::Result<()> {
        Ok(rustix::fs::fsync(&self.fd)?)
    }
}

fn private_mode() -> Mode {
    Mode::from_raw_mode(crate::recovery::PRIVATE_FILE)
}

fn refused(why: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::PermissionDenied, format!("refusing the file: {why}"))
}

/// Files left by an earlier version (created 0644) are made private when a
/// queue opens them, through the open file; a failure is logged, the queue
/// still starts.
pub(crate) fn make_private(file: &File, path: &Path) {
    let Ok(meta) = file.metadata() else { return };
    if meta.permissions().mode() & 0o077 == 0 {
        return;
    }
    if let Err(e) = file.set_permissions(std::fs::Permissions::from_mode(crate::recovery::PRIVATE_FILE)) {
        tracing::warn!(file = %path.display(), error = %e, "cannot make queue file private (0600)");
    }
}

/// This process's effective user id, from `/proc/self/status` (no `unsafe`
/// needed, and right after a privilege drop too).
fn effective_uid() -> std::io::Result<u32> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|euid| euid.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no effective uid in /proc/self/status"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn effective_uid_is_this_process_s() {
        let dir = tempfile::tempdir().unwrap();
        let mine = std::fs::metadata(dir.path()).unwrap().uid();
        assert_eq!(effective_uid().unwrap(), mine, "a directory this process made belongs to its effective user");
    }
}
