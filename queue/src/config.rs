//! Queue settings, with the rsyslog legacy directive each one comes from.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{ConfigError, QueueError};

/// What to do when the disk cap is reached and stays reached for the whole
/// enqueue timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullPolicy {
    /// Discard the message being enqueued (rsyslog's behaviour).
    DropNewest,
    /// Free the oldest segment file (its unacknowledged records are discarded
    /// and counted) so that recent messages are kept.
    DropOldest,
}

/// A queue's settings; [`QueueConfig::new`] gives rsyslog's defaults.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// `$WorkDirectory`: where the queue's files live (created if missing).
    pub dir: PathBuf,
    /// `$ActionQueueFileName`: the prefix of the queue's file names.
    pub name: String,
    /// `$ActionQueueMaxDiskSpace` (`100m` = 100 MiB, see `syslog::config::parse_size`): a hard cap on the bytes of
    /// all the queue's files, counted exactly. `None` (rsyslog's 0) = no cap.
    pub max_disk_bytes: Option<u64>,
    /// `$ActionQueueMaxFileSize`: target size of one segment file. Space is freed
    /// one whole segment at a time, so with a cap the effective size is at most a
    /// quarter of the cap.
    pub segment_bytes: u64,
    /// `$ActionQueueSize`: how many messages the in-memory read cache holds.
    pub memory_records: usize,
    /// `$ActionQueueHighWatermark` / `$ActionQueueLowWatermark`: every accepted
    /// message is on disk anyway, so they only shape the read cache: it stops
    /// taking new messages at the high mark and resumes at the low mark.
    /// `None` = 90% and 70% of `memory_records`, as in rsyslog.
    pub high_watermark: Option<usize>,
    /// `$ActionQueueLowWatermark`: see `high_watermark`.
    pub low_watermark: Option<usize>,
    /// `$ActionQueueTimeoutEnqueue` (ms): how long an enqueue waits for space.
    pub enqueue_timeout: Duration,
    /// Extension: which message is dropped when full.
    pub when_full: FullPolicy,
    /// Extension: how often written data is fsynced; an OS crash or power loss
    /// loses at most this much. `None` = leave it to the OS.
    pub fsync_interval: Option<Duration>,
    /// `$ActionQueueSaveOnShutdown`: keep queued messages across an orderly
    /// stop. Off means an orderly [`crate::Consumer::close`] discards them. (A crash
    /// never loses accepted messages either way.)
    pub save_on_shutdown: bool,
    /// The user the daemon drops to after opening the queue
    /// (`$PrivDropToUser`): the work directory and the queue's files may
    /// belong to it as well as to root and the process's own user.
    pub also_owned_by: Option<u32>,
}

impl QueueConfig {
    /// The queue `name` in `dir`, with rsyslog's legacy action-queue
    /// defaults where they still apply.
    pub fn new(dir: impl Into<PathBuf>, name: impl Into<String>) -> Self {
        QueueConfig {
            dir: dir.into(),
            name: name.into(),
            max_disk_bytes: None,
            segment_bytes: 8 * 1024 * 1024,
            memory_records: 1000,
            high_watermark: None,
            low_watermark: None,
            enqueue_timeout: Duration::from_millis(50),
            when_full: FullPolicy::DropNewest,
            fsync_interval: Some(Duration::from_secs(1)),
            save_on_shutdown: true,
            also_owned_by: None,
        }
    }

    pub(crate) fn validate(&self) -> Result<Settled, QueueError> {
        if self.name.is_empty() || self.name.contains('/') || self.name.starts_with('.') {
            return Err(ConfigError::FileName(self.name.clone()).into());
        }
        const MIN_SEGMENT: u64 = 4096;
        let mut segment = self.segment_bytes.max(MIN_SEGMENT);
        if let Some(cap) = self.max_disk_bytes {
            if cap < 4 * MIN_SEGMENT {
                return Err(ConfigError::DiskCapTooSmall { cap, min: 4 * MIN_SEGMENT }.into());
            }
            segment = segment.min(cap / 4);
        }
        let memory = self.memory_records.max(1);
        let high = self.high_watermark.unwrap_or(memory * 9 / 10).clamp(1, memory);
        let low = self.low_watermark.unwrap_or(memory * 7 / 10).min(high.saturating_sub(1));
        Ok(Settled { segment_bytes: segment, cache_high: high, cache_low: low })
    }
}

/// Values derived from the configuration once, at open.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settled {
    pub segment_bytes: u64,
    pub cache_high: usize,
    pub cache_low: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_is_at_most_a_quarter_of_the_cap() {
        let mut c = QueueConfig::new("/tmp", "q");
        c.max_disk_bytes = Some(1 << 20);
        assert_eq!(c.validate().unwrap().segment_bytes, 1 << 18);
        c.max_disk_bytes = Some(1000);
        let e = c.validate().unwrap_err();
        assert!(matches!(e, QueueError::Config(ConfigError::DiskCapTooSmall { cap: 1000, min: 16384 })), "{e}");
        assert_eq!(e.to_string(), "invalid queue configuration: MaxDiskSpace 1000 is too small: at least 16384 bytes are needed");
    }

    #[test]
    fn the_file_name_is_a_plain_name() {
        for name in ["", "a/b", ".q"] {
            let e = QueueConfig::new("/tmp", name).validate().unwrap_err();
            assert!(matches!(&e, QueueError::Config(ConfigError::FileName(n)) if n == name), "{e}");
        }
        let e = QueueConfig::new("/tmp", "../q").validate().unwrap_err();
        assert_eq!(e.to_string(), "invalid queue configuration: queue file name '../q' must be a plain file name");
    }
}
