//! The daemons' own log: `tracing` lines on stderr, `RUST_LOG` to filter.
//!
//! When stderr is connected to the journal (systemd sets `$JOURNAL_STREAM`
//! to the `DEVICE:INODE` of the stream it gave the service), every line
//! starts with its priority as sd-daemon(3) defines it (`<3>` error, `<4>`
//! warning, `<6>` info, `<7>` debug), so that `journalctl -p err` finds the
//! errors, and carries no timestamp (the journal has its own) and no colour.
//! Anywhere else (a terminal, a file, a pipe) the lines are as before.
//!
//! A daemon whose stderr goes nowhere an admin looks (the shipper under
//! rsyslog's omprog, whose stderr is `/dev/null`) logs to the journal's
//! native socket instead when there is one ([`init_to_journal_if_unseen`]):
//! one datagram per event, with its priority and the program's name.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::Arc;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// Installs the subscriber: level `info` unless `RUST_LOG` says otherwise,
/// colours only on a terminal, priorities when stderr is the journal.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    if stderr_is_journal() {
        return init_for_journal(JournalStderr, filter);
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(filter)
        // A failed log write is otherwise reported with eprintln!, which
        // panics when stderr is a closed pipe (rsyslog's omprog gone, a
        // journal restarted): the logging thread or task would die with it.
        .log_internal_errors(false)
        .init();
}

/// systemd-journald's socket for its native protocol.
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// [`init`], except that when stderr is neither the journal nor a terminal
/// and `journal_socket` exists, events go to that socket, as `identifier`.
/// Debug events are left out there: a daemon that forwards the node's syslog
/// (fed by the journal) must not describe each message it forwards in a
/// message that comes back to it.
pub fn init_to_journal_if_unseen(identifier: &'static str, journal_socket: &Path) {
    let unseen = !stderr_is_journal() && !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let socket = if unseen && journal_socket.exists() { JournalSocket::connect(journal_socket, identifier) } else { None };
    let Some(socket) = socket else { return init() };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    init_for_journal(socket, filter);
}

/// Events as the journal wants them: no colours, no time or level in the
/// text (the journal stamps each entry and the writer gives its priority).
fn init_for_journal<W>(writer: W, filter: tracing_subscriber::EnvFilter)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .without_time()
        .with_level(false)
        .with_target(false)
        .with_env_filter(filter)
        .init();
}

/// Makes, for each event, a [`JournalEntry`] for the journal's native socket.
struct JournalSocket {
    socket: Arc<UnixDatagram>,
    identifier: &'static str,
}

impl JournalSocket {
    /// A socket connected to `path`, non-blocking: a busy journal loses a
    /// log line rather than holding up the daemon.
    fn connect(path: &Path, identifier: &'static str) -> Option<JournalSocket> {
        let socket = UnixDatagram::unbound().ok()?;
        socket.connect(path).ok()?;
        socket.set_nonblocking(true).ok()?;
        Some(JournalSocket { socket: Arc::new(socket), identifier })
    }
}

impl<'a> MakeWriter<'a> for JournalSocket {
    type Writer = JournalEntry;

    fn make_writer(&'a self) -> Self::Writer {
        JournalEntry { socket: Some(self.socket.clone()), identifier: self.identifier, priority: 6, text: Vec::new() }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        let priority = priority(meta.level());
        let socket = (priority < 7).then(|| self.socket.clone());
        JournalEntry { socket, identifier: self.identifier, priority, text: Vec::new() }
    }
}

/// One event's text; when dropped, sent as one journal entry (if it has a socket).
struct JournalEntry {
    socket: Option<Arc<UnixDatagram>>,
    identifier: &'static str,
    priority: u8,
    text: Vec<u8>,
}

impl Write for JournalEntry {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for JournalEntry {
    fn drop(&mut self) {
        if let Some(socket) = &self.socket {
            // Nowhere to report a failure to write the log.
            let _ = socket.send(&journal_entry(self.priority, self.identifier, &self.text));
        }
    }
}

/// An entry in the journal's native protocol: `KEY=value` lines, and the
/// message in the binary form (`MESSAGE`, LF, its length as 64-bit
/// little-endian, the bytes, LF), which allows any byte in it.
fn journal_entry(priority: u8, identifier: &str, message: &[u8]) -> Vec<u8> {
    let message = message.strip_suffix(b"\n").unwrap_or(message);
    let mut entry = format!("PRIORITY={priority}\nSYSLOG_FACILITY=3\nSYSLOG_IDENTIFIER={identifier}\nMESSAGE\n").into_bytes();
    entry.extend_from_slice(&(message.len() as u64).to_le_bytes());
    entry.extend_from_slice(message);
    entry.push(b'\n');
    entry
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
    fn a_journal_entry_carries_priority_name_and_the_message_in_binary_form() {
        let entry = journal_entry(4, "omgssapi", b"collector unreachable\nsecond line\n");
        let mut want = b"PRIORITY=4\nSYSLOG_FACILITY=3\nSYSLOG_IDENTIFIER=omgssapi\nMESSAGE\n".to_vec();
        want.extend_from_slice(&33u64.to_le_bytes());
        want.extend_from_slice(b"collector unreachable\nsecond line\n");
        assert_eq!(entry, want);
    }

    #[test]
    fn events_reach_the_journal_socket_and_debug_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("socket");
        let journal = UnixDatagram::bind(&path).unwrap();
        journal.set_nonblocking(true).unwrap();
        let socket = JournalSocket::connect(&path, "omgssapi").unwrap();
        let subscriber = tracing_subscriber::fmt().with_writer(socket).with_ansi(false).without_time().with_level(false).with_target(false).with_max_level(Level::DEBUG).finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!("one message forwarded");
            tracing::warn!(error = "KDC unreachable", "collector unreachable");
        });
        let mut buf = [0u8; 512];
        let n = journal.recv(&mut buf).unwrap();
        let got = String::from_utf8_lossy(&buf[..n]);
        assert!(got.starts_with("PRIORITY=4\n"), "{got}");
        assert!(got.contains("SYSLOG_IDENTIFIER=omgssapi\n") && got.contains("collector unreachable error=\"KDC unreachable\""), "{got}");
        assert!(journal.recv(&mut buf).is_err(), "a debug event reached the journal");
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
