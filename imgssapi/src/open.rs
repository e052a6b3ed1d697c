//! The front door: from accept to an open session.
//!
//! [`open`] decides plain or GSS ([`crate::detect`]), waits for the first
//! bytes, and runs the GSS handshake, each within its deadline counted from
//! accept. Meanwhile the connection holds a place in the front-door budget
//! (see [`crate::admission`]); what comes out of it is an [`Opened`]
//! connection: an authenticated GSS peer, or a plain peer that has sent data.

use std::time::Duration;

use gsswire::{accept, ByteOrder, FrameError, FrameOrder, FrameReader, FrameWriter, HandshakeError, Session};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::config::FrontDoorLimits;
use crate::detect::{first_bytes, looks_like_gss, Modes};
use crate::session::SessionContext;

/// Why a connection did not get through the front door.
#[derive(Debug, thiserror::Error)]
pub enum NotOpened {
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
    pub fn kind(&self) -> &'static str {
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
pub enum Opened {
    Gss { reader: FrameReader<OwnedReadHalf>, writer: FrameWriter<OwnedWriteHalf>, session: Session },
    Plain { read: OwnedReadHalf, first: Vec<u8>, write: OwnedWriteHalf },
}

/// Deadlines of the front door, counted from accept.
#[derive(Clone, Copy)]
pub struct Deadlines {
    first_byte: Instant,
    handshake: Instant,
}

impl Deadlines {
    /// The deadlines of a connection accepted at `accepted`.
    pub fn from(accepted: Instant, limits: &FrontDoorLimits) -> Deadlines {
        Deadlines { first_byte: accepted + limits.first_byte_timeout, handshake: accepted + limits.handshake_timeout }
    }
}

/// Decides plain or GSS, waits for the first bytes, and runs the GSS
/// handshake, each within its deadline.
pub async fn open(
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
