//! Where the node's messages come in: rsyslog's omprog on stdin (with
//! confirmations), a local datagram socket like `/dev/log` (bound here or
//! passed by systemd), UDP and TCP, and the kernel log (`/dev/kmsg`).
//! Each input runs on its own thread: enqueueing may wait (up to the enqueue
//! timeout), and that must never hold up the async forwarders.

use std::io::{BufRead, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use daemon::signals::Shutdown;
use syslog::framing::Deframer;
use syslog::Origin;

use crate::route::Router;

/// How long a datagram input waits in one read before it looks whether the
/// shipper is stopping.
const STOP_POLL: Duration = Duration::from_millis(200);

pub struct Inputs {
    pub router: Arc<Router>,
    /// Once triggered, inputs take nothing more (omprog is told to retry).
    pub shutdown: Shutdown,
    pub hostname: String,
}

impl Inputs {
    fn origin(&self, ip: String, inputname: &'static str) -> Arc<Origin> {
        Arc::new(Origin { fromhost: self.hostname.clone(), fromhost_ip: ip, inputname, provenance: Default::default() })
    }

    /// rsyslog's omprog with `confirmMessages="on"`: say `OK` once ready, then
    /// one line per message: `OK` once it is in the queue, anything else when
    /// it is not (rsyslog then keeps it and sends it again later). Calls
    /// `on_eof` when rsyslog closes our stdin (it is stopping: so do we).
    pub fn spawn_stdin(self: &Arc<Self>, on_eof: impl FnOnce() + Send + 'static) -> anyhow::Result<()> {
        let me = self.clone();
        std::thread::Builder::new().name("input-omprog".into()).spawn(move || {
            let origin = me.origin("127.0.0.1".into(), "omprog");
            let stdin = std::io::stdin();
            let mut stdout = std::io::stdout();
            let _ = writeln!(stdout, "OK").and_then(|_| stdout.flush());
            for line in stdin.lock().split(b'\n') {
                let Ok(line) = line else { break };
                // rsyslog never sends an empty message; an empty line is a
                // template's LF after a message that ended with one, and
                // answering it would put every later answer one behind.
                if line.is_empty() {
                    continue;
                }
                let reply = if me.shutdown.is_triggered() {
                    "ERROR shutting down".to_string()
                } else {
                    match me.router.route(&line, &origin) {
                        Ok(()) => "OK".to_string(),
                        Err(e) => format!("ERROR {e}"),
                    }
                };
                if writeln!(stdout, "{reply}").and_then(|_| stdout.flush()).is_err() {
                    break;
                }
            }
            on_eof();
        })?;
        Ok(())
    }

    /// A local datagram socket such as `/dev/log`: one message per datagram.
    pub fn spawn_unix(self: &Arc<Self>, path: &Path) -> anyhow::Result<(UnixSocketGuard, Reader)> {
        let _ = std::fs::remove_file(path);
        let socket = UnixDatagram::bind(path).with_context(|| format!("binding unix socket {}", path.display()))?;
        let mut perms = std::fs::metadata(path)?.permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o666);
        std::fs::set_permissions(path, perms)?;
        let reader = self.spawn_datagram_reader(socket)?;
        tracing::info!(path = %path.display(), "listening on unix socket");
        Ok((UnixSocketGuard(path.to_path_buf()), reader))
    }

    /// A datagram socket systemd bound for us (socket activation, as the
    /// node's syslog daemon: `syslog.socket`, journald's
    /// `/run/systemd/journal/syslog`). systemd owns the socket file, so
    /// nothing is bound, chmod'ed or removed here; what is still in the
    /// socket when we stop stays there for the next instance.
    pub fn spawn_activated(self: &Arc<Self>, fd: OwnedFd) -> anyhow::Result<Reader> {
        if !daemon::systemd::is_datagram_socket(&fd) {
            anyhow::bail!("a socket passed by systemd is not a datagram socket (the shipper takes ListenDatagram= sockets only)");
        }
        let socket = UnixDatagram::from(fd);
        let name = socket
            .local_addr()
            .context("a socket passed by systemd is not a unix socket (the shipper takes local datagram sockets only)")?
            .as_pathname()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "(unnamed)".into());
        let reader = self.spawn_datagram_reader(socket)?;
        tracing::info!(path = %name, "listening on a unix socket passed by systemd");
        Ok(reader)
    }

    /// One message per datagram, from a local socket.
    fn spawn_datagram_reader(self: &Arc<Self>, socket: UnixDatagram) -> anyhow::Result<Reader> {
        // The socket may come from another process (systemd's, which an
        // earlier reader may have made non-blocking): blocking reads with a
        // timeout, so that a stop is seen between datagrams.
        socket.set_nonblocking(false).context("making the local socket blocking")?;
        socket.set_read_timeout(Some(STOP_POLL)).context("setting the local socket's read timeout")?;
        let me = self.clone();
        let handle = std::thread::Builder::new().name("input-unix".into()).spawn(move || {
            let origin = me.origin("127.0.0.1".into(), "imuxsock");
            me.read_datagrams("local socket", |buf| socket.recv(buf).map(|n| (n, origin.clone())));
        })?;
        Ok(Reader(handle))
    }

    pub fn spawn_udp(self: &Arc<Self>, addr: SocketAddr) -> anyhow::Result<(SocketAddr, Reader)> {
        let socket = UdpSocket::bind(addr).with_context(|| format!("binding UDP {addr}"))?;
        socket.set_read_timeout(Some(STOP_POLL)).context("setting the UDP socket's read timeout")?;
        let local = socket.local_addr()?;
        let me = self.clone();
        let handle = std::thread::Builder::new().name("input-udp".into()).spawn(move || {
            me.read_datagrams("UDP socket", |buf| {
                socket.recv_from(buf).map(|(n, peer)| (n, me.origin(peer.ip().to_string(), "imudp")))
            });
        })?;
        tracing::info!(%local, "listening on UDP");
        Ok((local, Reader(handle)))
    }

    /// The kernel log (`/dev/kmsg`, see [`crate::kmsg`]): one record per
    /// read, each forwarded once across restarts by the position kept in
    /// `position_file`. Like the datagram inputs it stops reading first at
    /// a stop, and queues the record it read.
    pub fn spawn_kmsg(self: &Arc<Self>, kmsg: std::fs::File, position_file: PathBuf, permit_non_kernel: bool) -> anyhow::Result<Reader> {
        let me = self.clone();
        let handle = std::thread::Builder::new().name("input-kmsg".into()).spawn(move || {
            let origin = me.origin("127.0.0.1".into(), "imklog");
            let mut filter = crate::kmsg::Filter::new(crate::kmsg::boot_id(), crate::kmsg::Position::load(&position_file), permit_non_kernel);
            let save = |filter: &crate::kmsg::Filter| {
                if let Some(p) = filter.position() {
                    if let Err(e) = p.save(&position_file) {
                        tracing::error!(error = %e, path = %position_file.display(), "saving the kernel log's position failed");
                    }
                }
            };
            let mut buf = vec![0u8; 16 * 1024];
            let mut unsaved = false;
            let mut overwritten_said = false;
            while !me.shutdown.is_triggered() {
                use std::os::fd::AsFd;
                match daemon::os::wait_readable(kmsg.as_fd(), STOP_POLL) {
                    Ok(true) => {}
                    Ok(false) => {
                        if std::mem::take(&mut unsaved) {
                            save(&filter);
                        }
                        continue;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "waiting for the kernel log failed: it takes no more messages");
                        break;
                    }
                }
                match (&kmsg).read(&mut buf) {
                    Ok(n) => {
                        let Some(record) = crate::kmsg::parse(&buf[..n]) else { continue };
                        let (line, moved) = filter.take(&record);
                        if let Some(line) = line {
                            let _ = me.router.route(&line, &origin);
                        }
                        unsaved |= moved;
                    }
                    // The ring buffer overwrote records before they were read;
                    // the next read returns the oldest one left.
                    Err(e) if e.kind() == ErrorKind::BrokenPipe => {
                        if !std::mem::replace(&mut overwritten_said, true) {
                            tracing::warn!("kernel log records were overwritten in the ring buffer before they were read");
                        }
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "reading the kernel log failed: it takes no more messages");
                        break;
                    }
                }
            }
            if unsaved {
                save(&filter);
            }
        })?;
        tracing::info!("reading the kernel log");
        Ok(Reader(handle))
    }

    /// Reads datagrams until shutdown: the stop is checked before every
    /// read, never after one, so a datagram read is always queued and one
    /// not read stays in the socket (for the next instance, when systemd
    /// holds the socket).
    fn read_datagrams(&self, what: &str, mut recv: impl FnMut(&mut [u8]) -> std::io::Result<(usize, Arc<Origin>)>) {
        let mut buf = vec![0u8; 64 * 1024];
        while !self.shutdown.is_triggered() {
            match recv(&mut buf) {
                Ok((n, origin)) => {
                    let _ = self.router.route(&buf[..n], &origin);
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
                Err(e) => {
                    tracing::error!(error = %e, "reading the {what} failed: it takes no more messages");
                    return;
                }
            }
        }
    }

    /// TCP, LF-framed or octet-counted (detected per frame, as rsyslog's imtcp).
    pub fn spawn_tcp(self: &Arc<Self>, addr: SocketAddr) -> anyhow::Result<SocketAddr> {
        let listener = TcpListener::bind(addr).with_context(|| format!("binding TCP {addr}"))?;
        let local = listener.local_addr()?;
        let me = self.clone();
        std::thread::Builder::new().name("input-tcp".into()).spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let me = me.clone();
                let _ = std::thread::Builder::new().name("input-tcp-session".into()).spawn(move || {
                    let peer = stream.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
                    let origin = me.origin(peer, "imtcp");
                    let mut deframer = Deframer::new(me.router.options.max_message_size);
                    let mut buf = vec![0u8; 256 * 1024];
                    let mut frames: Vec<Vec<u8>> = Vec::new();
                    loop {
                        let n = match stream.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        // Everything one read brought goes to the queues in one write.
                        deframer.push(&buf[..n], &mut |m| frames.push(m.to_vec()));
                        me.accept_many(&mut frames, &origin);
                    }
                    deframer.finish(&mut |m| frames.push(m.to_vec()));
                    me.accept_many(&mut frames, &origin);
                });
            }
        })?;
        tracing::info!(%local, "listening on TCP");
        Ok(local)
    }

    fn accept_many(&self, frames: &mut Vec<Vec<u8>>, origin: &Arc<Origin>) {
        if !frames.is_empty() && !self.shutdown.is_triggered() {
            let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
            if let Err(e) = self.router.route_many(&refs, origin) {
                tracing::error!(error = %e, "messages from a TCP sender could not be queued");
            }
        }
        frames.clear();
    }
}

/// A datagram input's thread, which ends once shutdown is triggered and the
/// datagram it was reading, if any, is queued.
pub struct Reader(std::thread::JoinHandle<()>);

impl Reader {
    /// Waits until the input has stopped reading and queued what it read.
    pub fn join(self) {
        if self.0.join().is_err() {
            tracing::error!("an input thread panicked");
        }
    }
}

/// Removes the socket file when the shipper stops.
pub struct UnixSocketGuard(PathBuf);

impl Drop for UnixSocketGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
