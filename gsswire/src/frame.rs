//! Token framing: a 4-byte length followed by that many bytes of GSS token.
//!
//! rsyslog up to 8.2602 writes the length little-endian on x86 (two byte swaps
//! cancel out); 8.2606 and later write it big-endian. Both are supported, and an
//! acceptor can detect the order from the first token of a session, which is
//! always an RFC 2743 InitialContextToken (`0x60`, then a DER length).
//!
//! The types: [`FrameReader`] and [`FrameWriter`] wrap the two halves of a
//! stream; [`ByteOrder`] is the prefix's order and [`FrameOrder`] what a
//! reader expects (fixed, or detected by [`detect_order`], which answers a
//! [`Detection`]). [`MAX_HANDSHAKE_TOKEN`] and [`DEFAULT_MAX_DATA_TOKEN`] are
//! the usual size limits. Failures are [`FrameError`]s.

use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::error::{FrameError, SettingError};

/// Largest handshake token we accept (rsyslog 8.2604 and later use the same bound).
pub const MAX_HANDSHAKE_TOKEN: usize = 1024 * 1024;

/// Default bound for data tokens: rsyslog's 128 KiB receive buffer plus 64 KiB
/// of GSS overhead, as in rsyslog 8.2604 and later.
pub const DEFAULT_MAX_DATA_TOKEN: usize = 128 * 1024 + 64 * 1024;

const LENGTH_PREFIX: usize = 4;

/// Room made for each read. The buffer grows by reads, as bytes arrive, never
/// by the length a peer announces: four bytes claiming a megabyte cost a
/// reader this much, not a megabyte.
const READ_CHUNK: usize = 16 * 1024;

/// The buffer a reader starts with.
const INITIAL_BUFFER: usize = 8 * 1024;

/// Byte order of the 4-byte length prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteOrder {
    /// rsyslog up to and including 8.2602 on x86: what the deployed fleet speaks.
    Little,
    /// rsyslog 8.2606 and later.
    Big,
}

impl ByteOrder {
    /// The length a 4-byte prefix announces in this order.
    pub fn decode(self, prefix: [u8; 4]) -> u32 {
        match self {
            ByteOrder::Little => u32::from_le_bytes(prefix),
            ByteOrder::Big => u32::from_be_bytes(prefix),
        }
    }

    fn encode(self, len: u32) -> [u8; 4] {
        match self {
            ByteOrder::Little => len.to_le_bytes(),
            ByteOrder::Big => len.to_be_bytes(),
        }
    }
}

impl std::str::FromStr for ByteOrder {
    type Err = SettingError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "le" | "little" => Ok(ByteOrder::Little),
            "be" | "big" => Ok(ByteOrder::Big),
            other => Err(SettingError::ByteOrder(other.to_string())),
        }
    }
}

/// What a reader expects: a fixed order, or detection from the first token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameOrder {
    /// Detect the order from the session's first token, which must be an
    /// InitialContextToken (so only on an acceptor); later tokens use it.
    Auto,
    /// Always this order.
    Fixed(ByteOrder),
}

impl std::str::FromStr for FrameOrder {
    type Err = SettingError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("auto") {
            Ok(FrameOrder::Auto)
        } else {
            s.parse().map(FrameOrder::Fixed).map_err(|_| SettingError::FrameOrder(s.to_string()))
        }
    }
}

/// Outcome of looking at the start of a session's first frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Detection {
    /// More bytes are needed to decide.
    NeedMore,
    /// The frame is a GSS initial token framed in this order.
    Found(ByteOrder),
    /// The bytes are not a length-prefixed InitialContextToken in either order.
    NotGss,
}

/// Decides the byte order from the first bytes of a session: the length prefix
/// must equal the total size of the DER-encoded InitialContextToken that follows.
/// Comparing with the DER length (not just "whichever is small") is what makes
/// lengths that are a multiple of 256 unambiguous.
pub fn detect_order(start: &[u8]) -> Detection {
    if start.len() < LENGTH_PREFIX + 2 {
        return Detection::NeedMore;
    }
    let prefix = [start[0], start[1], start[2], start[3]];
    let der = &start[LENGTH_PREFIX..];
    if der[0] != 0x60 {
        return Detection::NotGss;
    }
    let total: u64 = if der[1] < 0x80 {
        2 + u64::from(der[1])
    } else {
        let n = usize::from(der[1] & 0x7f);
        if n == 0 || n > 4 {
            return Detection::NotGss;
        }
        if der.len() < 2 + n {
            return Detection::NeedMore;
        }
        let len = der[2..2 + n].iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        2 + n as u64 + len
    };
    for order in [ByteOrder::Little, ByteOrder::Big] {
        if u64::from(order.decode(prefix)) == total {
            return Detection::Found(order);
        }
    }
    Detection::NotGss
}

/// Reads length-prefixed tokens from a byte stream.
///
/// An idle stream may wait forever between tokens; once the first byte of a
/// token has arrived, the whole token must arrive within the token timeout, so a
/// stalled peer cannot hold a half-read frame open.
pub struct FrameReader<R> {
    io: R,
    buf: BytesMut,
    order: FrameOrder,
    token_timeout: Option<Duration>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader on `io` expecting `order`, with no token timeout until
    /// [`set_token_timeout`](FrameReader::set_token_timeout).
    pub fn new(io: R, order: FrameOrder) -> Self {
        FrameReader { io, buf: BytesMut::with_capacity(INITIAL_BUFFER), order, token_timeout: None }
    }

    /// Bounds the time from a token's first byte to its last (`None`: no bound).
    pub fn set_token_timeout(&mut self, timeout: Option<Duration>) {
        self.token_timeout = timeout;
    }

    /// The byte order in use: `None` while `Auto` has not seen a token yet.
    pub fn byte_order(&self) -> Option<ByteOrder> {
        match self.order {
            FrameOrder::Fixed(order) => Some(order),
            FrameOrder::Auto => None,
        }
    }

    /// Bytes received but not yet consumed as a token.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Hands back the stream and whatever was read ahead of the current position.
    pub fn into_parts(self) -> (R, BytesMut) {
        (self.io, self.buf)
    }

    /// The underlying stream (for its addresses, say).
    pub fn get_ref(&self) -> &R {
        &self.io
    }

    /// Frees the buffer's memory when nothing is buffered (an idle session
    /// then holds no token-sized buffer); the next read allocates again.
    pub fn release_idle_buffer(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > INITIAL_BUFFER {
            self.buf = BytesMut::new();
        }
    }

    /// Reads more bytes into the buffer without consuming anything; returns how
    /// many arrived (0 at end of stream). Lets a caller peek at a new session.
    pub async fn fill(&mut self) -> Result<usize, FrameError> {
        self.read_more().await
    }

    /// One read into the buffer, after making room for at most [`READ_CHUNK`]
    /// more bytes (a buffer with room left is not grown).
    async fn read_more(&mut self) -> Result<usize, FrameError> {
        if self.buf.capacity() == self.buf.len() {
            self.buf.reserve(READ_CHUNK);
        }
        Ok(self.io.read_buf(&mut self.buf).await?)
    }

    /// Reads the next token, at most `max_len` bytes long (prefix not
    /// counted).
    ///
    /// Returns `Ok(None)` when the peer closed the stream cleanly between tokens.
    /// A longer announced length is [`FrameError::TooLarge`] before any of the
    /// token is awaited; after any error the stream is out of step and the
    /// session must end.
    pub async fn read_token(&mut self, max_len: usize) -> Result<Option<BytesMut>, FrameError> {
        let mut deadline = (!self.buf.is_empty()).then(|| self.deadline()).flatten();
        loop {
            if let Some(token) = self.parse_token(max_len)? {
                return Ok(Some(token));
            }
            let read = match deadline {
                Some(at) => match tokio::time::timeout_at(at, self.read_more()).await {
                    Ok(read) => read?,
                    Err(_) => return Err(FrameError::Timeout { buffered: self.buf.len() }),
                },
                None => self.read_more().await?,
            };
            if read == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(FrameError::Truncated { buffered: self.buf.len() })
                };
            }
            if deadline.is_none() {
                deadline = self.deadline();
            }
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.token_timeout.map(|t| Instant::now() + t)
    }

    /// Takes one complete token out of the buffer, if one is there.
    fn parse_token(&mut self, max_len: usize) -> Result<Option<BytesMut>, FrameError> {
        if self.buf.len() < LENGTH_PREFIX {
            return Ok(None);
        }
        let order = match self.order {
            FrameOrder::Fixed(order) => order,
            FrameOrder::Auto => match detect_order(&self.buf) {
                Detection::NeedMore => return Ok(None),
                Detection::Found(order) => {
                    self.order = FrameOrder::Fixed(order);
                    order
                }
                Detection::NotGss => {
                    let mut first = [0u8; 8];
                    let n = self.buf.len().min(first.len());
                    first[..n].copy_from_slice(&self.buf[..n]);
                    return Err(FrameError::NotInitialToken { first_bytes: first[..n].to_vec() });
                }
            },
        };
        let prefix = [self.buf[0], self.buf[1], self.buf[2], self.buf[3]];
        let len = order.decode(prefix) as usize;
        if len > max_len {
            return Err(FrameError::TooLarge { len, max: max_len });
        }
        if self.buf.len() < LENGTH_PREFIX + len {
            return Ok(None);
        }
        self.buf.advance(LENGTH_PREFIX);
        Ok(Some(self.buf.split_to(len)))
    }
}

/// Writes length-prefixed tokens, each as one write so that a token never
/// leaves in two TCP segments because of the prefix.
pub struct FrameWriter<W> {
    io: W,
    order: ByteOrder,
    scratch: Vec<u8>,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    /// A writer on `io` that frames in `order`.
    pub fn new(io: W, order: ByteOrder) -> Self {
        FrameWriter { io, order, scratch: Vec::new() }
    }

    /// The byte order tokens are framed in.
    pub fn byte_order(&self) -> ByteOrder {
        self.order
    }

    /// Used by an acceptor once it has detected the peer's order.
    pub fn set_byte_order(&mut self, order: ByteOrder) {
        self.order = order;
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &W {
        &self.io
    }

    /// The underlying stream. Bytes written to it directly bypass the framing:
    /// the peer would read them as a length prefix.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.io
    }

    /// The underlying stream; nothing is left buffered in the writer (each
    /// token is flushed).
    pub fn into_inner(self) -> W {
        self.io
    }

    /// Frames and writes one token, then flushes. A token of 4 GiB or more
    /// is [`FrameError::TooLarge`], nothing written. If the write fails part
    /// way, the peer has a partial frame and the session must end.
    pub async fn write_token(&mut self, token: &[u8]) -> Result<(), FrameError> {
        let len = u32::try_from(token.len())
            .map_err(|_| FrameError::TooLarge { len: token.len(), max: u32::MAX as usize })?;
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.order.encode(len));
        self.scratch.extend_from_slice(token);
        self.io.write_all(&self.scratch).await?;
        self.io.flush().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn initial_token(body_len: usize) -> Vec<u8> {
        // 0x60, DER length, then body: a shape-correct InitialContextToken.
        let mut der = vec![0x60];
        if body_len < 0x80 {
            der.push(body_len as u8);
        } else {
            let bytes = (body_len as u32).to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            der.push(0x80 | (4 - skip) as u8);
            der.extend(&bytes[skip..]);
        }
        der.extend(std::iter::repeat_n(0xAB, body_len));
        der
    }

    fn framed(order: ByteOrder, token: &[u8]) -> Vec<u8> {
        let mut v = order.encode(token.len() as u32).to_vec();
        v.extend_from_slice(token);
        v
    }

    #[test]
    fn detects_both_orders_including_multiples_of_256() {
        // 508 body bytes + 4 header bytes = 512: a multiple of 256, where a
        // "smaller value wins" rule would be ambiguous.
        for body in [20, 200, 508, 713, 70_000] {
            let tok = initial_token(body);
            for order in [ByteOrder::Little, ByteOrder::Big] {
                assert_eq!(detect_order(&framed(order, &tok)), Detection::Found(order), "body {body}");
            }
        }
    }

    #[test]
    fn rejects_what_is_not_an_initial_token() {
        assert_eq!(detect_order(b"<13>Nov 23 plain syslog"), Detection::NotGss);
        let mut wrong_len = framed(ByteOrder::Little, &initial_token(40));
        wrong_len[0] += 1;
        assert_eq!(detect_order(&wrong_len), Detection::NotGss);
        assert_eq!(detect_order(&[0, 0, 0]), Detection::NeedMore);
    }

    #[tokio::test]
    async fn reads_tokens_split_and_joined() {
        let tok = initial_token(300);
        let mut wire = framed(ByteOrder::Big, &tok);
        wire.extend(framed(ByteOrder::Big, b"second"));
        wire.extend(framed(ByteOrder::Big, b""));
        let (mut tx, rx) = tokio::io::duplex(7); // tiny pipe: every token arrives in pieces
        let writer = tokio::spawn(async move { tx.write_all(&wire).await });
        let mut reader = FrameReader::new(rx, FrameOrder::Auto);
        assert_eq!(&reader.read_token(MAX_HANDSHAKE_TOKEN).await.unwrap().unwrap()[..], &tok[..]);
        assert_eq!(reader.byte_order(), Some(ByteOrder::Big));
        assert_eq!(&reader.read_token(100).await.unwrap().unwrap()[..], b"second");
        assert_eq!(&reader.read_token(100).await.unwrap().unwrap()[..], b"");
        writer.await.unwrap().unwrap();
        assert!(reader.read_token(100).await.unwrap().is_none(), "clean EOF between tokens");
    }

    #[tokio::test]
    async fn oversize_length_is_an_error_before_any_allocation() {
        let (mut tx, rx) = tokio::io::duplex(64);
        tx.write_all(&[0xff, 0xff, 0xff, 0x7f]).await.unwrap();
        let mut reader = FrameReader::new(rx, FrameOrder::Fixed(ByteOrder::Little));
        match reader.read_token(MAX_HANDSHAKE_TOKEN).await {
            Err(FrameError::TooLarge { len, max }) => {
                assert_eq!(len, 0x7fff_ffff);
                assert_eq!(max, MAX_HANDSHAKE_TOKEN);
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_announced_length_reserves_nothing_before_the_bytes_arrive() {
        const CLAIMED: usize = MAX_HANDSHAKE_TOKEN - 4;
        let (mut tx, rx) = tokio::io::duplex(1 << 20);
        let mut reader = FrameReader::new(rx, FrameOrder::Fixed(ByteOrder::Little));
        reader.set_token_timeout(Some(Duration::from_millis(50)));
        // A well-formed initial-token header announcing a megabyte, and 100 bytes of it.
        let mut start = (CLAIMED as u32).to_le_bytes().to_vec();
        start.extend([0x60, 0x83]);
        start.extend(((CLAIMED - 5) as u32).to_be_bytes()[1..].iter());
        start.extend([0xAB; 95]);
        tx.write_all(&start).await.unwrap();
        let err = reader.read_token(MAX_HANDSHAKE_TOKEN).await.unwrap_err();
        assert!(matches!(err, FrameError::Timeout { buffered } if buffered == start.len()), "{err:?}");
        let bound = |arrived: usize| (2 * arrived).max(INITIAL_BUFFER) + READ_CHUNK;
        assert!(reader.buf.capacity() <= bound(start.len()), "capacity {} for {} bytes", reader.buf.capacity(), start.len());

        // As more of it arrives, the buffer follows what arrived, not the claim.
        let more = vec![0xCD; 200 * 1024];
        tx.write_all(&more).await.unwrap();
        let arrived = start.len() + more.len();
        while reader.buf.len() < arrived {
            assert!(reader.fill().await.unwrap() > 0);
        }
        assert!(reader.buf.capacity() <= bound(arrived), "capacity {} for {arrived} bytes", reader.buf.capacity());
        assert!(reader.buf.capacity() < CLAIMED / 2);
    }

    #[tokio::test]
    async fn a_large_token_still_arrives_whole() {
        let body = vec![0x5A; 700_000];
        let wire = framed(ByteOrder::Little, &body);
        let (mut tx, rx) = tokio::io::duplex(4096);
        let writer = tokio::spawn(async move { tx.write_all(&wire).await });
        let mut reader = FrameReader::new(rx, FrameOrder::Fixed(ByteOrder::Little));
        assert_eq!(reader.read_token(MAX_HANDSHAKE_TOKEN).await.unwrap().unwrap(), body);
        writer.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn truncated_frame_is_an_error_not_a_clean_close() {
        let (mut tx, rx) = tokio::io::duplex(64);
        tx.write_all(&[10, 0, 0, 0, b'a', b'b']).await.unwrap();
        drop(tx);
        let mut reader = FrameReader::new(rx, FrameOrder::Fixed(ByteOrder::Little));
        assert!(matches!(reader.read_token(100).await, Err(FrameError::Truncated { buffered: 6 })));
    }

    #[tokio::test(start_paused = true)]
    async fn stalled_partial_token_times_out_but_idle_stream_does_not() {
        let (mut tx, rx) = tokio::io::duplex(64);
        let mut reader = FrameReader::new(rx, FrameOrder::Fixed(ByteOrder::Little));
        reader.set_token_timeout(Some(Duration::from_secs(10)));
        // Idle for an hour: no timeout, because no token has started.
        let idle = tokio::time::timeout(Duration::from_secs(3600), reader.read_token(100)).await;
        assert!(idle.is_err(), "an idle session must not be dropped");
        tx.write_all(&[10, 0, 0, 0, b'a']).await.unwrap();
        match reader.read_token(100).await {
            Err(FrameError::Timeout { buffered }) => assert_eq!(buffered, 5),
            other => panic!("expected Timeout, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn writer_uses_its_order() {
        let (tx, mut rx) = tokio::io::duplex(64);
        let mut writer = FrameWriter::new(tx, ByteOrder::Little);
        writer.write_token(b"abc").await.unwrap();
        writer.set_byte_order(ByteOrder::Big);
        writer.write_token(b"de").await.unwrap();
        let mut got = [0u8; 13];
        rx.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"\x03\0\0\0abc\0\0\0\x02de");
    }
}
