//! One client connection, from accept to close: sender check, plain-or-GSS
//! decision, handshake, then tokens (or bytes) → messages → the output thread.
//! Every failure here ends this session only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gsswire::frame::{detect_order, Detection};
use gsswire::{accept, AcceptorCredential, ByteOrder, FrameOrder, FrameReader, FrameWriter, DEFAULT_MAX_DATA_TOKEN};
use syslog::framing::Deframer;
use syslog::{Origin, ParseOptions, Timestamp};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use crate::config::{AllowedSenders, CollectorConfig, GssSettings};
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
}

/// How long a new session may stay silent before PermitPlainTCP calls it plain.
const PLAIN_DETECT_WAIT: Duration = Duration::from_secs(1);

pub async fn run(stream: TcpStream, peer: SocketAddr, ctx: Arc<SessionContext>) {
    let ip = canonical_ip(peer);
    // Log IPv4 peers as such, not as IPv4-mapped IPv6 addresses.
    let peer = SocketAddr::new(ip, peer.port());
    let plain_allowed = AllowedSenders::permits(&ctx.config.allowed.tcp, ip);
    let gss_allowed = AllowedSenders::permits(&ctx.config.allowed.gss, ip);
    let (gss_ok, plain_ok) = match (&ctx.gss, &ctx.credential) {
        (Some(g), Some(_)) => (gss_allowed, g.permit_plain_tcp && plain_allowed && gss_allowed),
        (Some(g), None) => (false, g.permit_plain_tcp && plain_allowed),
        (None, _) => (false, plain_allowed),
    };
    if !gss_ok && !plain_ok {
        tracing::warn!(%peer, "connection refused: sender not permitted by $AllowedSender");
        return;
    }
    let dns = ctx.dns;
    let fromhost = tokio::task::spawn_blocking(move || crate::dns::fromhost(ip, dns)).await.unwrap_or_else(|_| ip.to_string());
    let inputname = if ctx.gss.is_some() { "imgssapi" } else { "imtcp" };
    let origin = Arc::new(Origin { fromhost, fromhost_ip: ip.to_string(), inputname });
    let (read, write) = stream.into_split();
    let order = ctx.gss.as_ref().map_or(FrameOrder::Auto, |g| g.byte_order);
    let mut reader = FrameReader::new(read, order);

    let use_gss = match (gss_ok, plain_ok) {
        (true, false) => true,
        (false, true) => false,
        _ => match looks_like_gss(&mut reader).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "session closed before it said anything useful");
                return;
            }
        },
    };
    let mut sink = Sink::new(ctx.clone(), origin);
    let result = if use_gss {
        gss_session(reader, write, peer, &ctx, &mut sink).await
    } else {
        tracing::info!(%peer, "plain TCP session opened");
        let (read, buffered) = reader.into_parts();
        plain_session(read, buffered.to_vec(), write, &ctx, &mut sink).await
    };
    sink.finish().await;
    match result {
        Ok(()) => tracing::debug!(%peer, messages = sink.count, "session closed"),
        Err(e) => tracing::warn!(%peer, messages = sink.count, error = %e, "session closed on error"),
    }
}

fn canonical_ip(peer: SocketAddr) -> std::net::IpAddr {
    match peer.ip() {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
        v4 => v4,
    }
}

/// rsyslog's PermitPlainTCP heuristic, made exact: a session is GSS when its
/// first bytes are a length-prefixed InitialContextToken in either byte order;
/// a session silent for a second, or starting with anything else, is plain.
async fn looks_like_gss<R: AsyncRead + Unpin>(reader: &mut FrameReader<R>) -> std::io::Result<bool> {
    let deadline = tokio::time::Instant::now() + PLAIN_DETECT_WAIT;
    loop {
        match detect_order(reader.buffered()) {
            Detection::Found(_) => return Ok(true),
            Detection::NotGss => return Ok(false),
            Detection::NeedMore => {}
        }
        match tokio::time::timeout_at(deadline, reader.fill()).await {
            Err(_) => return Ok(false),
            Ok(Ok(0)) if reader.buffered().is_empty() => {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"))
            }
            Ok(Ok(0)) => return Ok(false),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(std::io::Error::other(e.to_string())),
        }
    }
}

async fn gss_session(
    mut reader: FrameReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
    peer: SocketAddr,
    ctx: &SessionContext,
    sink: &mut Sink,
) -> anyhow::Result<()> {
    let (Some(settings), Some(credential)) = (&ctx.gss, &ctx.credential) else {
        anyhow::bail!("GSS session without an acceptor credential");
    };
    let handshake_timeout = ctx.config.token_timeout.unwrap_or(Duration::from_secs(60)) * 2;
    reader.set_token_timeout(ctx.config.token_timeout);
    let mut writer = FrameWriter::new(write, ByteOrder::Little);
    let mut session = accept(&mut reader, &mut writer, credential, handshake_timeout)
        .await
        .map_err(|e| anyhow::anyhow!("GSS handshake failed: {e}"))?;
    tracing::info!(
        %peer,
        principal = session.peer_name(),
        byte_order = ?reader.byte_order(),
        message_tokens = session.message_tokens(),
        "GSS session opened"
    );
    let max_token = DEFAULT_MAX_DATA_TOKEN.max(ctx.config.max_message_size + 64 * 1024);
    let mut shutdown = ctx.shutdown.clone();
    let mut draining = *shutdown.borrow();
    if draining {
        half_close(&mut writer).await;
    }
    loop {
        let token = if draining {
            match tokio::time::timeout(ctx.config.drain_timeout, reader.read_token(max_token)).await {
                Ok(t) => t?,
                Err(_) => anyhow::bail!("client did not finish within the drain timeout at shutdown"),
            }
        } else {
            tokio::select! {
                t = reader.read_token(max_token) => t?,
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
