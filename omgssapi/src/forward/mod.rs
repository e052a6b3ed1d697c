//! One `:omgssapi:` action: a GSS session to the collector, fed from the
//! action's queue, in order, many messages to a token.
//!
//! - Connecting means: resolve the name again, connect, and complete the
//!   handshake, all inside the reconnect loop and its backoff, so a failing
//!   collector sees one attempt per backoff step, not a burst.
//! - A record is acknowledged (and may leave the disk queue) once the
//!   collector's TCP stack has acknowledged the bytes of the token holding it
//!   (bytes written minus the socket's unacknowledged send queue). A send
//!   queue that makes no progress for a while (a cut network, a frozen peer)
//!   ends the session; after a reconnect the unacknowledged records go again.
//! - The collector never sends after the handshake, so anything read on the
//!   session (end of stream above all: a collector shutting down half-closes,
//!   and rsyslog 8.2504+ closes idle sessions) means: stop sending, reconnect.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use gsswire::{initiate, FrameOrder, FrameReader, FrameWriter, InitiatorConfig, Session};
use queue::{Consumer, Record};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use daemon::signals::Shutdown;
use tokio::sync::oneshot;

use crate::backoff::Backoff;
use crate::config::ForwardConfig;

/// A session that stayed up this long resets the backoff.
const STABLE_SESSION: Duration = Duration::from_secs(10);
/// After this much quiet, give the close watcher a chance before writing.
const IDLE: Duration = Duration::from_secs(1);
/// Unacknowledged bytes that make no progress for this long end the session.
const STALLED: Duration = Duration::from_secs(20);
/// How often delivery is checked while records are in flight.
const ACK_POLL: Duration = Duration::from_millis(50);

/// What one action has sent, logged when it stops.
#[derive(Debug, Default)]
struct Sent {
    messages: u64,
    tokens: u64,
}

pub async fn run(config: ForwardConfig, mut queue: Consumer, stop: Shutdown) {
    let target = format!("{}:{}", config.target.host, config.target.port);
    let mut sent = Sent::default();
    forward(&config, &mut queue, stop, &target, &mut sent).await;
    tracing::info!(collector = %target, messages = sent.messages, tokens = sent.tokens, "forwarder stopped");
}

async fn forward(config: &ForwardConfig, queue: &mut Consumer, mut stop: Shutdown, target: &str, sent: &mut Sent) {
    let mut backoff = Backoff::new(config.backoff_base, config.backoff_max);
    let mut outage: Option<(Instant, u32, String)> = None;
    loop {
        if stop.is_triggered() {
            return;
        }
        let attempt = tokio::select! {
            a = connect(config) => a,
            _ = stop.triggered() => return,
        };
        let (mut writer, mut session, closed) = match attempt {
            Ok(c) => c,
            Err(e) => {
                match &mut outage {
                    None => {
                        tracing::warn!(collector = %target, error = %e, "collector unreachable; queueing and retrying with backoff");
                        outage = Some((Instant::now(), 1, e));
                    }
                    Some((_, attempts, _)) => {
                        *attempts += 1;
                        tracing::debug!(collector = %target, error = %e, attempt = *attempts, "reconnect failed");
                    }
                }
                if stop.sleep(backoff.next_delay()).await {
                    return;
                }
                continue;
            }
        };
        match outage.take() {
            Some((since, attempts, _)) => tracing::info!(
                collector = %target,
                down_for = ?since.elapsed(),
                attempts,
                message_tokens = session.message_tokens().name(),
                "reconnected to collector"
            ),
            None => tracing::info!(collector = %target, message_tokens = session.message_tokens().name(), "connected to collector"),
        }
        queue.rewind();
        let connected = Instant::now();
        let ended = send_until_broken(config, queue, &mut writer, &mut session, closed, &mut stop, sent).await;
        drop(writer);
        match ended {
            Ended::Stopped => return,
            Ended::Broken(why) => {
                tracing::info!(collector = %target, reason = %why, "session ended; reconnecting");
                if connected.elapsed() > STABLE_SESSION {
                    backoff.reset();
                }
                // A random first wait, so that nodes that lost the collector at
                // the same moment do not come back together.
                if stop.sleep(backoff.next_delay()).await {
                    return;
                }
            }
        }
    }
}

enum Ended {
    Stopped,
    Broken(String),
}

type Connection = (FrameWriter<OwnedWriteHalf>, Session, oneshot::Receiver<String>);

async fn connect(config: &ForwardConfig) -> Result<Connection, String> {
    let host = config.target.host.as_str();
    let addrs: Vec<SocketAddr> = tokio::time::timeout(config.handshake_timeout, tokio::net::lookup_host((host, config.target.port)))
        .await
        .map_err(|_| format!("resolving {host} timed out"))?
        .map_err(|e| format!("resolving {host}: {e}"))?
        .collect();
    let mut last = format!("{host} resolves to no address");
    let mut stream = None;
    for addr in addrs {
        match tokio::time::timeout(config.handshake_timeout, connect_from(config.bind, addr)).await {
            Ok(Ok(s)) => {
                stream = Some(s);
                break;
            }
            Ok(Err(e)) => last = format!("connecting to {addr}: {e}"),
            Err(_) => last = format!("connecting to {addr} timed out"),
        }
    }
    let stream = stream.ok_or(last)?;
    // No Nagle: a token must not wait 40 ms for an ACK after the handshake.
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (read, write) = stream.into_split();
    let mut reader = FrameReader::new(read, FrameOrder::Fixed(config.byte_order));
    let mut writer = FrameWriter::new(write, config.byte_order);
    let initiator = InitiatorConfig {
        service: config.service.clone(),
        host: host.to_string(),
        protection: config.protection,
        handshake_timeout: config.handshake_timeout,
    };
    let session = initiate(&mut reader, &mut writer, &initiator).await.map_err(|e| format!("GSS handshake: {e}"))?;
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let why = match reader.read_token(1 << 20).await {
            Ok(None) => "the collector closed the session".to_string(),
            Ok(Some(_)) => "the collector sent data after the handshake".to_string(),
            Err(e) => format!("session error: {e}"),
        };
        let _ = tx.send(why);
    });
    Ok((writer, session, rx))
}

async fn send_until_broken(
    config: &ForwardConfig,
    queue: &mut Consumer,
    writer: &mut FrameWriter<OwnedWriteHalf>,
    session: &mut Session,
    mut closed: oneshot::Receiver<String>,
    stop: &mut Shutdown,
    sent: &mut Sent,
) -> Ended {
    let max_records = if config.one_message_per_token { 256 } else { 4096 };
    let mut last_write = Instant::now();
    let mut plain = Vec::with_capacity(config.batch_bytes + 8192);
    let mut delivery = Delivery::new(writer.get_ref().as_ref().as_raw_fd());
    let mut tick = tokio::time::interval(ACK_POLL);
    loop {
        // Only cancellation-safe waits stand in the select: popping records
        // happens after it, so no record is taken and then dropped.
        tokio::select! {
            _ = queue.wait_for_data(), if delivery.has_room() => {}
            why = &mut closed => return Ended::Broken(why.unwrap_or_else(|_| "session watcher ended".into())),
            _ = stop.triggered() => return Ended::Stopped,
            _ = tick.tick(), if delivery.pending() => {
                if let Err(why) = delivery.settle(queue) {
                    return Ended::Broken(why);
                }
                continue;
            }
        }
        let batch = match queue.next_batch(max_records, config.batch_bytes * 4).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "reading the queue failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if last_write.elapsed() > IDLE {
            // After a quiet spell the peer may have closed: let the watcher
            // see it before a message goes into a dead connection.
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
            if let Ok(why) = closed.try_recv() {
                return Ended::Broken(why);
            }
        }
        // A write that cannot complete (send buffer full, peer gone silent)
        // is the same stall as unacknowledged bytes that do not move.
        let written = match tokio::time::timeout(STALLED, write_batch(config, session, writer, &batch, &mut plain)).await {
            Ok(r) => r,
            Err(_) => return Ended::Broken(format!("a write made no progress for {STALLED:?}: network or collector stuck")),
        };
        match written {
            Ok((tokens, bytes)) => {
                sent.messages += batch.len() as u64;
                sent.tokens += tokens;
                if let Some(last) = batch.last() {
                    delivery.written(last.seq, bytes);
                }
            }
            Err(e) => return Ended::Broken(e),
        }
        last_write = Instant::now();
        if let Err(why) = delivery.settle(queue) {
            return Ended::Broken(why);
        }
    }
}

/// Records written but not yet acknowledged by the peer's TCP stack.
struct Delivery {
    fd: std::os::fd::RawFd,
    /// Bytes written on this connection so far.
    written: u64,
    /// (last record seq of a batch, `written` once that batch was written).
    batches: std::collections::VecDeque<(u64, u64)>,
    last_progress: Instant,
    last_acked_bytes: u64,
}

impl Delivery {
    fn new(fd: std::os::fd::RawFd) -> Self {
        Delivery { fd, written: 0, batches: Default::default(), last_progress: Instant::now(), last_acked_bytes: 0 }
    }

    fn pending(&self) -> bool {
        !self.batches.is_empty()
    }

    /// Keeps the records in flight bounded (the kernel buffers, roughly).
    fn has_room(&self) -> bool {
        self.batches.len() < 1024
    }

    fn written(&mut self, last_seq: u64, bytes: u64) {
        if self.batches.is_empty() {
            self.last_progress = Instant::now();
        }
        self.written += bytes;
        self.batches.push_back((last_seq, self.written));
    }

    /// Acknowledges, in the queue, every batch the peer's TCP stack has
    /// received; fails when unacknowledged bytes stopped moving.
    fn settle(&mut self, queue: &mut Consumer) -> Result<(), String> {
        let unacked = unacknowledged_bytes(self.fd);
        let acked_bytes = self.written.saturating_sub(unacked);
        let mut through = None;
        while self.batches.front().is_some_and(|(_, end)| *end <= acked_bytes) {
            through = self.batches.pop_front().map(|(seq, _)| seq);
        }
        if let Some(seq) = through {
            if let Err(e) = queue.ack(seq) {
                tracing::error!(error = %e, "cannot record delivery in the queue checkpoint");
            }
        }
        if acked_bytes > self.last_acked_bytes || self.batches.is_empty() {
            self.last_acked_bytes = acked_bytes;
            self.last_progress = Instant::now();
        } else if self.last_progress.elapsed() > STALLED {
            return Err(format!("no delivery progress for {STALLED:?} ({unacked} bytes unacknowledged): network or collector stuck"));
        }
        Ok(())
    }
}

/// Bytes in the socket's send queue not yet acknowledged by the peer (Linux
/// SIOCOUTQ). On failure 0 is assumed, which acknowledges on write as before.
fn unacknowledged_bytes(fd: std::os::fd::RawFd) -> u64 {
    let mut n: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one int through the pointer; fd is
    // the live socket of this session.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut n) };
    if rc == 0 {
        n.max(0) as u64
    } else {
        0
    }
}

/// Packs records into tokens of at most `batch_bytes` of plaintext (one
/// record per token in strict mode; a larger record travels alone). Returns
/// how many tokens and bytes (framing included) were written.
async fn write_batch(
    config: &ForwardConfig,
    session: &mut Session,
    writer: &mut FrameWriter<OwnedWriteHalf>,
    batch: &[Record],
    plain: &mut Vec<u8>,
) -> Result<(u64, u64), String> {
    plain.clear();
    let (mut tokens, mut bytes) = (0, 0);
    for r in batch {
        let full = !plain.is_empty() && (config.one_message_per_token || plain.len() + r.payload.len() > config.batch_bytes);
        if full {
            bytes += send_token(session, writer, plain).await?;
            tokens += 1;
            plain.clear();
        }
        plain.extend_from_slice(&r.payload);
    }
    if !plain.is_empty() {
        bytes += send_token(session, writer, plain).await?;
        tokens += 1;
    }
    Ok((tokens, bytes))
}

/// Wraps and writes one token; returns the bytes put on the wire.
async fn send_token(session: &mut Session, writer: &mut FrameWriter<OwnedWriteHalf>, plain: &[u8]) -> Result<u64, String> {
    let token = session.wrap(plain).map_err(|e| format!("wrap failed: {e}"))?;
    writer.write_token(&token).await.map_err(|e| format!("write failed: {e}"))?;
    Ok(token.len() as u64 + 4)
}

async fn connect_from(source: Option<std::net::IpAddr>, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    socket.connect(addr).await
}
