//! The front door: from accept to an open session.
//!
//! [`open`] decides plain or GSS ([`crate::detect`]), waits for the first
//! bytes, and runs the GSS handshake, each within its deadline counted from
//! accept. Meanwhile the connection holds a place in the front-door budget
//! (see [`crate::admission`]); what comes out of it is an [`Opened`]
//! connection: an authenticated GSS peer, or a plain peer that has sent data.

use gsswire::{accept, ByteOrder, FrameOrder, FrameReader, FrameWriter, HandshakeError, Session};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::admission::FrontDoorPlace;
use crate::context::SessionContext;
use crate::detect::{plain_or_gss, whole_first_token, Kind, Modes};
use crate::front_door::Deadlines;
use crate::not_opened::NotOpened;

/// A connection out of the front door.
pub enum Opened {
    Gss { reader: FrameReader<OwnedReadHalf>, writer: FrameWriter<OwnedWriteHalf>, session: Session },
    Plain { read: OwnedReadHalf, first: Vec<u8>, write: OwnedWriteHalf },
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
    if plain_or_gss(&mut reader, modes, &deadlines).await? == Kind::Plain {
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
