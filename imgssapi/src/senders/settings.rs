//! The directives of the last-seen table and the expected senders.

use std::path::PathBuf;
use std::time::Duration;

use daemon::directives::Directive;

use super::expected::ExpectedSenders;

/// When no `$InputGSSServerSilentAfter` and no `$MarkMessagePeriod` say otherwise.
pub const DEFAULT_SILENT_AFTER: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Default)]
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
}

impl SenderSettings {
    /// Takes the directives above; `false` for any other.
    pub fn apply(&mut self, d: &mut Directive) -> bool {
        match d.name {
            "workdirectory" => self.work_directory = Some(PathBuf::from(d.value.trim())),
            "inputgssserverexpectedsenders" => match ExpectedSenders::load(std::path::Path::new(d.value.trim())) {
                Ok(list) => self.expected = Some(list),
                Err(e) => d.error(e),
            },
            "inputgssserversilentafter" => {
                if let Some(s) = d.positive_seconds() {
                    self.silent_after = Some(s);
                }
            }
            "markmessageperiod" => {
                if let Some(s) = d.positive_seconds() {
                    self.mark_period = Some(s);
                }
            }
            _ => return false,
        }
        true
    }

    /// `$InputGSSServerSilentAfter`, else three `$MarkMessagePeriod`s, else 10 minutes.
    pub fn silent_after(&self) -> Duration {
        self.silent_after.or(self.mark_period.map(|p| p * 3)).unwrap_or(DEFAULT_SILENT_AFTER)
    }

    /// Where the table is kept, if anywhere.
    pub fn state_file(&self) -> Option<PathBuf> {
        self.work_directory.as_ref().map(|d| d.join(super::state_file::FILE_NAME))
    }
}
