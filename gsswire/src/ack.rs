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

/// What the shipper sends, after the Hello, as a data token on an idle
/// session to say it is alive: nothing (an empty plaintext, like the
/// request, but never as the first data token). It is numbered like every
/// data token and completes no message; the collector writes nothing for it
/// and notes the sender's heartbeat. Only sent once the collector said
/// Hello, so a stock collector never gets one.
pub const HEARTBEAT: &[u8] = b"";

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

/// Where a shipper's session stands in the acknowledged mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckState {
    /// It asked for acknowledgements; no Hello yet.
    AwaitingHello,
    /// The collector said Hello; the number is its last `Written(N)` (0
    /// before the first).
    Acknowledging(u64),
    /// It did not ask, or the wait for the Hello ended: the collector's word
    /// does not count on this session, and any message from it is an error.
    Off,
}

/// The shipper's check of every message its collector sends against the
/// protocol (see the module's rules). It only advances on a message that
/// keeps them; a refused one leaves it as it was (and ends the session).
#[derive(Debug)]
pub struct AckReceiver {
    state: AckState,
}

impl AckReceiver {
    /// A session that `asked` for acknowledgements waits for the Hello; one
    /// that did not expects nothing.
    pub fn new(asked: bool) -> Self {
        AckReceiver { state: if asked { AckState::AwaitingHello } else { AckState::Off } }
    }

    /// Where the session stands.
    pub fn state(&self) -> AckState {
        self.state
    }

    /// The wait for the Hello ended without one (a stock collector): from
    /// now on nothing the collector sends counts. No effect once it said Hello.
    pub fn stop_waiting(&mut self) {
        if self.state == AckState::AwaitingHello {
            self.state = AckState::Off;
        }
    }

    /// Reads one unwrapped collector message, `sent` being the data tokens
    /// sent so far, and checks it against the protocol.
    pub fn receive(&mut self, plain: &[u8], sent: u64) -> Result<CollectorMessage, AckError> {
        let message = CollectorMessage::decode(plain)?;
        match (message, self.state) {
            (CollectorMessage::Hello, AckState::AwaitingHello) => self.state = AckState::Acknowledging(0),
            (CollectorMessage::Hello, AckState::Acknowledging(_)) => return Err(AckError::SecondHello),
            (CollectorMessage::Hello, AckState::Off) => return Err(AckError::HelloTooLate),
            (CollectorMessage::Written(n), AckState::Acknowledging(previous)) => {
                if n < previous || n > sent {
                    return Err(AckError::Impossible { acked: n, previous, sent });
                }
                self.state = AckState::Acknowledging(n);
            }
            (CollectorMessage::Closing, AckState::Acknowledging(_)) => {}
            (CollectorMessage::Written(_) | CollectorMessage::Closing, _) => return Err(AckError::BeforeHello),
        }
        Ok(message)
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
    /// A Written or Closing before the Hello (or without one).
    #[error("acknowledgement protocol out of order: an acknowledgement before the Hello")]
    BeforeHello,
    /// A Hello after the wait for it ended (the session went by its TCP
    /// stack), or on a session that never asked.
    #[error("acknowledgement protocol out of order: a Hello after the wait for it ended")]
    HelloTooLate,
    /// A second Hello.
    #[error("acknowledgement protocol out of order: a second Hello")]
    SecondHello,
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
    fn the_receiver_takes_hello_then_written_numbers_that_never_go_down() {
        let mut r = AckReceiver::new(true);
        assert_eq!(r.state(), AckState::AwaitingHello);
        assert_eq!(r.receive(HELLO, 0), Ok(CollectorMessage::Hello));
        assert_eq!(r.receive(&CollectorMessage::Written(0).encode(), 0), Ok(CollectorMessage::Written(0)));
        assert_eq!(r.receive(&CollectorMessage::Written(2).encode(), 3), Ok(CollectorMessage::Written(2)));
        assert_eq!(r.receive(&CollectorMessage::Written(2).encode(), 3), Ok(CollectorMessage::Written(2)), "the same N again");
        assert_eq!(r.receive(b"C", 3), Ok(CollectorMessage::Closing));
        assert_eq!(r.receive(&CollectorMessage::Written(3).encode(), 3), Ok(CollectorMessage::Written(3)), "after Closing, the last ones");
        assert_eq!(r.state(), AckState::Acknowledging(3));
    }

    #[test]
    fn the_receiver_refuses_what_breaks_the_protocol_and_stays_put() {
        let written = |n: u64| CollectorMessage::Written(n).encode();
        let mut r = AckReceiver::new(true);
        assert_eq!(r.receive(&written(0), 5), Err(AckError::BeforeHello));
        assert_eq!(r.receive(b"C", 5), Err(AckError::BeforeHello));
        assert_eq!(r.state(), AckState::AwaitingHello);
        r.receive(HELLO, 0).unwrap();
        assert_eq!(r.receive(HELLO, 0), Err(AckError::SecondHello));
        assert_eq!(r.receive(&written(3), 2), Err(AckError::Impossible { acked: 3, previous: 0, sent: 2 }), "past the tokens sent");
        r.receive(&written(2), 2).unwrap();
        assert_eq!(r.receive(&written(1), 2), Err(AckError::Impossible { acked: 1, previous: 2, sent: 2 }), "going down");
        assert_eq!(r.receive(b"x", 2), Err(AckError::Malformed { len: 1 }));
        assert_eq!(r.state(), AckState::Acknowledging(2));
    }

    #[test]
    fn each_cause_says_what_broke_the_protocol() {
        assert_eq!(AckError::BeforeHello.to_string(), "acknowledgement protocol out of order: an acknowledgement before the Hello");
        assert_eq!(AckError::HelloTooLate.to_string(), "acknowledgement protocol out of order: a Hello after the wait for it ended");
        assert_eq!(AckError::SecondHello.to_string(), "acknowledgement protocol out of order: a second Hello");
    }

    #[test]
    fn after_the_wait_or_without_asking_nothing_is_taken() {
        let mut r = AckReceiver::new(true);
        r.stop_waiting();
        assert_eq!(r.state(), AckState::Off);
        assert_eq!(r.receive(HELLO, 0), Err(AckError::HelloTooLate));
        let mut r = AckReceiver::new(false);
        assert_eq!(r.receive(&CollectorMessage::Written(0).encode(), 0), Err(AckError::BeforeHello));
        let mut r = AckReceiver::new(true);
        r.receive(HELLO, 0).unwrap();
        r.stop_waiting();
        assert_eq!(r.state(), AckState::Acknowledging(0), "the wait ended with the Hello");
    }

    #[test]
    fn anything_else_is_malformed() {
        for bad in [&b""[..], b"W", b"W\0\0\0\0\0\0\0", b"W\0\0\0\0\0\0\0\0\0", b"CC", b"gsslog-ack/2", b"x"] {
            assert_eq!(CollectorMessage::decode(bad), Err(AckError::Malformed { len: bad.len() }), "{bad:?}");
        }
    }
}
