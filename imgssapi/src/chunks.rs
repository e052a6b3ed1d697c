//! Where a session's chunks come from: GSS message tokens, unwrapped, or the
//! raw bytes of a plain TCP connection. The read loop ([`crate::session`])
//! is the same for both.

use std::time::Duration;

use gsswire::ack::CollectorMessage;
use gsswire::{FrameError, FrameReader, FrameWriter, Session, UnwrapError, DEFAULT_MAX_DATA_TOKEN};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::open::Opened;
use crate::session::SessionContext;

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
pub enum ChunkSource {
    Gss {
        reader: FrameReader<OwnedReadHalf>,
        writer: FrameWriter<OwnedWriteHalf>,
        session: Session,
        max_token: usize,
        require_encryption: bool,
        /// The last token's payload, which [`ChunkSource::next_chunk`] lends out.
        unwrapped: Vec<u8>,
    },
    Plain {
        read: OwnedReadHalf,
        write: OwnedWriteHalf,
        /// What the front door read before deciding: the first chunk.
        first: Vec<u8>,
        first_sent: bool,
        buf: Vec<u8>,
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
                }
            }
            Opened::Plain { read, first, write } => {
                ChunkSource::Plain { read, write, first, first_sent: false, buf: vec![0u8; PLAIN_READ_BUFFER] }
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
            ChunkSource::Gss { reader, session, max_token, require_encryption, unwrapped, .. } => {
                let Some(token) = reader.read_token(*max_token).await? else { return Ok(None) };
                let plain = session.unwrap(&token).map_err(SessionError::Unwrap)?;
                if *require_encryption && !plain.sealed {
                    return Err(SessionError::EncryptionRequired);
                }
                *unwrapped = plain.data;
                Ok(Some(Chunk { bytes: unwrapped, integrity_only: !plain.sealed }))
            }
            ChunkSource::Plain { read, first, first_sent, buf, .. } => {
                if !*first_sent {
                    *first_sent = true;
                    return Ok(Some(Chunk { bytes: first, integrity_only: false }));
                }
                let n = read.read(buf).await?;
                if n == 0 {
                    return Ok(None);
                }
                Ok(Some(Chunk { bytes: &buf[..n], integrity_only: false }))
            }
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
