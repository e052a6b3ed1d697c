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

/// A small queue in `dir` (16 KiB segments, no background fsync).
fn small(dir: &Path) -> QueueConfig {
    let mut c = QueueConfig::new(dir.to_path_buf(), "q");
    c.segment_bytes = 16 * 1024;
    c.fsync_interval = None;
    c
}

/// The bytes of a real segment holding the records `texts`, made by a queue
/// in a directory of its own.
fn segment_bytes(texts: &[&str]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let (producer, consumer) = queue::open(small(dir.path())).unwrap();
    for t in texts {
        producer.push(t.as_bytes()).unwrap();
    }
    producer.sync().unwrap();
    let bytes = fs::read(dir.path().join("q.0000000001.seg")).unwrap();
    drop((producer, consumer));
    bytes
}

#[test]
fn a_fifo_at_the_lock_files_name_is_refused_without_blocking() {
    let work = tempfile::tempdir().unwrap();
    let fifo = work.path().join("q.lock");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    // Before the fix the open waited for a reader of the FIFO forever: run
    // it on a thread, and fail (not hang) if it has not returned in a minute.
    let (done, result) = std::sync::mpsc::channel();
    let path = work.path().to_path_buf();
    std::thread::spawn(move || {
        let _ = done.send(open(&path).map_err(|e| e.to_string()));
    });
    let result = result.recv_timeout(std::time::Duration::from_secs(60)).expect("opening the queue blocked on the FIFO");
    let err = result.unwrap_err();
    assert!(err.contains("q.lock") && err.contains("not a regular file"), "{err}");
}

#[test]
fn a_segment_hard_linked_to_a_file_elsewhere_is_neither_read_nor_repaired() {
    // A file outside the work directory that looks like a segment with a
    // torn tail: before the fix recovery read its records and cut its tail.
    let (outside, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut content = segment_bytes(&["someone else's record"]);
    content.extend_from_slice(b"torn tail");
    let target = outside.path().join("elsewhere");
    fs::write(&target, &content).unwrap();
    fs::hard_link(&target, work.path().join("q.0000000001.seg")).unwrap();
    let (producer, mut consumer) = queue::open(small(work.path())).unwrap();
    assert_eq!(fs::read(&target).unwrap(), content, "the linked file was changed");
    assert!(consumer.pop_batch(10, 1 << 20).unwrap().is_empty(), "its records were queued");
    assert!(work.path().join("q.0000000001.seg.bad").exists(), "the link is moved aside");
    drop((producer, consumer));
}

#[test]
fn a_segment_of_another_user_is_not_read() {
    assert_root();
    let work = tempfile::tempdir().unwrap();
    let planted = work.path().join("q.0000000001.seg");
    fs::write(&planted, segment_bytes(&["planted record"])).unwrap();
    chown(&planted, Some(65534), None).unwrap();
    let (producer, mut consumer) = queue::open(small(work.path())).unwrap();
    assert!(consumer.pop_batch(10, 1 << 20).unwrap().is_empty(), "another user's segment was queued");
    assert!(work.path().join("q.0000000001.seg.bad").exists(), "it is moved aside");
    // A segment of the directory's owner (here root, this process) is read.
    drop((producer, consumer));
    let own = tempfile::tempdir().unwrap();
    fs::write(own.path().join("q.0000000001.seg"), segment_bytes(&["own record"])).unwrap();
    let (_producer, mut consumer) = queue::open(small(own.path())).unwrap();
    let got = consumer.pop_batch(10, 1 << 20).unwrap();
    assert_eq!(got.iter().map(|r| r.payload.to_vec()).collect::<Vec<_>>(), vec![b"own record".to_vec()]);
}

#[test]
fn files_stay_in_the_directory_opened_even_if_its_path_is_swapped_for_a_link() {
    let (parent, other) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let work = parent.path().join("work");
    fs::create_dir(&work).unwrap();
    let (producer, consumer) = queue::open(small(&work)).unwrap();
    // The path now leads elsewhere: a new segment (the queue rolls over
    // every 16 KiB) must still be made in the directory the queue opened.
    let moved = parent.path().join("moved");
    fs::rename(&work, &moved).unwrap();
    symlink(other.path(), &work).unwrap();
    for _ in 0..200 {
        producer.push(&[b'x'; 200]).unwrap();
    }
    producer.sync().unwrap();
    let names = |d: &Path| -> Vec<String> {
        let mut n: Vec<String> = fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        n.sort();
        n
    };
    assert!(names(other.path()).is_empty(), "files were made through the swapped path: {:?}", names(other.path()));
    assert!(names(&moved).iter().filter(|n| n.ends_with(".seg")).count() >= 2, "{:?}", names(&moved));
    drop((producer, consumer));
}
