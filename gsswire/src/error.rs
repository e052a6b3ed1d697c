//! Error types. Each variant names a cause an admin can act on.

use std::time::Duration;

/// A framing problem on one session. It ends that session and nothing else.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("token length {len} exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("connection closed in the middle of a token ({buffered} bytes of it received)")]
    Truncated { buffered: usize },
    #[error("token not complete within the token timeout ({buffered} bytes of it received)")]
    Timeout { buffered: usize },
    #[error(
        "first frame is not a GSS-API initial token in either byte order (starts with {first_bytes:02x?})"
    )]
    NotInitialToken { first_bytes: Vec<u8> },
    #[error("network I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// A failed GSS-API call as the library reported it: major and minor status
/// and MIT's own text for both.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct GssStatus {
    pub major: u32,
    pub minor: u32,
    pub message: String,
}

/// A GSS-API or Kerberos failure, classified by its cause.
///
/// Routine errors are enumerated values in bits 16..24 of the major status,
/// so the classification compares those bits as a number and looks at the
/// Kerberos minor code for the common cases.
#[derive(Debug, thiserror::Error)]
pub enum GssError {
    #[error("no usable Kerberos credentials: {detail}")]
    NoCredentials { detail: String },
    #[error("the KDC cannot be reached: {detail}")]
    KdcUnreachable { detail: String },
    #[error("clock skew too great between this host and its peer or KDC: {detail}")]
    ClockSkew { detail: String },
    #[error("server principal unknown to the KDC (check the service name and host name): {detail}")]
    UnknownServer { detail: String },
    #[error("no key for this service in the keytab: {detail}")]
    NoKeyForService { detail: String },
    #[error("defective token: {detail}")]
    DefectiveToken { detail: String },
    #[error("integrity check failed (tampered or misrouted token): {detail}")]
    BadIntegrity { detail: String },
    #[error("token out of sequence (replayed, reordered or left out), as MIT reports it: {detail}")]
    OutOfSequence { detail: String },
    #[error("security context expired: {detail}")]
    ContextExpired { detail: String },
    #[error("invalid name '{name}': {detail}")]
    BadName { name: String, detail: String },
    #[error("GSS-API failure: {detail}")]
    Other { detail: String },
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
    #[error(transparent)]
    Gss(#[from] GssError),
    #[error("handshake framing: {0}")]
    Frame(#[from] FrameError),
    #[error("peer closed the connection during the handshake")]
    PeerClosed,
    #[error("handshake not complete within {0:?} (KDC or peer not answering)")]
    TimedOut(Duration),
    #[error("GSS worker thread failed: {0}")]
    Worker(String),
    #[error("anonymous principal refused ({principal})")]
    AnonymousPrincipal { principal: String },
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
