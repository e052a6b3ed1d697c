//! The directives of the last-seen table and the expected senders.

use std::path::PathBuf;
use std::time::Duration;

use super::expected::ExpectedSenders;

/// When no `$InputGSSServerSilentAfter` and no `$MarkMessagePeriod` say otherwise.
pub const DEFAULT_SILENT_AFTER: Duration = Duration::from_secs(600);
/// When no `$InputGSSServerForgetSendersAfter` says otherwise: a month
/// keeps a node off for maintenance; the table of one-off senders stays small.
pub const DEFAULT_FORGET_AFTER_DAYS: u64 = 30;
/// The default of `$InputGSSServerMaxSenders`: twice the 10,000 senders the
/// table is made for.
pub const DEFAULT_MAX_SENDERS: usize = 20_000;

#[derive(Debug, Clone)]
pub struct SenderSettings {
    /// `$WorkDirectory`: where the table is kept across restarts.
    pub work_directory: Option<PathBuf>,
    /// `$InputGSSServerExpectedSenders FILE`, read when the config is.
    pub expected: Option<ExpectedSenders>,
    /// `$InputGSSServerSilentAfter SECONDS`.
    pub silent_after: Option<Duration>,
    /// `$MarkMessagePeriod SECONDS`: the nodes' mark period, stated once
    /// for the grid; the default silence limit is three of them.
    pub mark_period: Option<Duration>,
    /// `$InputGSSServerForgetSendersAfter DAYS` (0: never).
    pub forget_after_days: u64,
    /// `$InputGSSServerMaxSenders`.
    pub max_rows: usize,
}

impl Default for SenderSettings {
    fn default() -> SenderSettings {
        SenderSettings {
            work_directory: None,
            expected: None,
            silent_after: None,
            mark_period: None,
            forget_after_days: DEFAULT_FORGET_AFTER_DAYS,
            max_rows: DEFAULT_MAX_SENDERS,
        }
    }
}

impl SenderSettings {
    /// `$InputGSSServerSilentAfter`, else three `$MarkMessagePeriod`s, else 10 minutes.
    pub fn silent_after(&self) -> Duration {
        self.silent_after.or(self.mark_period.map(|p| p * 3)).unwrap_or(DEFAULT_SILENT_AFTER)
    }

    /// Seconds after which a sender off the list and not heard from is
    /// dropped from the table (0: never).
    pub fn forget_after(&self) -> u64 {
        self.forget_after_days.saturating_mul(86_400)
    }

    /// Where the table is kept, if anywhere.
    pub fn state_file(&self) -> Option<PathBuf> {
        self.work_directory.as_ref().map(|d| d.join(gsslog_senders::state_file::FILE_NAME))
    }
}
