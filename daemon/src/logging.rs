//! The daemons' own log: `tracing` lines on stderr, `RUST_LOG` to filter.
//!
//! When stderr is connected to the journal (systemd sets `$JOURNAL_STREAM`
//! to the `DEVICE:INODE` of the stream it gave the service), every line
//! starts with its priority as sd-daemon(3) defines it (`<3>` error, `<4>`
//! warning, `<6>` info, `<7>` debug), so that `journalctl -p err` finds the
//! errors, and carries no timestamp (the journal has its own) and no colour.
//! Anywhere else (a terminal, a file, a pipe) the lines are as before.

use std::io::Write;
use std::os::unix::fs::MetadataExt;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// Installs the subscriber: level `info` unless `RUST_LOG` says otherwise,
/// colours only on a terminal, priorities when stderr is the journal.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    if stderr_is_journal() {
        tracing_subscriber::fmt()
            .with_writer(JournalStderr)
            .with_ansi(false)
            .without_time()
            .with_level(false)
            .with_target(false)
            .with_env_filter(filter)
            .init();
        return;
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(filter)
        .init();
}

/// Whether `$JOURNAL_STREAM` names this process's stderr (systemd's check:
/// the variable is inherited by children whose stderr may be elsewhere).
pub fn stderr_is_journal() -> bool {
    let Some(wanted) = std::env::var_os("JOURNAL_STREAM") else { return false };
    let Some((dev, ino)) = parse_journal_stream(&wanted.to_string_lossy()) else { return false };
    let Ok(fd) = std::os::fd::AsFd::as_fd(&std::io::stderr()).try_clone_to_owned() else { return false };
    let Ok(meta) = std::fs::File::from(fd).metadata() else { return false };
    meta.dev() == dev && meta.ino() == ino
}

/// `DEVICE:INODE`, both decimal, as systemd writes `$JOURNAL_STREAM`.
fn parse_journal_stream(text: &str) -> Option<(u64, u64)> {
    let (dev, ino) = text.trim().split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

/// The sd-daemon(3) priority of a `tracing` level.
pub fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// Makes, for each event, a writer that prefixes its lines with the event's priority.
struct JournalStderr;

impl<'a> MakeWriter<'a> for JournalStderr {
    type Writer = PrefixedLines<std::io::Stderr>;

    fn make_writer(&'a self) -> Self::Writer {
        PrefixedLines::new(std::io::stderr(), 6)
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        PrefixedLines::new(std::io::stderr(), priority(meta.level()))
    }
}

/// Collects one event's text; when dropped, writes it with `<N>` before every
/// line, in one write, so that lines of concurrent events do not interleave.
pub struct PrefixedLines<W: Write> {
    out: W,
    priority: u8,
    text: Vec<u8>,
}

impl<W: Write> PrefixedLines<W> {
    fn new(out: W, priority: u8) -> Self {
        PrefixedLines { out, priority, text: Vec::with_capacity(256) }
    }

    fn prefixed(&self) -> Vec<u8> {
        let mut lines = Vec::with_capacity(self.text.len() + 8);
        for line in self.text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            lines.extend_from_slice(format!("<{}>", self.priority).as_bytes());
            lines.extend_from_slice(line);
            lines.push(b'\n');
        }
        lines
    }
}

impl<W: Write> Write for PrefixedLines<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for PrefixedLines<W> {
    fn drop(&mut self) {
        let lines = self.prefixed();
        // Nowhere to report a failure to write the log.
        let _ = self.out.write_all(&lines);
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_stream_is_device_colon_inode() {
        assert_eq!(parse_journal_stream("64769:1234567\n"), Some((64769, 1234567)));
        assert_eq!(parse_journal_stream("64769"), None);
        assert_eq!(parse_journal_stream("a:1"), None);
    }

    #[test]
    fn priorities_are_sd_daemon_levels() {
        assert_eq!([Level::ERROR, Level::WARN, Level::INFO, Level::DEBUG, Level::TRACE].map(|l| priority(&l)), [3, 4, 6, 7, 7]);
    }

    #[test]
    fn every_line_of_an_event_gets_the_prefix() {
        let mut out = Vec::new();
        {
            let mut w = PrefixedLines::new(&mut out, 3);
            w.write_all(b"cannot bind\n").unwrap();
            w.write_all(b"second line\n").unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), "<3>cannot bind\n<3>second line\n");
    }
}
