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

use crate::admission::FrontDoorPlace;
use crate::config::FrontDoorLimits;
use crate::detect::{first_bytes, looks_like_gss, whole_first_token, Modes};
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
    #[error("closed to make room for a newcomer: the front door is full and this connection had not sent a complete token")]
    Displaced,
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
            NotOpened::Displaced => "closed: displaced by a newcomer",
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
    first_byte_timeout: Duration,
    handshake: Instant,
    handshake_timeout: Duration,
}

/// The shortest deadline under pressure.
const SHORTEST_UNDER_PRESSURE: Duration = Duration::from_secs(1);

impl Deadlines {
    /// The deadlines of a connection accepted at `accepted`; a quarter of
    /// each (at least a second) when the front door was at least half full
    /// (`under_pressure`), so that slow connections give way sooner.
    pub fn from(accepted: Instant, limits: &FrontDoorLimits, under_pressure: bool) -> Deadlines {
        let shorten = |t: Duration| if under_pressure { (t / 4).max(SHORTEST_UNDER_PRESSURE).min(t) } else { t };
        let (first_byte_timeout, handshake_timeout) = (shorten(limits.first_byte_timeout), shorten(limits.handshake_timeout));
        Deadlines {
            first_byte: accepted + first_byte_timeout,
            first_byte_timeout,
            handshake: accepted + handshake_timeout,
            handshake_timeout,
        }
    }
}

/// Decides plain or GSS, waits for the first bytes, and runs the GSS
/// handshake, each within its deadline.
pub async fn open(
    stream: TcpStream,
    modes: Modes,
    ctx: &SessionContext,
    place: &FrontDoorPlace,
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
        first_bytes(&mut reader, deadlines.first_byte, deadlines.first_byte_timeout).await?;
    }
    if !use_gss {
        let (read, buffered) = reader.into_parts();
        return Ok(Opened::Plain { read, first: buffered.to_vec(), write });
    }
    let Some(credential) = &ctx.credential else { return Err(NotOpened::NoCredential) };
    // Once its first token is in, a connection only waits for us: it is no
    // longer displaced for newcomers.
    let _token_bytes = whole_first_token(
        &mut reader,
        deadlines.handshake,
        deadlines.handshake_timeout,
        ctx.config.token_timeout,
        &ctx.budgets.front_door,
    )
    .await?;
    place.token_received();
    reader.set_token_timeout(ctx.config.token_timeout);
    let mut writer = FrameWriter::new(write, ByteOrder::Little);
    let left = deadlines.handshake.saturating_duration_since(Instant::now());
    let session = match accept(&mut reader, &mut writer, credential, left).await {
        Ok(session) => session,
        Err(HandshakeError::TimedOut(_)) => return Err(NotOpened::HandshakeTooSlow(deadlines.handshake_timeout)),
        Err(e) => return Err(e.into()),
    };
    Ok(Opened::Gss { reader, writer, session })
}
