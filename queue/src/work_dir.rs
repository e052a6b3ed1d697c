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
//! - every file is opened with `O_NOFOLLOW` (a link at its name fails the
//!   open, "Too many levels of symbolic links"), segments are created with
//!   `O_EXCL` as well, and the lock file and checkpoint must belong to this
//!   process's user;
//! - permissions are set through the open file (`fchmod`), never by name.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::QueueError;

/// `OpenOptions` that never follow a symbolic link at the file's name.
pub(crate) fn no_follow() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    options
}

/// Opens `path` for reading without following a link at its name.
pub(crate) fn open_read(path: &Path) -> std::io::Result<File> {
    no_follow().read(true).open(path)
}

/// Refuses a directory that another account could plant files in: one that
/// anyone may write without the sticky bit, or one that belongs to another
/// user than root, this process's, or `also` (the user it drops to).
pub(crate) fn check_directory(dir: &Path, also: Option<u32>) -> Result<(), QueueError> {
    let meta = std::fs::metadata(dir).map_err(QueueError::io("checking queue directory", dir))?;
    let mode = meta.mode();
    let unsafe_dir = |why: String| QueueError::UnsafeDirectory { path: dir.to_path_buf(), why };
    if mode & 0o002 != 0 && mode & 0o1000 == 0 {
        return Err(unsafe_dir(format!(
            "it is writable by everyone (mode {:04o}) without the sticky bit, so anyone could replace the queue's files",
            mode & 0o7777
        )));
    }
    let me = effective_uid().map_err(QueueError::io("reading this process's user id from", "/proc/self/status"))?;
    if meta.uid() != 0 && meta.uid() != me && Some(meta.uid()) != also {
        return Err(unsafe_dir(format!(
            "it belongs to uid {}, neither root nor this process's user (uid {me}) nor the one it drops to, who controls what is in it",
            meta.uid()
        )));
    }
    Ok(())
}

/// Refuses a queue file that belongs to another user than this process's
/// or `also` (the user it drops to): one planted there, as a regular file,
/// before the queue first made it. Makes it private (0600) through the open
/// file.
pub(crate) fn check_own_file(file: &File, path: &Path, also: Option<u32>) -> Result<(), QueueError> {
    let meta = file.metadata().map_err(QueueError::io("checking queue file", path))?;
    let me = effective_uid().map_err(QueueError::io("reading this process's user id from", "/proc/self/status"))?;
    if meta.uid() != me && Some(meta.uid()) != also {
        return Err(QueueError::UnsafeDirectory {
            path: path.to_path_buf(),
            why: format!("the file belongs to uid {}, not to this process's user (uid {me})", meta.uid()),
        });
    }
    make_private(file, path);
    Ok(())
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

    #[test]
    fn effective_uid_is_this_process_s() {
        let dir = tempfile::tempdir().unwrap();
        let mine = std::fs::metadata(dir.path()).unwrap().uid();
        assert_eq!(effective_uid().unwrap(), mine, "a directory this process made belongs to its effective user");
    }
}
