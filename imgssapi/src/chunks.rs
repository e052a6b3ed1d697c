//! Where a session's chunks come from: GSS message tokens, unwrapped, or the
//! raw bytes of a plain TCP connection. The read loop ([`crate::session`])
//! is the same for both.

use std::sync::Arc;
use std::time::Duration;

use gsswire::ack::CollectorMessage;
use gsswire::{FrameError, FrameReader, FrameWriter, Session, UnwrapError, DEFAULT_MAX_DATA_TOKEN};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::budget::{Budget, Reservation};
use crate::detect::READ_SLACK;
use crate::open::Opened;
use crate::context::SessionContext;

/// Why a session ended other than by its peer closing the connection. The
/// texts are those of the collector's log.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("GSS session on a plain TCP listener")]
    NotGssListener,
    /// Framing of a GSS message token.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// Reading a plain TCP connection.
    #[error(transparent)]
    Read(#[from] std::io::Error),
    #[error("unwrap failed: {0}")]
    Unwrap(#[source] UnwrapError),
    #[error("integrity-only token refused ($InputGSSServerRequireEncryption on)")]
    EncryptionRequired,
    #[error("client did not finish within the drain timeout at shutdown")]
    DrainTimeout,
    /// Acknowledged mode: a message could not be written, so it is not
    /// acknowledged; closing makes the shipper send it again.
    #[error("messages of this session could not be written: acknowledgements stopped, closing so that the sender resends")]
    NotWritten,
    #[error("sending an acknowledgement: wrap failed: {0}")]
    AckWrap(#[source] gsswire::GssError),
    #[error("sending an acknowledgement: {0}")]
    AckWrite(#[source] FrameError),
    #[error("sending an acknowledgement: the peer did not read it within the token I/O timeout")]
    AckWriteTimedOut,
    #[error("GSS context expired: session of {principal} ended ($InputGSSServerExpireSessions on)")]
    ContextExpired { principal: String },
    #[error("{}", displaced_text(*.0))]
    Displaced(crate::slots::Displaced),
}

fn displaced_text(why: crate::slots::Displaced) -> &'static str {
    use crate::slots::Displaced;
    match why {
        Displaced::SenderCap => "closed to make room for a newer session of the same sender, the longest idle of its sessions ($InputGSSServerMaxSessionsPerPrincipal)",
        Displaced::HostCap => "closed to make room for a new session from the same address ($InputGSSServerMaxSessionsPerHost)",
        Displaced::FairShare => "closed to make room for a new sender: every session slot was taken and this sender held the most ($InputGSSServerMaxSessions)",
        Displaced::ReplacedByOwn => "closed to make room for a newer session of the same sender, the longest idle of its sessions: no slot was free and no sender held more ($InputGSSServerMaxSessions, $InputGSSServerMaxSessionsPerHost)",
    }
}

/// One received chunk of a session's byte stream.
pub struct Chunk<'a> {
    pub bytes: &'a [u8],
    /// It came in a GSS token that was not sealed (integrity only).
    pub integrity_only: bool,
}

/// Size of a plain session's read buffer.
const PLAIN_READ_BUFFER: usize = 64 * 1024;

/// A session's connection, as a source of received chunks.
// One per session, made once and never moved about: the size difference
// costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub enum ChunkSource {
    Gss {
        reader: FrameReader<OwnedReadHalf>,
        writer: FrameWriter<OwnedWriteHalf>,
        session: Session,
        max_token: usize,
        require_encryption: bool,
        /// The last token's payload, which [`ChunkSource::next_chunk`] lends out.
        unwrapped: Vec<u8>,
        budget: Arc<Budget>,
        /// The bytes of the token being read and unwrapped, booked once its
        /// length is known; given back by [`ChunkSource::chunk_done`].
        reading: Option<Reservation>,
        token_timeout: Option<Duration>,
    },
    Plain {
        read: OwnedReadHalf,
        write: OwnedWriteHalf,
        /// What the front door read before deciding: the first chunk.
        first: Vec<u8>,
        first_sent: bool,
        buf: Vec<u8>,
        budget: Arc<Budget>,
        /// The read's bytes, booked before reading as a GSS session books
        /// its token; given back by [`ChunkSource::chunk_done`].
        reading: Option<Reservation>,
    },
}

impl ChunkSource {
    /// The source of an opened connection.
    pub fn new(opened: Opened, ctx: &SessionContext) -> Result<ChunkSource, SessionError> {
        Ok(match opened {
            Opened::Gss { reader, writer, session } => {
                let Some(settings) = &ctx.gss else { return Err(SessionError::NotGssListener) };
                ChunkSource::Gss {
                    reader,
                    writer,
                    session,
                    max_token: DEFAULT_MAX_DATA_TOKEN.max(ctx.config.max_message_size + 64 * 1024),
                    require_encryption: settings.require_encryption,
                    unwrapped: Vec::new(),
                    budget: ctx.budgets.sessions.clone(),
                    reading: None,
                    token_timeout: ctx.config.token_timeout,
                }
            }
            Opened::Plain { read, first, write } => {
                ChunkSource::Plain {
                    read,
                    write,
                    first,
                    first_sent: false,
                    buf: vec![0u8; PLAIN_READ_BUFFER],
                    budget: ctx.budgets.sessions.clone(),
                    reading: None,
                }
            }
        })
    }

    /// Logs the opening of the session.
    pub fn log_opened(&self, peer: std::net::SocketAddr) {
        match self {
            ChunkSource::Gss { reader, session, .. } => tracing::info!(
                %peer,
                principal = session.peer_name(),
                // As the config spells them ($GssForwardFrameByteOrder), and whole
                // seconds: no Rust debug text in the fields an admin reads.
                byte_order = match reader.byte_order() {
                    Some(gsswire::ByteOrder::Little) => "le",
                    Some(gsswire::ByteOrder::Big) => "be",
                    None => "undecided",
                },
                message_tokens = session.message_tokens().name(),
                context_expires_in = %session
                    .expires_at()
                    .map_or("never".to_string(), |t| format!("{}s", t.saturating_duration_since(std::time::Instant::now()).as_secs())),
                "GSS session opened"
            ),
            ChunkSource::Plain { .. } => tracing::info!(%peer, "plain TCP session opened"),
        }
    }

    /// The next chunk of the session's byte stream; `None` once the peer has
    /// closed. Cancellation-safe (fit for `select!`): a chunk is lost only
    /// when it has been returned.
    pub async fn next_chunk(&mut self) -> Result<Option<Chunk<'_>>, SessionError> {
        match self {
            ChunkSource::Gss { reader, session, max_token, require_encryption, unwrapped, budget, reading, token_timeout, .. } => {
                book_next_token(reader, *max_token, budget, *token_timeout, reading).await?;
                let Some(token) = reader.read_token(*max_token).await? else { return Ok(None) };
                let plain = session.unwrap(&token).map_err(SessionError::Unwrap)?;
                if *require_encryption && !plain.sealed {
                    return Err(SessionError::EncryptionRequired);
                }
                *unwrapped = plain.data;
                Ok(Some(Chunk { bytes: unwrapped, integrity_only: !plain.sealed }))
            }
            ChunkSource::Plain { read, first, first_sent, buf, budget, reading, .. } => {
                if !*first_sent {
                    *first_sent = true;
                    return Ok(Some(Chunk { bytes: first, integrity_only: false }));
                }
                // Once there is something to read, a read's worth is booked
                // (waiting while the budget is spent) and held until the
                // chunk is with the pipeline, as a GSS session's token: an
                // idle session books nothing, and a release lets through only
                // as many sessions as it has bytes for.
                loop {
                    read.readable().await?;
                    if reading.is_none() {
                        *reading = Some(budget.acquire(PLAIN_READ_BUFFER as u64).await);
                    }
                    match read.try_read(buf) {
                        Ok(0) => return Ok(None),
                        Ok(n) => return Ok(Some(Chunk { bytes: &buf[..n], integrity_only: false })),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => *reading = None,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
    }

    /// The last chunk has been handed on: its buffers and its bytes in the
    /// budget are given back, so that an idle session holds neither.
    pub fn chunk_done(&mut self) {
        match self {
            ChunkSource::Gss { reader, unwrapped, reading, .. } => {
                *unwrapped = Vec::new();
                reader.release_idle_buffer();
                *reading = None;
            }
            ChunkSource::Plain { reading, .. } => *reading = None,
        }
    }

    /// Whether this is a GSS session (only those can be acknowledged).
    pub fn is_gss(&self) -> bool {
        matches!(self, ChunkSource::Gss { .. })
    }

    /// Wraps and sends one acknowledged-mode message to the peer, within
    /// `timeout` when there is one (a peer that does not read must not hold
    /// the session forever). Only a GSS session sends anything.
    pub async fn send(&mut self, message: CollectorMessage, timeout: Option<Duration>) -> Result<(), SessionError> {
        let ChunkSource::Gss { writer, session, .. } = self else { return Ok(()) };
        let token = session.wrap(&message.encode()).map_err(SessionError::AckWrap)?;
        let write = writer.write_token(&token);
        match timeout {
            Some(limit) => tokio::time::timeout(limit, write).await.map_err(|_| SessionError::AckWriteTimedOut)?,
            None => write.await,
        }
        .map_err(SessionError::AckWrite)
    }

    /// When the session must end because its GSS context expires
    /// (`$InputGSSServerExpireSessions on`), and whose context it is.
    pub fn expiry(&self, ctx: &SessionContext) -> Option<(tokio::time::Instant, String)> {
        match self {
            ChunkSource::Gss { session, .. } => {
                crate::identity::expiry(&ctx.config.identity, session).map(|at| (at, session.peer_name().to_string()))
            }
            ChunkSource::Plain { .. } => None,
        }
    }

    /// Tells the peer we are going (at shutdown): it stops sending and
    /// closes, and the session keeps reading what is in flight.
    pub async fn half_close(&mut self) {
        let _ = match self {
            ChunkSource::Gss { writer, .. } => writer.get_mut().shutdown().await,
            ChunkSource::Plain { write, .. } => write.shutdown().await,
        };
    }
}

/// Waits for the next token's length prefix, then books the whole token's
/// bytes in `reading` (three per byte: the buffer, which grows as a `Vec`
/// does, and the unwrapped copy; and a read ahead) before the rest is read:
/// while the budget is spent the session reads no more, and an idle session
/// books nothing. The whole token at once, not as it arrives: sessions that
/// each held part of what they need could otherwise wait for each other
/// forever. The prefix's bytes must arrive within the token timeout of the
/// first, as the whole token must. Books nothing when the peer closes or
/// the length is over the limit (reading the token then says so).
async fn book_next_token(
    reader: &mut FrameReader<OwnedReadHalf>,
    max_token: usize,
    budget: &Arc<Budget>,
    token_timeout: Option<Duration>,
    reading: &mut Option<Reservation>,
) -> Result<(), FrameError> {
    if reading.is_some() {
        return Ok(());
    }
    let mut deadline = None;
    while reader.buffered().len() < 4 {
        if deadline.is_none() && !reader.buffered().is_empty() {
            deadline = token_timeout.map(|t| tokio::time::Instant::now() + t);
        }
        let read = match deadline {
            Some(at) => tokio::time::timeout_at(at, reader.fill())
                .await
                .map_err(|_| FrameError::Timeout { buffered: reader.buffered().len() })??,
            None => reader.fill().await?,
        };
        if read == 0 {
            return Ok(());
        }
    }
    let Some(order) = reader.byte_order() else { return Ok(()) };
    let b = reader.buffered();
    let len = order.decode([b[0], b[1], b[2], b[3]]) as usize;
    if len <= max_token {
        *reading = Some(budget.acquire((3 * len + READ_SLACK) as u64).await);
    }
    Ok(())
}
