use std::path::PathBuf;

/// A queue failure the caller sees and counts; never a panic.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("{action} {}: {source}", path.display())]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("queue {} is in use by another process", path.display())]
    Locked { path: PathBuf },
    #[error("invalid queue configuration: {0}")]
    Config(String),
}

impl QueueError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> QueueError {
        let path = path.into();
        move |source| QueueError::Io { action, path, source }
    }
}

/// Why an enqueue did not take a record.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The disk cap stayed reached for the whole enqueue timeout: the record
    /// was discarded and counted in `discarded_full`.
    #[error("queue full (disk cap reached) for the whole enqueue timeout: message discarded")]
    Full,
    #[error("message of {len} bytes is larger than the queue's record limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    /// Writing failed (disk full, I/O error): nothing was accepted, and the
    /// failure is counted in `write_errors`.
    #[error(transparent)]
    Io(#[from] QueueError),
}
