//! The acknowledged mode: our extension of rsyslog's GSS transport, by which
//! the collector tells the shipper which messages it has written.
//!
//! It is built so that a stock peer never notices it:
//!
//! - The shipper asks for it with its first data token: a wrap token whose
//!   plaintext is empty ([`REQUEST`]). A stock rsyslog `imgssapi` unwraps it
//!   to 0 bytes and writes nothing.
//! - Only a collector that was asked ever sends anything after the
//!   handshake, so a stock `omgssapi` client (which never reads its socket)
//!   is never sent a byte: it never sends an empty token.
//!
//! Every collector message is a wrap token of the session (same protection,
//! next sequence number of the acceptor's direction), whose plaintext is one
//! of [`CollectorMessage`]:
//!
//! | message  | plaintext bytes                                   |
//! |----------|---------------------------------------------------|
//! | Hello    | the 12 ASCII bytes `gsslog-ack/1`                 |
//! | Written  | `0x57` (`W`), then N as an unsigned 64-bit big-endian number (9 bytes) |
//! | Closing  | `0x43` (`C`) (1 byte)                              |
//!
//! Data tokens are numbered from 1 after the request token. `Written(N)`
//! means: every message completed by data tokens 1..=N is in the output
//! files (and synced, when the collector is set to sync before
//! acknowledging). N never goes down. The Hello comes first, before any
//! Written. Anything else (unknown first byte, wrong length, a Written
//! before the Hello, N going down or past the tokens sent) is a protocol
//! error: the receiver ends the session.

/// What the shipper sends as its first data token to ask for acknowledgements:
/// nothing (an empty plaintext).
pub const REQUEST: &[u8] = b"";

/// The collector's answer to a request: acknowledgements follow.
pub const HELLO: &[u8] = b"gsslog-ack/1";

const WRITTEN: u8 = b'W';
const CLOSING: u8 = b'C';

/// A message from the collector on an acknowledged session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectorMessage {
    /// The request is accepted: acknowledgements follow.
    Hello,
    /// Every message completed by data tokens 1..=N is written.
    Written(u64),
    /// The collector is stopping: send nothing more, half-close, and wait
    /// for the last acknowledgements; the collector closes after them.
    Closing,
}

impl CollectorMessage {
    /// The plaintext of this message, to be wrapped.
    pub fn encode(self) -> Vec<u8> {
        match self {
            CollectorMessage::Hello => HELLO.to_vec(),
            CollectorMessage::Written(n) => {
                let mut out = Vec::with_capacity(9);
                out.push(WRITTEN);
                out.extend_from_slice(&n.to_be_bytes());
                out
            }
            CollectorMessage::Closing => vec![CLOSING],
        }
    }

    /// Reads an unwrapped plaintext.
    pub fn decode(plain: &[u8]) -> Result<CollectorMessage, AckError> {
        match plain {
            HELLO => Ok(CollectorMessage::Hello),
            [CLOSING] => Ok(CollectorMessage::Closing),
            [WRITTEN, n @ ..] => {
                let n: [u8; 8] = n.try_into().map_err(|_| AckError::Malformed { len: plain.len() })?;
                Ok(CollectorMessage::Written(u64::from_be_bytes(n)))
            }
            _ => Err(AckError::Malformed { len: plain.len() }),
        }
    }
}

/// A collector message that breaks the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// Not one of the three layouts.
    #[error("malformed acknowledgement token ({len} bytes of plaintext)")]
    Malformed {
        /// Plaintext length.
        len: usize,
    },
    /// A Written or Closing before the Hello, or a second Hello.
    #[error("acknowledgement protocol out of order: {0}")]
    OutOfOrder(&'static str),
    /// N went down, or past the data tokens sent.
    #[error("acknowledgement of token {acked} is impossible (last acknowledged {previous}, {sent} sent)")]
    Impossible {
        /// The N received.
        acked: u64,
        /// The N before it.
        previous: u64,
        /// Data tokens sent so far.
        sent: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_round_trips() {
        for m in [CollectorMessage::Hello, CollectorMessage::Written(0), CollectorMessage::Written(u64::MAX), CollectorMessage::Closing] {
            assert_eq!(CollectorMessage::decode(&m.encode()), Ok(m));
        }
    }

    #[test]
    fn layouts_are_as_specified() {
        assert_eq!(CollectorMessage::Hello.encode(), b"gsslog-ack/1");
        assert_eq!(CollectorMessage::Written(0x0102).encode(), [b'W', 0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(CollectorMessage::Closing.encode(), b"C");
        assert!(REQUEST.is_empty());
    }

    #[test]
    fn anything_else_is_malformed() {
        for bad in [&b""[..], b"W", b"W\0\0\0\0\0\0\0", b"W\0\0\0\0\0\0\0\0\0", b"CC", b"gsslog-ack/2", b"x"] {
            assert_eq!(CollectorMessage::decode(bad), Err(AckError::Malformed { len: bad.len() }), "{bad:?}");
        }
    }
}
