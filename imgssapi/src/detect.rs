//! Plain or GSS: what a new connection is, decided from its first bytes.
//!
//! A listener with PermitPlainTCP takes both kinds; [`looks_like_gss`] tells
//! them apart. Every connection then has to say something before it becomes
//! a session ([`first_bytes`]).

use std::sync::Arc;
use std::time::Duration;

use gsswire::frame::{detect_order, Detection};
use gsswire::{FrameError, FrameReader, HandshakeError, MAX_HANDSHAKE_TOKEN};
use tokio::io::AsyncRead;
use tokio::time::Instant;

use crate::budget::{Budget, Reservation};
use crate::open::NotOpened;

/// The kinds of session a sender may open on a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modes {
    GssOnly,
    PlainOnly,
    /// PermitPlainTCP: the first bytes decide.
    Either,
}

/// How long a new session may stay silent before PermitPlainTCP calls it plain.
const PLAIN_DETECT_WAIT: Duration = Duration::from_secs(1);

/// rsyslog's PermitPlainTCP heuristic, made exact: a session is GSS when its
/// first bytes are a length-prefixed InitialContextToken in either byte order;
/// a session silent for a second, or starting with anything else, is plain.
pub async fn looks_like_gss<R: AsyncRead + Unpin>(reader: &mut FrameReader<R>) -> Result<bool, FrameError> {
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

/// Waits for the first bytes of a connection until `deadline`.
pub async fn first_bytes<R: AsyncRead + Unpin>(
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

/// Waits, until `deadline`, for the whole first token of a GSS connection
/// to be in the reader's buffer (nothing is consumed). Returns at once when
/// the bytes cannot be a first token, announce one over the limit, or the
/// peer closed: the handshake then says why.
///
/// A token over [`UNBOOKED_HANDSHAKE_TOKEN`] is booked against `budget` (the
/// front door's) as soon as its length is known, before it is read; the
/// reservation is returned, to be held until the handshake is over.
pub async fn whole_first_token<R: AsyncRead + Unpin>(
    reader: &mut FrameReader<R>,
    deadline: Instant,
    timeout: Duration,
    token_timeout: Option<Duration>,
    budget: &Arc<Budget>,
) -> Result<Option<Reservation>, NotOpened> {
    let mut reserved = None;
    // Its first bytes are in: the rest of the token must follow within the
    // token timeout too, as for any token.
    let token_deadline = token_timeout.map(|t| Instant::now() + t).filter(|at| *at < deadline);
    loop {
        let buffered = reader.buffered();
        match detect_order(buffered) {
            Detection::NotGss => return Ok(reserved),
            Detection::Found(order) => {
                let len = order.decode([buffered[0], buffered[1], buffered[2], buffered[3]]) as usize;
                if len > MAX_HANDSHAKE_TOKEN || buffered.len() >= 4 + len {
                    return Ok(reserved);
                }
                if reserved.is_none() && len > UNBOOKED_HANDSHAKE_TOKEN {
                    // The buffer grows as a Vec does (up to twice what it holds)
                    // plus a read.
                    let booking = budget.acquire((2 * len + READ_SLACK) as u64);
                    match tokio::time::timeout_at(deadline, booking).await {
                        Ok(r) => reserved = Some(r),
                        Err(_) => return Err(NotOpened::HandshakeTooSlow(timeout)),
                    }
                }
            }
            Detection::NeedMore => {}
        }
        match tokio::time::timeout_at(token_deadline.unwrap_or(deadline), reader.fill()).await {
            Err(_) if token_deadline.is_some() => {
                let stalled = FrameError::Timeout { buffered: reader.buffered().len() };
                return Err(NotOpened::Handshake(HandshakeError::from(stalled)));
            }
            Err(_) => return Err(NotOpened::HandshakeTooSlow(timeout)),
            Ok(Ok(0)) => return Ok(reserved),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(NotOpened::Read(e)),
        }
    }
}

/// What a buffer may hold past the token it is reading: one read, and the
/// initial allocation.
pub const READ_SLACK: usize = 32 * 1024;

/// Handshake tokens up to this size book nothing: a Kerberos AP-REQ is a
/// few KiB, so a real client never waits for the budget, and what such
/// tokens hold is bounded by the front door's places.
pub const UNBOOKED_HANDSHAKE_TOKEN: usize = 16 * 1024;
