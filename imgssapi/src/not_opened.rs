//! Why a connection did not get through the front door (see
//! [`crate::open`]), one variant per cause.

use std::time::Duration;

use gsswire::{FrameError, HandshakeError};

use crate::event_log::EventKind;

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
    /// Its kind, for the log's summary counts.
    pub fn kind(&self) -> EventKind {
        match self {
            NotOpened::ClosedSilent => EventKind::ClosedSilent,
            NotOpened::Silent(_) => EventKind::ClosedFirstByteTimeout,
            NotOpened::HandshakeTooSlow(_) => EventKind::ClosedHandshakeTimeout,
            NotOpened::Handshake(_) | NotOpened::NoCredential => EventKind::ClosedHandshakeFailed,
            NotOpened::Read(_) => EventKind::ClosedReadFailed,
            NotOpened::ShuttingDown => EventKind::ClosedShuttingDown,
            NotOpened::Displaced => EventKind::ClosedDisplaced,
        }
    }
}
