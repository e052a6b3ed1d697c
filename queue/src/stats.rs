//! The queue's counters.

/// Counters for the daemons to expose, from [`crate::Producer::stats`] or
/// [`crate::Consumer::stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages accepted by an enqueue.
    pub enqueued: u64,
    /// Records handed out to the consumer (again after a rewind, too).
    pub dequeued: u64,
    /// Records the consumer acknowledged.
    pub acknowledged: u64,
    /// Messages discarded because the disk cap stayed reached (either policy).
    pub discarded_full: u64,
    /// Records skipped on read because their checksum failed or they were unreadable.
    pub corrupt_skipped: u64,
    /// Enqueues that failed on a write error (disk full, I/O error).
    pub write_errors: u64,
    /// Exact bytes of the queue's files (segments and checkpoint).
    pub bytes_on_disk: u64,
    /// Messages accepted and not yet acknowledged.
    pub queued: u64,
    /// How long ago the oldest of them was accepted (to about a second);
    /// `None` when nothing is queued.
    pub oldest_age: Option<std::time::Duration>,
}
