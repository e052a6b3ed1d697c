//! The directives of the last-seen table and the expected senders.

use std::path::PathBuf;
use std::time::Duration;

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
    /// `$InputGSSServerSilentAfter`, else three `$MarkMessagePeriod`s, else 10 minutes.
    pub fn silent_after(&self) -> Duration {
        self.silent_after.or(self.mark_period.map(|p| p * 3)).unwrap_or(DEFAULT_SILENT_AFTER)
    }

    /// Where the table is kept, if anywhere.
    pub fn state_file(&self) -> Option<PathBuf> {
        self.work_directory.as_ref().map(|d| d.join(super::state_file::FILE_NAME))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use daemon::directives::Directive;
    use daemon::templates::TemplateRegistry;
    use syslog::config::{ConfigText, Location};

    use super::*;

    /// Reads `$name value` through the collector's table into `settings`.
    fn apply(settings: &mut SenderSettings, name: &str, value: &str) -> ConfigText {
        let mut text = ConfigText::default();
        let loc = Location { file: Arc::from("c.conf"), line: 3 };
        let mut all = crate::config::Settings::new();
        all.senders = settings.clone();
        let lower = name.to_ascii_lowercase();
        let d = &mut Directive::new(&lower, name, value, &loc, &mut text);
        assert!(crate::directives::TABLE.apply(&mut all, d, &TemplateRegistry::default()));
        *settings = all.senders;
        text
    }

    #[test]
    fn silent_after_is_given_or_three_mark_periods_or_ten_minutes() {
        let mut s = SenderSettings::default();
        assert_eq!(s.silent_after(), Duration::from_secs(600));
        assert!(!apply(&mut s, "MarkMessagePeriod", "20").has_errors());
        assert_eq!(s.silent_after(), Duration::from_secs(60));
        assert!(!apply(&mut s, "InputGSSServerSilentAfter", "45").has_errors());
        assert_eq!(s.silent_after(), Duration::from_secs(45));
        assert!(apply(&mut s, "InputGSSServerSilentAfter", "0").has_errors());
    }

    #[test]
    fn the_list_is_read_with_the_config_and_a_bad_one_is_an_error_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good");
        std::fs::write(&good, "10.0.0.1\n").unwrap();
        let mut s = SenderSettings::default();
        assert!(!apply(&mut s, "InputGSSServerExpectedSenders", good.to_str().unwrap()).has_errors());
        assert_eq!(s.expected.as_ref().map(|l| l.entries.len()), Some(1));
        assert!(apply(&mut s, "InputGSSServerExpectedSenders", dir.path().join("missing").to_str().unwrap()).has_errors());
        assert!(!apply(&mut s, "WorkDirectory", "/var/spool/rsyslog").has_errors());
        assert_eq!(s.state_file(), Some(PathBuf::from("/var/spool/rsyslog/imgssapi-senders.state")));
    }
}
