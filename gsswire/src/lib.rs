//! rsyslog's GSS-API transport, shared by the shipper (`omgssapi`) and the
//! collector (`imgssapi`):
//!
//! - [`frame`]: 4-byte length-prefixed tokens, little- or big-endian, with
//!   byte-order detection, size limits and a per-token timeout;
//! - [`session`]: Kerberos context establishment (initiator and acceptor) and
//!   per-message wrap/unwrap, including the Sealed bit of received tokens and
//!   what a received token must pass on each code path;
//! - [`gss`]: the safe binding to MIT's GSS-API library: context
//!   establishment, names, credentials, export of a complete context's
//!   message keys (its C declarations are in `gss/sys.rs`);
//! - [`cfx`] and [`krb5_crypto`]: RFC 4121 wrap tokens with the AES-SHA1
//!   enctypes (RFC 3961/3962), made in Rust with the exported keys;
//! - [`ack`]: the acknowledged mode, our extension between our shipper and
//!   our collector (message layouts and rules);
//! - [`error`]: what went wrong, by cause.

#![warn(missing_docs)]

pub mod ack;
pub mod cfx;
pub mod error;
pub mod frame;
pub mod gss;
pub mod krb5_crypto;
pub mod session;

pub use error::{FrameError, GssError, GssStatus, HandshakeError, SettingError, UnwrapError};
pub use frame::{ByteOrder, FrameOrder, FrameReader, FrameWriter, DEFAULT_MAX_DATA_TOKEN, MAX_HANDSHAKE_TOKEN};
pub use session::{
    accept, initiate, initiate_as, AcceptorCredential, ClientIdentity, InitiatorConfig, InitiatorCredential, MessageCode, Protection,
    Session, Unwrapped,
};
