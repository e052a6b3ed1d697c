//! One client connection, from accept to close.
//!
//! A connection first passes the *front door* ([`open`]): plain-or-GSS
//! decision, first bytes, GSS handshake, each against its deadline, while it
//! holds a place in the front-door budget (see [`crate::admission`]). Only a
//! connection that comes out of it (an authenticated GSS peer, or a plain
//! peer that has sent data) takes a session slot, has its name looked up in
//! DNS, and has its tokens (or bytes) turned into messages for the output
//! thread. Every failure here ends this connection only.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use gsswire::frame::{detect_order, Detection};
use gsswire::{
    accept, AcceptorCredential, ByteOrder, FrameError, FrameOrder, FrameReader, FrameWriter, HandshakeError, Session,
    DEFAULT_MAX_DATA_TOKEN,
};
use syslog::framing::Deframer;
use syslog::{Origin, ParseOptions, ProtectionSeen, Provenance, Timestamp};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::admission::{Admission, FrontDoorPlace};
use crate::config::{AllowedSenders, CollectorConfig, FrontDoorLimits, GssSettings};
use crate::output::Command;
use crate::render::{RenderedBatch, Rules};
use crate::render_pool::RenderPool;

/// What every session of a listener shares.
pub struct SessionContext {
    pub config: Arc<CollectorConfig>,
    pub gss: Option<GssSettings>,
    pub credential: Option<AcceptorCredential>,
    /// Sessions apply the rules and render lines themselves (see [`crate::render`]).
    pub rules: Arc<Rules>,
    pub output: mpsc::Sender<Command>,
    pub shutdown: watch::Receiver<bool>,
    /// Reverse DNS for `fromhost` (off with `-x`).
    pub dns: bool,
    /// The front door and the session slots, shared by every listener.
    pub admission: Arc<Admission>,
}

/// The kinds of session a sender may open on a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modes {
    GssOnly,
    PlainOnly,
    /// PermitPlainTCP: the first bytes decide.
    Either,
}

impl SessionContext {
    /// What `ip` may open here; `None` when `$AllowedSender` refuses it.
    pub fn modes_for(&self, ip: IpAddr) -> Option<Modes> {
        let plain_allowed = AllowedSenders::permits(&self.config.allowed.tcp, ip);
        let gss_allowed = AllowedSenders::permits(&self.config.allowed.gss, ip);
        let (gss_ok, plain_ok) = match (&self.gss, &self.credential) {
            (Some(g), Some(_)) => (gss_allowed, g.permit_plain_tcp && plain_allowed && gss_allowed),
            (Some(_), None) => (false, false),
            (None, _) => (false, plain_allowed),
        };
        match (gss_ok, plain_ok) {
            (true, true) => Some(Modes::Either),
            (true, false) => Some(Modes::GssOnly),
            (false, true) => Some(Modes::PlainOnly),
            (false, false) => None,
        }
    }
}

/// IPv4 peers as such, not as IPv4-mapped IPv6 addresses.
pub fn canonical_peer(peer: SocketAddr) -> SocketAddr {
    let ip = match peer.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    SocketAddr::new(ip, peer.port())
}

/// How long a new session may stay silent before PermitPlainTCP calls it plain.
const PLAIN_DETECT_WAIT: Duration = Duration::from_secs(1);

/// Why a connection did not get through the front door.
#[derive(Debug, thiserror::Error)]
enum NotOpened {
    #[error("closed without sending anything")]
    ClosedSilent,
    #[error("nothing received within {0:?} of the connection ($InputGSSServerFirstByteTimeout)")]
    Silent(Duration),
    #[error("GSS handshake not complete within {0:?} of the connection ($InputGSSServerHandshakeTimeout)")]
    HandshakeTooSlow(Duration),
    #[error("GSS handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("reading the first bytes: {0}")]
    Read(#[from] FrameError),
    #[error("GSS listener without an acceptor credential")]
    NoCredential,
    #[error("the collector is shutting down")]
    ShuttingDown,
}

impl NotOpened {
    /// A short name, for the log's summary counts.
    fn kind(&self) -> &'static str {
        match self {
            NotOpened::ClosedSilent => "closed silent",
            NotOpened::Silent(_) => "closed: first-byte timeout",
            NotOpened::HandshakeTooSlow(_) => "closed: handshake timeout",
            NotOpened::Handshake(_) | NotOpened::NoCredential => "closed: handshake failed",
            NotOpened::Read(_) => "closed: read failed",
            NotOpened::ShuttingDown => "closed: shutting down",
        }
    }
}

/// A connection out of the front door.
enum Opened {
    Gss { reader: FrameReader<OwnedReadHalf>, writer: FrameWriter<OwnedWriteHalf>, session: Session },
    Plain { read: OwnedReadHalf, first: Vec<u8>, write: OwnedWriteHalf },
}

/// Deadlines of the front door, counted from accept.
#[derive(Clone, Copy)]
struct Deadlines {
    first_byte: Instant,
    handshake: Instant,
}

pub async fn run(stream: TcpStream, peer: SocketAddr, modes: Modes, place: FrontDoorPlace, ctx: Arc<SessionContext>) {
    let limits = *ctx.admission.limits();
    let accepted = Instant::now();
    let deadlines =
        Deadlines { first_byte: accepted + limits.first_byte_timeout, handshake: accepted + limits.handshake_timeout };
    // Nothing has been received yet at shutdown: such a connection just goes.
    let opened = tokio::select! {
        opened = open(stream, modes, &ctx, &limits, deadlines) => opened,
        _ = shutting_down(ctx.shutdown.clone()) => Err(NotOpened::ShuttingDown),
    };
    let opened = match opened {
        Ok(opened) => opened,
        Err(e @ (NotOpened::ClosedSilent | NotOpened::ShuttingDown)) => {
            tracing::debug!(%peer, "connection closed before authentication: {e}");
            return;
        }
        Err(e) => {
            if ctx.admission.log.admit(e.kind()) {
                tracing::warn!(%peer, error = %e, "connection closed before authentication");
            }
            return;
        }
    };
    // Who may send, and as which host: decided right after the handshake.
    let principal = match &opened {
        Opened::Gss { session, .. } => Some(session.peer_name().to_string()),
        Opened::Plain { .. } => None,
    };
    let provenance = match principal {
        Some(principal) => match crate::identity::admit(&ctx.config.identity, principal, peer.ip()).await {
            Ok(provenance) => provenance,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "session refused after authentication");
                return;
            }
        },
        None => Provenance::default(),
    };
    let _slot = match ctx.admission.establish(place) {
        Ok(slot) => slot,
        Err(refusal) => {
            if ctx.admission.log.admit(refusal.kind()) {
                let max_sessions = ctx.admission.max_sessions();
                tracing::warn!(%peer, max_sessions, "too many sessions: refusing connection ($InputGSSServerMaxSessions)");
            }
            return;
        }
    };
    // Only an authenticated peer (or a plain one that has spoken) costs a DNS query.
    let ip = peer.ip();
    let dns = ctx.dns;
    let fromhost = tokio::task::spawn_blocking(move || crate::dns::fromhost(ip, dns)).await.unwrap_or_else(|_| ip.to_string());
    let inputname = if ctx.gss.is_some() { "imgssapi" } else { "imtcp" };
    let origin = Arc::new(Origin { fromhost, fromhost_ip: ip.to_string(), inputname, provenance });
    let mut sink = Sink::new(ctx.clone(), origin);
    let result = match opened {
        Opened::Gss { reader, writer, session } => gss_session(reader, writer, session, peer, &ctx, &mut sink).await,
        Opened::Plain { read, first, write } => {
            tracing::info!(%peer, "plain TCP session opened");
            plain_session(read, first, write, &ctx, &mut sink).await
        }
    };
    sink.finish().await;
    match result {
        Ok(()) => tracing::debug!(%peer, messages = sink.count, "session closed"),
        Err(e) => tracing::warn!(%peer, messages = sink.count, error = %e, "session closed on error"),
    }
}

async fn shutting_down(mut shutdown: watch::Receiver<bool>) {
    // An error means the sender is gone, which happens only at exit.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// The front door: decides plain or GSS, waits for the first bytes, and runs
/// the GSS handshake, each within its deadline.
async fn open(
    stream: TcpStream,
    modes: Modes,
    ctx: &SessionContext,
    limits: &FrontDoorLimits,
    deadlines: Deadlines,
) -> Result<Opened, NotOpened> {
    let (read, write) = stream.into_split();
    let order = ctx.gss.as_ref().map_or(FrameOrder::Auto, |g| g.byte_order);
    let mut reader = FrameReader::new(read, order);
    let use_gss = match modes {
        Modes::GssOnly => true,
        Modes::PlainOnly => false,
        Modes::Either => looks_like_gss(&mut reader).await?,
    };
    // A silent connection is plain after a second (as in rsyslog), but it
    // becomes a session only once it says something.
    if reader.buffered().is_empty() {
        first_bytes(&mut reader, deadlines.first_byte, limits.first_byte_timeout).await?;
    }
    if !use_gss {
        let (read, buffered) = reader.into_parts();
        return Ok(Opened::Plain { read, first: buffered.to_vec(), write });
    }
    let Some(credential) = &ctx.credential else { return Err(NotOpened::NoCredential) };
    reader.set_token_timeout(ctx.config.token_timeout);
    let mut writer = FrameWriter::new(write, ByteOrder::Little);
    let left = deadlines.handshake.saturating_duration_since(Instant::now());
    let session = match accept(&mut reader, &mut writer, credential, left).await {
        Ok(session) => session,
        Err(HandshakeError::TimedOut(_)) => return Err(NotOpened::HandshakeTooSlow(limits.handshake_timeout)),
        Err(e) => return Err(e.into()),
    };
    Ok(Opened::Gss { reader, writer, session })
}

/// Waits for the first bytes of a connection until `deadline`.
async fn first_bytes<R: AsyncRead + Unpin>(
    reader: &mut FrameReader<R>,
    deadline: Instant,
    timeout: Duration,
) -> Result<(), NotOpened> {
    match tokio::time::timeout_at(deadline, reader.fill()).await {
        Err(_) => Err(NotOpened::Silent(timeout)),
        Ok(Ok(0)) => Err(NotOpened::ClosedSilent),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(NotOpened::Read(e)),
    }
}

/// rsyslog's PermitPlainTCP heuristic, made exact: a session is GSS when its
/// first bytes are a length-prefixed InitialContextToken in either byte order;
/// a session silent for a second, or starting with anything else, is plain.
async fn looks_like_gss<R: AsyncRead + Unpin>(reader: &mut FrameReader<R>) -> Result<bool, FrameError> {
    let deadline = Instant::now() + PLAIN_DETECT_WAIT;
    loop {
        match detect_order(reader.buffered()) {
            Detection::Found(_) => return Ok(true),
            Detection::NotGss => return Ok(false),
            Detection::NeedMore => {}
        }
        match tokio::time::timeout_at(deadline, reader.fill()).await {
            // Silent, or closed: plain (a closed silent one ends at its first bytes).
            Err(_) | Ok(Ok(0)) => return Ok(false),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
        }
    }
}

/// An authenticated session: tokens until the peer closes.
async fn gss_session(
    mut reader: FrameReader<OwnedReadHalf>,
    mut writer: FrameWriter<OwnedWriteHalf>,
    mut session: Session,
    peer: SocketAddr,
    ctx: &SessionContext,
    sink: &mut Sink,
) -> anyhow::Result<()> {
    let Some(settings) = &ctx.gss else {
        anyhow::bail!("GSS session on a plain TCP listener");
    };
    tracing::info!(
        %peer,
        principal = session.peer_name(),
        byte_order = ?reader.byte_order(),
        message_tokens = session.message_tokens().name(),
        context_expires_in = ?session.expires_at().map(|t| t.saturating_duration_since(std::time::Instant::now())),
        "GSS session opened"
    );
    let max_token = DEFAULT_MAX_DATA_TOKEN.max(ctx.config.max_message_size + 64 * 1024);
    let mut shutdown = ctx.shutdown.clone();
    let mut draining = *shutdown.borrow();
    if draining {
        half_close(&mut writer).await;
    }
    // $InputGSSServerExpireSessions: the session ends with its ticket.
    let expiry = crate::identity::expiry(&ctx.config.identity, &session);
    let expired = tokio::time::sleep_until(expiry.unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 86400)));
    tokio::pin!(expired);
    loop {
        let token = if draining {
            match tokio::time::timeout(ctx.config.drain_timeout, reader.read_token(max_token)).await {
                Ok(t) => t?,
                Err(_) => anyhow::bail!("client did not finish within the drain timeout at shutdown"),
            }
        } else {
            tokio::select! {
                t = reader.read_token(max_token) => t?,
                _ = &mut expired, if expiry.is_some() => {
                    tracing::info!(
                        %peer,
                        principal = session.peer_name(),
                        "GSS context expired: ending the session ($InputGSSServerExpireSessions on)"
                    );
                    return Ok(());
                }
                _ = shutdown.changed() => {
                    // Graceful shutdown: tell the client we are going (it stops
                    // sending and closes), and keep reading what is in flight.
                    draining = true;
                    half_close(&mut writer).await;
                    continue;
                }
            }
        };
        let Some(token) = token else { return Ok(()) };
        let plain = session.unwrap(&token).map_err(|e| anyhow::anyhow!("unwrap failed: {e}"))?;
        if settings.require_encryption && !plain.sealed {
            anyhow::bail!("integrity-only token refused ($InputGSSServerRequireEncryption on)");
        }
        if !plain.sealed {
            sink.protection_seen(ProtectionSeen::Integrity);
        }
        sink.push(&plain.data).await;
    }
}

async fn half_close(writer: &mut FrameWriter<OwnedWriteHalf>) {
    let _ = writer.get_mut().shutdown().await;
}

async fn plain_session(
    mut read: OwnedReadHalf,
    first: Vec<u8>,
    mut write: OwnedWriteHalf,
    ctx: &SessionContext,
    sink: &mut Sink,
) -> anyhow::Result<()> {
    sink.push(&first).await;
    let mut buf = vec![0u8; 64 * 1024];
    let mut shutdown = ctx.shutdown.clone();
    let mut draining = *shutdown.borrow();
    loop {
        let n = if draining {
            match tokio::time::timeout(ctx.config.drain_timeout, read.read(&mut buf)).await {
                Ok(n) => n?,
                Err(_) => anyhow::bail!("client did not finish within the drain timeout at shutdown"),
            }
        } else {
            tokio::select! {
                n = read.read(&mut buf) => n?,
                _ = shutdown.changed() => {
                    draining = true;
                    let _ = write.shutdown().await;
                    continue;
                }
            }
        };
        if n == 0 {
            return Ok(());
        }
        sink.push(&buf[..n]).await;
    }
}

/// Turns a session's byte stream into rendered lines for the output thread,
/// one batch per received chunk.
///
/// Framing is sequential (a message may span chunks), so it happens here; the
/// parsing and rendering of each chunk's messages (CPU work: inflating `z`
/// messages, filters, templates) runs on the render threads
/// ([`crate::render_pool`]), never on the async runtime. One task per session
/// hands the rendered batches to the output thread in the order the chunks
/// were received. At most [`RENDER_TASKS_PER_SESSION`] chunks are in flight
/// (submitted, not yet with the output thread), after which the session stops
/// reading and TCP slows the sender.
struct Sink {
    ctx: Arc<SessionContext>,
    origin: Arc<Origin>,
    deframer: Deframer,
    options: ParseOptions,
    count: u64,
    in_flight: Arc<Semaphore>,
    /// Batches being rendered, in the session's order, to [`hand_over_in_order`].
    rendering: Option<mpsc::Sender<InFlight>>,
    hand_over: Option<JoinHandle<()>>,
}

const RENDER_TASKS_PER_SESSION: usize = 4;

/// A chunk on the render threads: its batch arrives on `batch`; the permit
/// is its place among the session's chunks in flight.
struct InFlight {
    batch: oneshot::Receiver<RenderedBatch>,
    permit: OwnedSemaphorePermit,
}

/// Complete messages of one chunk, copied out of the read buffer, and when
/// they were received.
struct Frames {
    received: Timestamp,
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Frames {
    fn new(capacity: usize) -> Frames {
        Frames { received: Timestamp::now(), bytes: Vec::with_capacity(capacity), ends: Vec::new() }
    }

    fn push(&mut self, frame: &[u8]) {
        self.bytes.extend_from_slice(frame);
        self.ends.push(self.bytes.len());
    }

    fn render(&self, rules: &Rules, origin: &Arc<Origin>, options: &ParseOptions) -> RenderedBatch {
        let mut batch = rules.batch(self.bytes.len());
        let mut start = 0;
        let mut cut = 0;
        for &end in &self.ends {
            if let Some(m) = syslog::parse(&self.bytes[start..end], origin.clone(), self.received, options) {
                cut += u64::from(m.inflated_past_limit);
                batch.add(&m);
            }
            start = end;
        }
        crate::rate_limited::inflated_past_limit(cut, origin, options.max_message_size);
        batch.finish()
    }
}

impl Sink {
    fn new(ctx: Arc<SessionContext>, origin: Arc<Origin>) -> Self {
        let options = ParseOptions { max_message_size: ctx.config.max_message_size };
        let (rendering, rendered) = mpsc::channel(RENDER_TASKS_PER_SESSION);
        let hand_over = tokio::spawn(hand_over_in_order(rendered, ctx.output.clone()));
        Sink {
            deframer: Deframer::new(ctx.config.max_message_size),
            ctx,
            origin,
            options,
            count: 0,
            in_flight: Arc::new(Semaphore::new(RENDER_TASKS_PER_SESSION)),
            rendering: Some(rendering),
            hand_over: Some(hand_over),
        }
    }

    /// Records a weaker protection than the session's messages say so far:
    /// from now on they say `protection` (it never goes back up).
    fn protection_seen(&mut self, protection: ProtectionSeen) {
        if self.origin.provenance.protection == ProtectionSeen::Encryption && protection != ProtectionSeen::Encryption {
            let mut origin = (*self.origin).clone();
            origin.provenance.protection = protection;
            self.origin = Arc::new(origin);
        }
    }

    async fn push(&mut self, data: &[u8]) {
        let mut frames = Frames::new(data.len());
        self.deframer.push(data, &mut |frame| frames.push(frame));
        self.submit(frames).await;
    }

    /// At the end of the session an unterminated last message is submitted
    /// (rsyslog drops it on GSS sessions; we do not lose it), and the session
    /// waits until everything it received is with the output thread.
    async fn finish(&mut self) {
        let mut frames = Frames::new(0);
        self.deframer.finish(&mut |frame| frames.push(frame));
        self.submit(frames).await;
        // The hand-over task ends once it has passed on the last batch.
        self.rendering = None;
        if let Some(hand_over) = self.hand_over.take() {
            let _ = hand_over.await;
        }
    }

    async fn submit(&mut self, frames: Frames) {
        if frames.ends.is_empty() {
            return;
        }
        self.count += frames.ends.len() as u64;
        let Ok(permit) = self.in_flight.clone().acquire_owned().await else { return };
        let Some(rendering) = &self.rendering else { return };
        let (rules, origin, options) = (self.ctx.rules.clone(), self.origin.clone(), self.options);
        let submitted = match RenderPool::global() {
            Ok(pool) => pool.submit(move || frames.render(&rules, &origin, &options)).await,
            Err(e) => Err(e),
        };
        let batch = match submitted {
            Ok(batch) => batch,
            Err(e) => {
                tracing::error!(error = %e, "messages of this session are lost");
                return;
            }
        };
        if rendering.send(InFlight { batch, permit }).await.is_err() {
            tracing::error!("the hand-over task is gone: messages of this session are lost");
        }
    }
}

/// Passes a session's rendered batches to the output thread, one at a time
/// in the order they were submitted, until the session drops its sender.
async fn hand_over_in_order(mut rendering: mpsc::Receiver<InFlight>, output: mpsc::Sender<Command>) {
    while let Some(InFlight { batch, permit }) = rendering.recv().await {
        match batch.await {
            Ok(batch) if batch.writes.is_empty() => {}
            Ok(batch) => {
                if output.send(Command::Write(batch)).await.is_err() {
                    tracing::error!("output thread is gone: messages of this session are lost");
                }
            }
            // The render thread has logged why (a panic); go on with the next.
            Err(_) => {}
        }
        drop(permit);
    }
}
