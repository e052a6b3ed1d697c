//! Files planted in the work directory by another account (issue 21, item
//! 5): links at the lock file's and the checkpoint's names are never
//! followed, files of another user are not used, and a directory anyone may
//! write without the sticky bit, or another user's, is refused. The queue
//! does not open; the planted link's target is unchanged. (Run as root, as
//! CI does: root is who the links would fool.)

use std::fs;
use std::os::unix::fs::{chown, symlink, MetadataExt, PermissionsExt};
use std::path::Path;

use queue::{QueueConfig, QueueError};

fn open(dir: &Path) -> Result<(), QueueError> {
    queue::open(QueueConfig::new(dir.to_path_buf(), "q")).map(|_| ())
}

/// A file outside the work directory that a link points at: 0644, 9 bytes.
fn victim(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("victim");
    fs::write(&path, "precious\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    path
}

fn assert_untouched(path: &Path) {
    assert_eq!(fs::read_to_string(path).unwrap(), "precious\n", "the link's target was written");
    assert_eq!(fs::metadata(path).unwrap().mode() & 0o777, 0o644, "the link's target was chmod'ed");
}

fn assert_root() {
    assert_eq!(fs::metadata("/proc/self").unwrap().uid(), 0, "these tests plant files as another user: run them as root (CI does)");
}

#[test]
fn a_lock_file_planted_as_a_link_is_not_followed() {
    let (outside, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let target = victim(outside.path());
    symlink(&target, work.path().join("q.lock")).unwrap();
    let err = open(work.path()).unwrap_err();
    assert!(err.to_string().contains("q.lock"), "{err}");
    assert_untouched(&target);
}

#[test]
fn a_checkpoint_planted_as_a_link_is_not_followed() {
    let (outside, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let target = victim(outside.path());
    symlink(&target, work.path().join("q.ckpt")).unwrap();
    let err = open(work.path()).unwrap_err();
    assert!(err.to_string().contains("q.ckpt"), "{err}");
    assert_untouched(&target);
    // A dangling link creates nothing at its target either.
    let work = tempfile::tempdir().unwrap();
    let nowhere = outside.path().join("created-by-root");
    symlink(&nowhere, work.path().join("q.ckpt")).unwrap();
    assert!(open(work.path()).is_err());
    assert!(!nowhere.exists(), "a file was created through a dangling link");
}

#[test]
fn a_world_writable_directory_needs_the_sticky_bit() {
    let work = tempfile::tempdir().unwrap();
    fs::set_permissions(work.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let err = open(work.path()).unwrap_err();
    assert!(matches!(err, QueueError::UnsafeDirectory { .. }), "{err}");
    assert!(err.to_string().contains("without the sticky bit"), "{err}");
    assert!(!work.path().join("q.lock").exists(), "nothing is created in it");
    fs::set_permissions(work.path(), fs::Permissions::from_mode(0o1777)).unwrap();
    open(work.path()).unwrap();
}

#[test]
fn another_users_directory_or_file_is_not_used() {
    assert_root();
    let nobody = 65534;
    let work = tempfile::tempdir().unwrap();
    chown(work.path(), Some(nobody), None).unwrap();
    let err = open(work.path()).unwrap_err();
    assert!(err.to_string().contains("belongs to uid 65534"), "{err}");
    // Unless the daemon drops to that user after opening the queue.
    let mut dropping = QueueConfig::new(work.path().to_path_buf(), "q");
    dropping.also_owned_by = Some(nobody);
    queue::open(dropping).unwrap();

    // A regular file planted (in a sticky shared directory) before the queue
    // first ran: the queue would fill it with the node's logs for its owner.
    let shared = tempfile::tempdir().unwrap();
    fs::set_permissions(shared.path(), fs::Permissions::from_mode(0o1777)).unwrap();
    let planted = shared.path().join("q.ckpt");
    fs::write(&planted, "").unwrap();
    chown(&planted, Some(nobody), None).unwrap();
    let err = open(shared.path()).unwrap_err();
    assert!(err.to_string().contains("the file belongs to uid 65534"), "{err}");
    assert_eq!(fs::metadata(&planted).unwrap().len(), 0, "the planted file was written");
}
