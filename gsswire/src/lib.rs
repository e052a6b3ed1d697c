//! rsyslog's GSS-API transport, shared by the shipper (`omgssapi`) and the
//! collector (`imgssapi`):
//!
//! - [`frame`]: 4-byte length-prefixed tokens, little- or big-endian, with
//!   byte-order detection, size limits and a per-token timeout;
//! - [`session`]: Kerberos context establishment (initiator and acceptor) and
//!   per-message wrap/unwrap, including the Sealed bit of received tokens;
//! - [`error`]: what went wrong, by cause.

pub mod error;
pub mod frame;
pub mod session;

pub use error::{FrameError, GssError, HandshakeError};
pub use frame::{ByteOrder, FrameOrder, FrameReader, FrameWriter, DEFAULT_MAX_DATA_TOKEN, MAX_HANDSHAKE_TOKEN};
pub use session::{accept, initiate, token_is_sealed, AcceptorCredential, InitiatorConfig, Protection, Session, Unwrapped};
