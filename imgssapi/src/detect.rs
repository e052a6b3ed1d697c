//! Plain or GSS: what a new connection is, decided from its first bytes.
//!
//! A listener with PermitPlainTCP takes both kinds; [`looks_like_gss`] tells
//! them apart. Every connection then has to say something before it becomes
//! a session ([`first_bytes`]).

use std::sync::Arc;
use std::time::Duration;

use gsswire::frame::{detect_order, Detection};
use gsswire::{ByteOrder, FrameError, FrameReader, HandshakeError, MAX_HANDSHAKE_TOKEN};
use tokio::io::AsyncRead;
use tokio::time::Instant;

use crate::budget::{Budget, Reservation};
use crate::front_door::Deadlines;
use crate::not_opened::NotOpened;

/// The kinds of session a sender may open on a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modes {
    GssOnly,
    PlainOnly,
    /// PermitPlainTCP: the first bytes decide.
    Either,
}

/// What a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gss,
    Plain,
}

/// Plain or GSS, as `modes` allow (under PermitPlainTCP the first bytes
/// decide, [`looks_like_gss`]), once the connection has said something: a
/// silent connection is plain after a second (as in rsyslog), but it
/// becomes a session only once it says something ([`first_bytes`]).
pub async fn plain_or_gss<R: AsyncRead + Unpin>(reader: &mut FrameReader<R>, modes: Modes, deadlines: &Deadlines) -> Result<Kind, NotOpened> {
    let kind = match modes {
        Modes::GssOnly => Kind::Gss,
        Modes::PlainOnly => Kind::Plain,
        Modes::Either if looks_like_gss(reader).await? => Kind::Gss,
        Modes::Either => Kind::Plain,
    };
    if reader.buffered().is_empty() {
        first_bytes(reader, deadlines.first_byte, deadlines.first_byte_timeout).await?;
    }
    Ok(kind)
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
/// to be in the reader's buffer (nothing is consumed). `Ok` means it is
/// all there; bytes that cannot be a first token in the reader's byte order,
/// a length over the limit, or a close before the end are errors.
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
        if let Some(len) = first_token_len(buffered, reader.byte_order()).map_err(HandshakeError::from)? {
            if buffered.len() >= LENGTH_PREFIX + len {
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
        match tokio::time::timeout_at(token_deadline.unwrap_or(deadline), reader.fill()).await {
            Err(_) if token_deadline.is_some() => {
                let stalled = FrameError::Timeout { buffered: reader.buffered().len() };
                return Err(NotOpened::Handshake(HandshakeError::from(stalled)));
            }
            Err(_) => return Err(NotOpened::HandshakeTooSlow(timeout)),
            Ok(Ok(0)) => {
                let truncated = FrameError::Truncated { buffered: reader.buffered().len() };
                return Err(NotOpened::Handshake(HandshakeError::from(truncated)));
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(NotOpened::Read(e)),
        }
    }
}

/// The length the first token announces, decoded in the reader's byte order
/// (`configured`; detected when `None`), once enough of it is in. Its bytes
/// must be a length-prefixed InitialContextToken in that very order: a
/// prefix that only matches in the other order would announce another
/// length to the reader that then reads it (up to 256 times more).
fn first_token_len(buffered: &[u8], configured: Option<ByteOrder>) -> Result<Option<usize>, FrameError> {
    let found = match detect_order(buffered) {
        Detection::NeedMore => return Ok(None),
        Detection::Found(found) => found,
        Detection::NotGss => return Err(not_initial(buffered)),
    };
    let prefix = [buffered[0], buffered[1], buffered[2], buffered[3]];
    let len = found.decode(prefix);
    if configured.is_some_and(|order| order.decode(prefix) != len) {
        return Err(not_initial(buffered));
    }
    let len = len as usize;
    if len > MAX_HANDSHAKE_TOKEN {
        return Err(FrameError::TooLarge { len, max: MAX_HANDSHAKE_TOKEN });
    }
    Ok(Some(len))
}

fn not_initial(buffered: &[u8]) -> FrameError {
    FrameError::NotInitialToken { first_bytes: buffered[..buffered.len().min(8)].to_vec() }
}

/// The length prefix of a frame.
const LENGTH_PREFIX: usize = 4;

/// What a buffer may hold past the token it is reading: one read, and the
/// initial allocation.
pub const READ_SLACK: usize = 32 * 1024;

/// Handshake tokens up to this size book nothing: a Kerberos AP-REQ is a
/// few KiB, so a real client never waits for the budget, and what such
/// tokens hold is bounded by the front door's places.
pub const UNBOOKED_HANDSHAKE_TOKEN: usize = 16 * 1024;

#[cfg(test)]
mod tests {
    use gsswire::FrameOrder;
    use tokio::io::AsyncWriteExt;

    use super::*;

    /// `00 0F 00 00` then a DER header of 3840 bytes in all: 3840 read
    /// little-endian, 983,040 big-endian.
    const LE_3840_HEAD: [u8; 8] = [0x00, 0x0F, 0x00, 0x00, 0x60, 0x82, 0x0E, 0xFC];

    #[test]
    fn the_first_tokens_length_is_read_in_the_configured_order() {
        assert_eq!(first_token_len(&LE_3840_HEAD, None).unwrap(), Some(3840));
        assert_eq!(first_token_len(&LE_3840_HEAD, Some(ByteOrder::Little)).unwrap(), Some(3840));
        assert!(matches!(first_token_len(&LE_3840_HEAD, Some(ByteOrder::Big)), Err(FrameError::NotInitialToken { .. })));
        let be_3840 = [0x00, 0x00, 0x0F, 0x00, 0x60, 0x82, 0x0E, 0xFC];
        assert_eq!(first_token_len(&be_3840, Some(ByteOrder::Big)).unwrap(), Some(3840));
    }

    #[test]
    fn bytes_that_are_no_initial_token_are_an_error_not_a_whole_token() {
        assert!(matches!(first_token_len(b"<13>Nov 23", None), Err(FrameError::NotInitialToken { .. })));
        assert!(matches!(first_token_len(b"<13>Nov 23", Some(ByteOrder::Big)), Err(FrameError::NotInitialToken { .. })));
        assert_eq!(first_token_len(&LE_3840_HEAD[..5], None).unwrap(), None, "more bytes needed");
    }

    async fn first_token_of(bytes: &[u8], order: FrameOrder) -> Result<Option<Reservation>, NotOpened> {
        let (mut peer, ours) = tokio::io::duplex(64 * 1024);
        peer.write_all(bytes).await.unwrap();
        drop(peer);
        let mut reader = FrameReader::new(ours, order);
        let deadline = Instant::now() + Duration::from_secs(5);
        whole_first_token(&mut reader, deadline, Duration::from_secs(5), None, &Budget::new(1 << 30)).await
    }

    #[tokio::test]
    async fn with_a_fixed_order_a_prefix_matching_only_the_other_order_is_refused_at_once() {
        let got = first_token_of(&LE_3840_HEAD, FrameOrder::Fixed(ByteOrder::Big)).await;
        assert!(matches!(got, Err(NotOpened::Handshake(_))), "{:?}", got.err());
    }

    #[tokio::test]
    async fn a_token_is_whole_only_when_all_its_bytes_are_in() {
        let mut whole = vec![0x05, 0, 0, 0, 0x60, 0x03, 1, 2, 3];
        assert!(first_token_of(&whole, FrameOrder::Fixed(ByteOrder::Little)).await.is_ok());
        whole.pop();
        let got = first_token_of(&whole, FrameOrder::Fixed(ByteOrder::Little)).await;
        assert!(matches!(got, Err(NotOpened::Handshake(_))), "closed one byte short: {:?}", got.err());
        let got = first_token_of(b"<13>Nov 23 plain", FrameOrder::Auto).await;
        assert!(matches!(got, Err(NotOpened::Handshake(_))), "{:?}", got.err());
    }
}
