//! What a daemon says to and takes from systemd, without libsystemd:
//!
//! - [`notify`]: `sd_notify` — one datagram to `$NOTIFY_SOCKET` (`READY=1`
//!   once the daemon really serves, `STOPPING=1`, `WATCHDOG=1`);
//! - [`watchdog_interval`] and [`spawn_watchdog`]: `WatchdogSec=` pings, at
//!   half the interval systemd gives in `$WATCHDOG_USEC`;
//! - [`take_listen_fds`]: socket activation, the sockets systemd passes from
//!   fd 3 on (`$LISTEN_FDS`, for this process only: `$LISTEN_PID`).
//!
//! Outside systemd none of these variables is set and every function here
//! does nothing.

use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::time::Duration;

/// The first file descriptor systemd passes (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: RawFd = 3;

/// Systemd's variables that did not make sense.
#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    /// `$NOTIFY_SOCKET` could not be reached.
    #[error("notifying systemd through {socket}: {source}")]
    Notify {
        /// The socket named by `$NOTIFY_SOCKET`.
        socket: String,
        /// Why the datagram did not go.
        source: std::io::Error,
    },
    /// `$LISTEN_FDS` is not a small number.
    #[error("$LISTEN_FDS is '{0}', not a number of file descriptors")]
    ListenFds(String),
    /// The passed sockets were taken already.
    #[error("the sockets systemd passed were taken already")]
    ListenFdsTaken,
}

/// Sends `state` (for example `READY=1`) to the service manager. Does nothing
/// and returns `Ok(false)` when `$NOTIFY_SOCKET` is unset (not under systemd,
/// or not `Type=notify`); `Ok(true)` when the datagram went.
pub fn notify(state: &str) -> Result<bool, SystemdError> {
    match std::env::var_os("NOTIFY_SOCKET") {
        None => Ok(false),
        Some(socket) => notify_to(&socket.to_string_lossy(), state).map(|()| true),
    }
}

/// [`notify`] to a socket given by name: a path, or `@name` for an abstract one.
fn notify_to(socket: &str, state: &str) -> Result<(), SystemdError> {
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let err = |source| SystemdError::Notify { socket: socket.to_string(), source };
    let addr = match socket.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes())
        }
        None => SocketAddr::from_pathname(socket),
    }
    .map_err(err)?;
    let sender = UnixDatagram::unbound().map_err(err)?;
    sender.send_to_addr(state.as_bytes(), &addr).map_err(err)?;
    Ok(())
}

/// Tells systemd the daemon now serves (`READY=1`). A failure is logged,
/// never fatal: systemd then times the start out itself.
pub fn notify_ready() {
    if let Err(e) = notify("READY=1") {
        tracing::warn!(error = %e, "could not tell systemd that the daemon is ready");
    }
}

/// Tells systemd the daemon is stopping (`STOPPING=1`); failures are ignored.
pub fn notify_stopping() {
    let _ = notify("STOPPING=1");
}

/// How often systemd wants `WATCHDOG=1` (`WatchdogSec=`), if it wants it
/// from this process.
pub fn watchdog_interval() -> Option<Duration> {
    watchdog_interval_from(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
}

fn watchdog_interval_from(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok() != Some(own_pid) {
            return None;
        }
    }
    let usec: u64 = usec?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// Pings systemd's watchdog at half the interval it asked for, as long as the
/// runtime runs (a runtime that hangs stops the pings, and systemd restarts
/// the daemon). Returns `None` when no watchdog is configured. Call inside
/// the runtime.
pub fn spawn_watchdog() -> Option<tokio::task::JoinHandle<()>> {
    let interval = watchdog_interval()?;
    tracing::debug!(?interval, "systemd watchdog enabled");
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval / 2);
        loop {
            tick.tick().await;
            if let Err(e) = notify("WATCHDOG=1") {
                tracing::warn!(error = %e, "systemd watchdog ping failed");
            }
        }
    }))
}

/// The sockets systemd passed to this process (socket activation), owned;
/// empty when there are none. They can be taken once: a second call is an
/// error, so that no descriptor ever has two owners.
pub fn take_listen_fds() -> Result<Vec<OwnedFd>, SystemdError> {
    let count = listen_fd_count(
        std::env::var("LISTEN_FDS").ok().as_deref(),
        std::env::var("LISTEN_PID").ok().as_deref(),
        std::process::id(),
    )?;
    if count == 0 {
        return Ok(Vec::new());
    }
    // Systemd opened fds 3..3+LISTEN_FDS for this very process (LISTEN_PID
    // was checked above).
    crate::os::take_inherited_fds(LISTEN_FDS_START..LISTEN_FDS_START + count).ok_or(SystemdError::ListenFdsTaken)
}

fn listen_fd_count(fds: Option<&str>, pid: Option<&str>, own_pid: u32) -> Result<RawFd, SystemdError> {
    let (Some(fds), Some(pid)) = (fds, pid) else { return Ok(0) };
    if pid.trim().parse::<u32>().ok() != Some(own_pid) {
        return Ok(0); // meant for another process (a parent that exec'd us)
    }
    match fds.trim().parse::<RawFd>() {
        Ok(n) if (0..=1024).contains(&n) => Ok(n),
        _ => Err(SystemdError::ListenFds(fds.to_string())),
    }
}

/// Whether a passed descriptor is a datagram socket (`ListenDatagram=`),
/// as opposed to a stream one (`ListenStream=`) or no socket at all.
pub fn is_datagram_socket(fd: &OwnedFd) -> bool {
    crate::os::is_datagram_socket(fd.as_fd())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn notify_sends_the_state_to_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let receiver = UnixDatagram::bind(&path).unwrap();
        notify_to(path.to_str().unwrap(), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[test]
    fn notify_sends_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("gsslog-test-notify-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let receiver = UnixDatagram::bind_addr(&addr).unwrap();
        notify_to(&format!("@{name}"), "WATCHDOG=1").unwrap();
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"WATCHDOG=1");
    }

    #[test]
    fn notify_to_a_missing_socket_is_an_error_naming_it() {
        let e = notify_to("/nonexistent/notify", "READY=1").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/notify"), "{e}");
    }

    #[test]
    fn datagram_sockets_are_told_from_stream_sockets() {
        let (a, _b) = UnixDatagram::pair().unwrap();
        assert!(is_datagram_socket(&OwnedFd::from(a)));
        let (s, _t) = std::os::unix::net::UnixStream::pair().unwrap();
        assert!(!is_datagram_socket(&OwnedFd::from(s)));
        let file = std::fs::File::open("/dev/null").unwrap();
        assert!(!is_datagram_socket(&OwnedFd::from(file)));
    }

    #[test]
    fn watchdog_interval_is_for_this_process_only() {
        assert_eq!(watchdog_interval_from(Some("30000000"), None, 7), Some(Duration::from_secs(30)));
        assert_eq!(watchdog_interval_from(Some("30000000"), Some("7"), 7), Some(Duration::from_secs(30)));
        assert_eq!(watchdog_interval_from(Some("30000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval_from(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval_from(Some("soon"), None, 7), None);
        assert_eq!(watchdog_interval_from(None, None, 7), None);
    }

    #[test]
    fn listen_fds_are_for_this_process_only() {
        assert_eq!(listen_fd_count(Some("1"), Some("42"), 42).unwrap(), 1);
        assert_eq!(listen_fd_count(Some("1"), Some("41"), 42).unwrap(), 0);
        assert_eq!(listen_fd_count(None, Some("42"), 42).unwrap(), 0);
        assert_eq!(listen_fd_count(Some("1"), None, 42).unwrap(), 0);
        assert!(listen_fd_count(Some("many"), Some("42"), 42).is_err());
        assert!(listen_fd_count(Some("-1"), Some("42"), 42).is_err());
    }
}
