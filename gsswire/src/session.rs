//! GSS-API (Kerberos) sessions as rsyslog's omgssapi and imgssapi set them up:
//! the client speaks first, one krb5 round trip (AP-REQ, AP-REP) to the
//! host-based service `SERVICE@HOST`, then every data token is a `gss_wrap`.
//!
//! Context steps run on tokio's blocking pool: the initiator's first step
//! talks to the KDC synchronously (it blocked 25 s against a silent KDC in our
//! probe), and the acceptor's steps read the keytab and write the replay cache.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::cfx::CfxContext;
use crate::error::{GssError, HandshakeError};
use crate::frame::{FrameReader, FrameWriter, MAX_HANDSHAKE_TOKEN};
use crate::gss::{flags, Credential, Name, SecurityContext};
use crate::krb5_crypto::{ENCTYPE_AES128_CTS_HMAC_SHA1_96, ENCTYPE_AES256_CTS_HMAC_SHA1_96};

/// Per-message protection, rsyslog's `$GssMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// `$GssMode encryption`: tokens are sealed (confidential and integrity-protected).
    Encryption,
    /// `$GssMode integrity`: plaintext travels in clear with a checksum.
    Integrity,
}

impl std::str::FromStr for Protection {
    type Err = String;
    /// rsyslog compares `$GssMode` values case-sensitively; so do we.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "encryption" => Ok(Protection::Encryption),
            "integrity" => Ok(Protection::Integrity),
            other => Err(format!("unknown GSS mode '{other}' (expected encryption or integrity)")),
        }
    }
}

/// Whether a received wrap token is sealed (encrypted), read from its RFC 4121
/// header: `05 04`, then the flags byte whose bit 0x02 is Sealed. A collector
/// that must refuse integrity-only tokens reads it here. `None` for tokens
/// that are not RFC 4121 wrap tokens (older enctypes), which Kerberos from
/// this century does not emit.
fn token_is_sealed(token: &[u8]) -> Option<bool> {
    (token.len() >= 16 && token[0] == 0x05 && token[1] == 0x04).then(|| token[2] & 0x02 != 0)
}

/// The acceptor's long-term credential, acquired once from the keytab
/// (`KRB5_KTNAME`) and shared by every session.
#[derive(Clone)]
pub struct AcceptorCredential {
    cred: Arc<Credential>,
}

impl AcceptorCredential {
    /// `service` is rsyslog's `$InputGSSServerServiceName`: a bare service
    /// (`host`) accepts a ticket for that service on any host name in the
    /// keytab, as rsyslog's imgssapi does; `host@name` pins the host.
    pub fn acquire(service: &str) -> Result<Self, GssError> {
        let name = hostbased_name(service)?;
        let cred = Credential::acceptor(&name)?;
        Ok(AcceptorCredential { cred: Arc::new(cred) })
    }
}

/// Where and how an initiator connects.
#[derive(Debug, Clone)]
pub struct InitiatorConfig {
    /// `$GssForwardServiceName`, default `host`.
    pub service: String,
    /// The host exactly as written in the `:omgssapi:` action.
    pub host: String,
    pub protection: Protection,
    /// Bounds the whole handshake, KDC round trips included.
    pub handshake_timeout: Duration,
}

/// An established GSS-API session: wraps outgoing and unwraps incoming data.
pub struct Session {
    messages: MessageProtection,
    protection: Protection,
    peer: String,
}

/// Who makes and checks the per-message tokens.
enum MessageProtection {
    /// Our RFC 4121 code, with the keys MIT exported (AES-SHA1 enctypes).
    Exported(Box<CfxContext>),
    /// MIT's `gss_wrap`/`gss_unwrap`, for every other enctype.
    Library(SecurityContext),
}

impl MessageProtection {
    /// Takes the message keys over from MIT when our code handles their
    /// enctype: MIT's builtin AES uses neither AES-NI nor the SHA extensions,
    /// and per-message crypto was a third of all CPU in the benchmark.
    fn from_complete(ctx: SecurityContext) -> Result<MessageProtection, GssError> {
        let ours = matches!(
            ctx.message_enctype(),
            Ok(ENCTYPE_AES128_CTS_HMAC_SHA1_96 | ENCTYPE_AES256_CTS_HMAC_SHA1_96)
        );
        if !ours || std::env::var_os("GSSLOG_MIT_MESSAGE_TOKENS").is_some() {
            return Ok(MessageProtection::Library(ctx));
        }
        let keys = ctx.export_message_keys()?;
        let cfx = CfxContext::new(&keys).map_err(|e| GssError::Other {
            detail: format!("exported context unusable: {e}"),
        })?;
        Ok(MessageProtection::Exported(Box::new(cfx)))
    }
}

/// Plaintext of one received token and whether it travelled sealed.
pub struct Unwrapped {
    pub data: Vec<u8>,
    pub sealed: bool,
}

impl Session {
    fn new(ctx: SecurityContext, protection: Protection, peer: String) -> Result<Session, GssError> {
        let messages = MessageProtection::from_complete(ctx)?;
        Ok(Session { messages, protection, peer })
    }

    /// The authenticated principal of the peer (the client, on an acceptor),
    /// or the target service name on an initiator.
    pub fn peer_name(&self) -> &str {
        &self.peer
    }

    /// The protection this side applies when wrapping.
    pub fn protection(&self) -> Protection {
        self.protection
    }

    /// Whose code makes and checks this session's message tokens: `"gsslog"`
    /// (ours, with the keys exported from MIT) or `"mit"` (MIT's, for enctypes
    /// other than AES-SHA1, or when `GSSLOG_MIT_MESSAGE_TOKENS` is set).
    pub fn message_tokens(&self) -> &'static str {
        match self.messages {
            MessageProtection::Exported(_) => "gsslog",
            MessageProtection::Library(_) => "mit",
        }
    }

    /// Wraps `plaintext` into one token, sealed or not per the session's protection.
    pub fn wrap(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, GssError> {
        let encrypt = self.protection == Protection::Encryption;
        match &mut self.messages {
            MessageProtection::Exported(cfx) => Ok(cfx.wrap(plaintext, encrypt)),
            MessageProtection::Library(ctx) => Ok(ctx.wrap(encrypt, plaintext)?),
        }
    }

    /// Verifies (and decrypts) one token.
    pub fn unwrap(&mut self, token: &[u8]) -> Result<Unwrapped, GssError> {
        match &mut self.messages {
            MessageProtection::Exported(cfx) => {
                let (data, sealed) = cfx.unwrap(token)?;
                Ok(Unwrapped { data, sealed })
            }
            MessageProtection::Library(ctx) => {
                let sealed = token_is_sealed(token).unwrap_or(false);
                Ok(Unwrapped { data: ctx.unwrap(token)?, sealed })
            }
        }
    }
}

/// Establishes a session as the client, over an already connected stream.
pub async fn initiate<R, W>(
    reader: &mut FrameReader<R>,
    writer: &mut FrameWriter<W>,
    config: &InitiatorConfig,
) -> Result<Session, HandshakeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    bounded(config.handshake_timeout, initiate_steps(reader, writer, config)).await
}

/// Runs a handshake within `timeout`.
async fn bounded<T>(
    timeout: Duration,
    handshake: impl std::future::Future<Output = Result<T, HandshakeError>>,
) -> Result<T, HandshakeError> {
    tokio::time::timeout(timeout, handshake).await.map_err(|_| HandshakeError::TimedOut(timeout))?
}

async fn initiate_steps<R, W>(
    reader: &mut FrameReader<R>,
    writer: &mut FrameWriter<W>,
    config: &InitiatorConfig,
) -> Result<Session, HandshakeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let target = format!("{}@{}", config.service, config.host);
    let mut req_flags = flags::MUTUAL | flags::REPLAY | flags::SEQUENCE | flags::INTEG;
    if config.protection == Protection::Encryption {
        req_flags |= flags::CONF;
    }
    let name = Arc::new(hostbased_name(&target)?);
    let mut ctx = SecurityContext::new();
    let mut incoming: Option<Vec<u8>> = None;
    loop {
        let name = Arc::clone(&name);
        let (returned, step) = blocking(move || {
            let out = ctx.initiate_step(&name, req_flags, incoming.as_deref());
            (ctx, out)
        })
        .await?;
        ctx = returned;
        if let Some(token) = step.map_err(GssError::from)? {
            writer.write_token(&token).await?;
        }
        if ctx.is_complete() {
            break;
        }
        let reply = reader.read_token(MAX_HANDSHAKE_TOKEN).await?.ok_or(HandshakeError::PeerClosed)?;
        incoming = Some(reply.to_vec());
    }
    Ok(Session::new(ctx, config.protection, target)?)
}

/// Establishes a session as the server. In `FrameOrder::Auto` the reader
/// detects the peer's byte order from its first token and the writer answers
/// in the same order.
pub async fn accept<R, W>(
    reader: &mut FrameReader<R>,
    writer: &mut FrameWriter<W>,
    credential: &AcceptorCredential,
    timeout: Duration,
) -> Result<Session, HandshakeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    bounded(timeout, accept_steps(reader, writer, credential)).await
}

async fn accept_steps<R, W>(
    reader: &mut FrameReader<R>,
    writer: &mut FrameWriter<W>,
    credential: &AcceptorCredential,
) -> Result<Session, HandshakeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut ctx = SecurityContext::new();
    loop {
        let cred = Arc::clone(&credential.cred);
        let token = reader.read_token(MAX_HANDSHAKE_TOKEN).await?.ok_or(HandshakeError::PeerClosed)?;
        if let Some(order) = reader.byte_order() {
            writer.set_byte_order(order);
        }
        let (returned, step) = blocking(move || {
            let out = ctx.accept_step(&cred, &token);
            (ctx, out)
        })
        .await?;
        ctx = returned;
        if let Some(reply) = step.map_err(GssError::from)? {
            writer.write_token(&reply).await?;
        }
        if ctx.is_complete() {
            break;
        }
    }
    let peer = ctx.peer().unwrap_or("<unknown principal>").to_string();
    // rsyslog's omgssapi asks only for MUTUAL plus CONF or INTEG, so what the
    // client may send is told by the token headers, not the context flags.
    // Export (of the message keys) needs no KDC; it stays on this thread.
    Ok(Session::new(ctx, Protection::Encryption, peer)?)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, HandshakeError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| HandshakeError::Worker(e.to_string()))
}

fn hostbased_name(s: &str) -> Result<Name, GssError> {
    Name::host_based_service(s).map_err(|e| GssError::BadName { name: s.to_string(), detail: e.message.trim().to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_bit_from_rfc4121_header() {
        let mut tok = [0u8; 16];
        tok[..3].copy_from_slice(&[0x05, 0x04, 0x06]);
        assert_eq!(token_is_sealed(&tok), Some(true));
        tok[2] = 0x04;
        assert_eq!(token_is_sealed(&tok), Some(false));
        assert_eq!(token_is_sealed(b"short"), None);
    }

    #[test]
    fn gss_mode_is_case_sensitive_like_rsyslog() {
        assert_eq!("encryption".parse(), Ok(Protection::Encryption));
        assert_eq!("integrity".parse(), Ok(Protection::Integrity));
        assert!("Encryption".parse::<Protection>().is_err());
    }
}
