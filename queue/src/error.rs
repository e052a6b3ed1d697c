//! The queue's errors.

use std::path::PathBuf;

/// A queue failure the caller sees and counts; never a panic.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// A file operation on the queue's files failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "reading queue segment".
        action: &'static str,
        /// The file or directory it was done to.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Another process holds the queue's lock file.
    #[error("queue {} is in use by another process", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// The work directory, or a file in it, could be another account's to
    /// control (see the `work_dir` module): the queue does not use it.
    #[error("refusing to use {} for the queue: {why}", path.display())]
    UnsafeDirectory {
        /// The directory or file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The settings cannot make a queue.
    #[error("invalid queue configuration: {0}")]
    Config(#[from] ConfigError),
    /// The blocking task that reads the disk for [`crate::Consumer::next_batch`]
    /// panicked or was cancelled.
    #[error("the task reading the queue failed: {0}")]
    ReadTask(#[source] tokio::task::JoinError),
    /// The operating system refused to start the fsync thread.
    #[error("cannot start the queue's fsync thread: {0}")]
    SyncThread(#[source] std::io::Error),
}

impl QueueError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> QueueError {
        let path = path.into();
        move |source| QueueError::Io { action, path, source }
    }
}

/// Settings that cannot make a queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The queue's file name is empty, holds a `/` or starts with a dot.
    #[error("queue file name '{0}' must be a plain file name")]
    FileName(String),
    /// `$ActionQueueMaxDiskSpace` leaves no room for four segments.
    #[error("MaxDiskSpace {cap} is too small: at least {min} bytes are needed")]
    DiskCapTooSmall {
        /// The cap configured.
        cap: u64,
        /// The smallest cap.
        min: u64,
    },
}

/// Why an enqueue did not take a record.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The disk cap stayed reached for the whole enqueue timeout: the record
    /// was discarded and counted in `discarded_full`.
    #[error("queue full (disk cap reached) for the whole enqueue timeout: message discarded")]
    Full,
    /// The record can never fit in a segment; nothing of the batch was taken.
    #[error("message of {len} bytes is larger than the queue's record limit of {max} bytes")]
    TooLarge {
        /// The record's length.
        len: usize,
        /// The queue's limit ([`crate::Producer::max_record`]).
        max: usize,
    },
    /// Writing failed (disk full, I/O error): nothing was accepted, and the
    /// failure is counted in `write_errors`.
    #[error(transparent)]
    Io(#[from] QueueError),
}
