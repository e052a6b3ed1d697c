//! Where the node's messages come in: rsyslog's omprog on stdin (with
//! confirmations), a local datagram socket like `/dev/log` (bound here or
//! passed by systemd), UDP and TCP.
//! Each input runs on its own thread: enqueueing may wait (up to the enqueue
//! timeout), and that must never hold up the async forwarders.

use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use daemon::signals::Shutdown;
use syslog::framing::Deframer;
use syslog::Origin;

use crate::route::Router;

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
    pub fn spawn_unix(self: &Arc<Self>, path: &Path) -> anyhow::Result<UnixSocketGuard> {
        let _ = std::fs::remove_file(path);
        let socket = UnixDatagram::bind(path).with_context(|| format!("binding unix socket {}", path.display()))?;
        let mut perms = std::fs::metadata(path)?.permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o666);
        std::fs::set_permissions(path, perms)?;
        self.spawn_datagram_reader(socket)?;
        tracing::info!(path = %path.display(), "listening on unix socket");
        Ok(UnixSocketGuard(path.to_path_buf()))
    }

    /// A datagram socket systemd bound for us (socket activation, as the
    /// node's syslog daemon: `syslog.socket`, journald's
    /// `/run/systemd/journal/syslog`). systemd owns the socket file, so
    /// nothing is bound, chmod'ed or removed here.
    pub fn spawn_activated(self: &Arc<Self>, fd: OwnedFd) -> anyhow::Result<()> {
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
        self.spawn_datagram_reader(socket)?;
        tracing::info!(path = %name, "listening on a unix socket passed by systemd");
        Ok(())
    }

    /// One message per datagram, from a local socket.
    fn spawn_datagram_reader(self: &Arc<Self>, socket: UnixDatagram) -> anyhow::Result<()> {
        let me = self.clone();
        std::thread::Builder::new().name("input-unix".into()).spawn(move || {
            let origin = me.origin("127.0.0.1".into(), "imuxsock");
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = socket.recv(&mut buf) {
                me.accept(&buf[..n], &origin);
            }
        })?;
        Ok(())
    }

    pub fn spawn_udp(self: &Arc<Self>, addr: SocketAddr) -> anyhow::Result<SocketAddr> {
        let socket = UdpSocket::bind(addr).with_context(|| format!("binding UDP {addr}"))?;
        let local = socket.local_addr()?;
        let me = self.clone();
        std::thread::Builder::new().name("input-udp".into()).spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok((n, peer)) = socket.recv_from(&mut buf) {
                let origin = me.origin(peer.ip().to_string(), "imudp");
                me.accept(&buf[..n], &origin);
            }
        })?;
        tracing::info!(%local, "listening on UDP");
        Ok(local)
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

    /// Inputs that cannot ask the sender to retry: a refused message is
    /// counted by the queue and logged there.
    fn accept(&self, raw: &[u8], origin: &Arc<Origin>) {
        if self.shutdown.is_triggered() {
            return;
        }
        let _ = self.router.route(raw, origin);
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

/// Removes the socket file when the shipper stops.
pub struct UnixSocketGuard(PathBuf);

impl Drop for UnixSocketGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
