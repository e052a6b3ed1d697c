//! Error types. Each variant names a cause an admin can act on.
//!
//! - [`FrameError`]: the byte stream did not carry well-formed tokens;
//! - [`GssStatus`]: a GSS-API call failed, with its raw status codes;
//! - [`GssError`]: the same failure classified by cause (its `From<GssStatus>`);
//! - [`HandshakeError`]: a session could not be established;
//! - [`UnwrapError`]: a received message token was refused.
//!
//! An error on a session ends that session and no other.

use std::time::Duration;

/// A framing problem on one session. It ends that session and nothing else.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A length prefix announced more than the reader's limit, or a token to
    /// write does not fit the 4-byte prefix. Found before any of the token is
    /// buffered.
    #[error("token length {len} exceeds the limit of {max} bytes")]
    TooLarge {
        /// The announced (or, when writing, the actual) token length in bytes,
        /// prefix not counted.
        len: usize,
        /// The limit in force, in bytes.
        max: usize,
    },
    /// The peer closed the stream after part of a token.
    #[error("connection closed in the middle of a token ({buffered} bytes of it received)")]
    Truncated {
        /// Bytes of the unfinished frame received, its prefix included.
        buffered: usize,
    },
    /// A token's first byte arrived but not its last within the reader's
    /// token timeout ([`crate::FrameReader::set_token_timeout`]).
    #[error("token not complete within the token timeout ({buffered} bytes of it received)")]
    Timeout {
        /// Bytes of the unfinished frame received, its prefix included.
        buffered: usize,
    },
    /// In [`crate::FrameOrder::Auto`], the first frame is not a length-prefixed
    /// RFC 2743 InitialContextToken in either byte order: the peer does not
    /// speak this protocol (plain syslog, say).
    #[error(
        "first frame is not a GSS-API initial token in either byte order (starts with {first_bytes:02x?})"
    )]
    NotInitialToken {
        /// The first bytes received, at most 8, for the log.
        first_bytes: Vec<u8>,
    },
    /// Reading from or writing to the stream failed.
    #[error("network I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// A failed GSS-API call as the library reported it: major and minor status
/// and MIT's own text for both. The binding also reports a few failures of its
/// own this way (an export the library answered oddly), with both codes 0.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct GssStatus {
    /// The GSS major status (RFC 2744): calling error in bits 24..32, routine
    /// error in bits 16..24, supplementary bits below
    /// ([`crate::gss::status_bits`]).
    pub major: u32,
    /// The mechanism's minor status: for Kerberos a com_err code such as
    /// `KRB5KRB_AP_ERR_SKEW`, as an unsigned value; 0 when there is none.
    pub minor: u32,
    /// `gss_display_status`'s text for the major code, then `": "` and the
    /// text for the minor code when there is one.
    pub message: String,
}

/// A GSS-API or Kerberos failure, classified by its cause.
///
/// Routine errors are enumerated values in bits 16..24 of the major status,
/// so the classification compares those bits as a number and looks at the
/// Kerberos minor code for the common cases.
#[derive(Debug, thiserror::Error)]
pub enum GssError {
    /// No usable credential: on an initiator no ticket cache or expired
    /// tickets (`kinit`), on an acceptor an unreadable or unusable keytab
    /// (routine errors `NO_CRED`, `DEFECTIVE_CREDENTIAL`, `CREDENTIALS_EXPIRED`).
    #[error("no usable Kerberos credentials: {detail}")]
    NoCredentials {
        /// MIT's text for the failure.
        detail: String,
    },
    /// No KDC of the realm answered, or the realm's KDCs cannot be found
    /// (`KRB5_KDC_UNREACH`, `KRB5_REALM_CANT_RESOLVE`).
    #[error("the KDC cannot be reached: {detail}")]
    KdcUnreachable {
        /// MIT's text for the failure.
        detail: String,
    },
    /// The clocks of the two hosts, or of a host and its KDC, differ by more
    /// than the allowed skew (`KRB5KRB_AP_ERR_SKEW`).
    #[error("clock skew too great between this host and its peer or KDC: {detail}")]
    ClockSkew {
        /// MIT's text for the failure.
        detail: String,
    },
    /// The KDC has no principal for the target `service@host`
    /// (`KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN`): a wrong service or host name, or
    /// a host name that does not canonicalise to the registered one.
    #[error("server principal unknown to the KDC (check the service name and host name): {detail}")]
    UnknownServer {
        /// MIT's text for the failure.
        detail: String,
    },
    /// On an acceptor, the keytab has no key (or not the key version) the
    /// client's ticket is for (`KRB5KRB_AP_ERR_NOKEY`, `KRB5KRB_AP_WRONG_PRINC`,
    /// `KRB5_KT_NOTFOUND`).
    #[error("no key for this service in the keytab: {detail}")]
    NoKeyForService {
        /// MIT's text for the failure.
        detail: String,
    },
    /// The library could not parse a token (`DEFECTIVE_TOKEN`).
    #[error("defective token: {detail}")]
    DefectiveToken {
        /// MIT's text for the failure.
        detail: String,
    },
    /// A token's checksum or decryption failed (`BAD_MIC`,
    /// `KRB5KRB_AP_ERR_BAD_INTEGRITY`): tampered with, or made with other keys.
    #[error("integrity check failed (tampered or misrouted token): {detail}")]
    BadIntegrity {
        /// MIT's text for the failure.
        detail: String,
    },
    /// MIT verified a token but flagged it duplicate, old, unsequenced or
    /// after a gap (supplementary bits only, no error bits).
    #[error("token out of sequence (replayed, reordered or left out), as MIT reports it: {detail}")]
    OutOfSequence {
        /// MIT's text for the failure.
        detail: String,
    },
    /// The security context (the ticket it rests on) has expired
    /// (`CONTEXT_EXPIRED`).
    #[error("security context expired: {detail}")]
    ContextExpired {
        /// MIT's text for the failure.
        detail: String,
    },
    /// A service name could not be imported (`BAD_NAME`).
    #[error("invalid name '{name}': {detail}")]
    BadName {
        /// The name as given; empty when the error was classified from a
        /// status alone, which does not carry the name.
        name: String,
        /// MIT's text for the failure.
        detail: String,
    },
    /// Any other failure.
    #[error("GSS-API failure: {detail}")]
    Other {
        /// MIT's text for the failure, or ours for a failure of the binding.
        detail: String,
    },
}

// Routine error codes (RFC 2744), bits 16..24 of the major status.
const GSS_S_BAD_NAME: u32 = 2 << 16;
const GSS_S_BAD_MIC: u32 = 6 << 16;
const GSS_S_NO_CRED: u32 = 7 << 16;
const GSS_S_DEFECTIVE_TOKEN: u32 = 9 << 16;
const GSS_S_DEFECTIVE_CREDENTIAL: u32 = 10 << 16;
const GSS_S_CREDENTIALS_EXPIRED: u32 = 11 << 16;
const GSS_S_CONTEXT_EXPIRED: u32 = 12 << 16;
// Supplementary bits: duplicate, old, unsequenced and gap tokens.
const GSS_S_SEQUENCE_BITS: u32 = 0x2 | 0x4 | 0x8 | 0x10;

// MIT krb5 minor codes (com_err table), as the unsigned value GSS returns.
const KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN: u32 = -1765328377i32 as u32;
const KRB5KRB_AP_ERR_BAD_INTEGRITY: u32 = -1765328353i32 as u32;
const KRB5KRB_AP_ERR_SKEW: u32 = -1765328347i32 as u32;
const KRB5KRB_AP_ERR_NOKEY: u32 = -1765328339i32 as u32;
const KRB5KRB_AP_WRONG_PRINC: u32 = -1765328240i32 as u32;
const KRB5_KDC_UNREACH: u32 = -1765328228i32 as u32;
const KRB5_KT_NOTFOUND: u32 = -1765328203i32 as u32;
const KRB5_REALM_CANT_RESOLVE: u32 = -1765328164i32 as u32;

impl From<GssStatus> for GssError {
    fn from(e: GssStatus) -> Self {
        let detail = e.message.trim().to_string();
        match e.minor {
            KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN => return GssError::UnknownServer { detail },
            KRB5KRB_AP_ERR_SKEW => return GssError::ClockSkew { detail },
            KRB5_KDC_UNREACH | KRB5_REALM_CANT_RESOLVE => return GssError::KdcUnreachable { detail },
            KRB5KRB_AP_ERR_NOKEY | KRB5KRB_AP_WRONG_PRINC | KRB5_KT_NOTFOUND => {
                return GssError::NoKeyForService { detail }
            }
            KRB5KRB_AP_ERR_BAD_INTEGRITY => return GssError::BadIntegrity { detail },
            _ => {}
        }
        if e.major & crate::gss::status_bits::ERRORS == 0 && e.major & GSS_S_SEQUENCE_BITS != 0 {
            return GssError::OutOfSequence { detail };
        }
        match e.major & 0x00ff_0000 {
            GSS_S_NO_CRED | GSS_S_DEFECTIVE_CREDENTIAL | GSS_S_CREDENTIALS_EXPIRED => {
                GssError::NoCredentials { detail }
            }
            GSS_S_DEFECTIVE_TOKEN => GssError::DefectiveToken { detail },
            GSS_S_BAD_MIC => GssError::BadIntegrity { detail },
            GSS_S_CONTEXT_EXPIRED => GssError::ContextExpired { detail },
            GSS_S_BAD_NAME => GssError::BadName { name: String::new(), detail },
            _ => GssError::Other { detail },
        }
    }
}

/// Why a session could not be established.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// A context step failed in the library.
    #[error(transparent)]
    Gss(#[from] GssError),
    /// A handshake token could not be read or written.
    #[error("handshake framing: {0}")]
    Frame(#[from] FrameError),
    /// The peer closed the stream cleanly where a handshake token was due.
    #[error("peer closed the connection during the handshake")]
    PeerClosed,
    /// The whole handshake did not finish within the given bound
    /// ([`crate::InitiatorConfig::handshake_timeout`], or `accept`'s timeout).
    #[error("handshake not complete within {0:?} (KDC or peer not answering)")]
    TimedOut(Duration),
    /// The blocking-pool task that ran a context step panicked or was
    /// cancelled (the runtime shutting down); holds the join error's text.
    #[error("GSS worker thread failed: {0}")]
    Worker(String),
    /// On an acceptor, the initiator authenticated anonymously (RFC 8062): by
    /// the anonymous flag or the `WELLKNOWN/ANONYMOUS` principal.
    #[error("anonymous principal refused ({principal})")]
    AnonymousPrincipal {
        /// The initiator's principal as MIT displays it.
        principal: String,
    },
}

/// Why a received message token was refused. It ends the session.
#[derive(Debug, thiserror::Error)]
pub enum UnwrapError {
    /// Refused by our checks, on either code path (header fields, sequence,
    /// and on our own path the integrity check).
    #[error(transparent)]
    Token(#[from] crate::cfx::TokenError),
    /// Refused by MIT's `gss_unwrap`.
    #[error(transparent)]
    Gss(#[from] GssError),
}

/// A setting's text that names none of its values (`FromStr` of
/// [`crate::ByteOrder`], [`crate::FrameOrder`], [`crate::Protection`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    /// Not `le`, `little`, `be` or `big` (in any case; the text lowercased).
    #[error("unknown frame byte order '{0}' (expected le or be)")]
    ByteOrder(String),
    /// Not `auto` nor a byte order.
    #[error("unknown frame byte order '{0}' (expected auto, le or be)")]
    FrameOrder(String),
    /// Not `encryption` nor `integrity` (case-sensitive, as in rsyslog).
    #[error("unknown GSS mode '{0}' (expected encryption or integrity)")]
    Protection(String),
}
