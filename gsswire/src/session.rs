//! GSS-API (Kerberos) sessions as rsyslog's omgssapi and imgssapi set them up:
//! the client speaks first, one krb5 round trip (AP-REQ, AP-REP) to the
//! host-based service `SERVICE@HOST`, then every data token is a `gss_wrap`.
//!
//! Context steps run on tokio's blocking pool: the initiator's first step
//! talks to the KDC synchronously (it blocked 25 s against a silent KDC in our
//! probe), and the acceptor's steps read the keytab and write the replay cache.

use std::time::Duration;

use libgssapi::context::{ClientCtx, CtxFlags, SecurityContext, ServerCtx};
use libgssapi::credential::{Cred, CredUsage};
use libgssapi::name::Name;
use libgssapi::oid::{OidSet, GSS_MECH_KRB5, GSS_NT_HOSTBASED_SERVICE};
use libgssapi::util::Buf;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{GssError, HandshakeError};
use crate::frame::{FrameReader, FrameWriter, MAX_HANDSHAKE_TOKEN};

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
/// header: `05 04`, then the flags byte whose bit 0x02 is Sealed. `libgssapi`
/// does not report `conf_state` from unwrap, so a collector that must refuse
/// integrity-only tokens reads it here. `None` for tokens that are not RFC 4121
/// wrap tokens (older enctypes), which Kerberos from this century does not emit.
pub fn token_is_sealed(token: &[u8]) -> Option<bool> {
    (token.len() >= 16 && token[0] == 0x05 && token[1] == 0x04).then(|| token[2] & 0x02 != 0)
}

/// The acceptor's long-term credential, acquired once from the keytab
/// (`KRB5_KTNAME`) and shared by every session.
#[derive(Clone)]
pub struct AcceptorCredential {
    cred: Cred,
}

impl AcceptorCredential {
    /// `service` is rsyslog's `$InputGSSServerServiceName`: a bare service
    /// (`host`) accepts a ticket for that service on any host name in the
    /// keytab, as rsyslog's imgssapi does; `host@name` pins the host.
    pub fn acquire(service: &str) -> Result<Self, GssError> {
        let name = hostbased_name(service)?;
        let mechs = krb5_mechs()?;
        let cred = Cred::acquire(Some(&name), None, CredUsage::Accept, Some(&mechs))?;
        Ok(AcceptorCredential { cred })
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
    context: Context,
    protection: Protection,
    peer: String,
}

enum Context {
    Initiator(ClientCtx),
    Acceptor(ServerCtx),
}

impl Context {
    fn get(&mut self) -> &mut dyn SecurityContext {
        match self {
            Context::Initiator(c) => c,
            Context::Acceptor(s) => s,
        }
    }
}

/// Plaintext of one received token and whether it travelled sealed.
pub struct Unwrapped {
    pub data: Buf,
    pub sealed: bool,
}

impl Session {
    /// The authenticated principal of the peer (the client, on an acceptor),
    /// or the target service name on an initiator.
    pub fn peer_name(&self) -> &str {
        &self.peer
    }

    /// The protection this side applies when wrapping.
    pub fn protection(&self) -> Protection {
        self.protection
    }

    /// Wraps `plaintext` into one token, sealed or not per the session's protection.
    pub fn wrap(&mut self, plaintext: &[u8]) -> Result<Buf, GssError> {
        let encrypt = self.protection == Protection::Encryption;
        Ok(self.context.get().wrap(encrypt, plaintext)?)
    }

    /// Verifies (and decrypts) one token.
    pub fn unwrap(&mut self, token: &[u8]) -> Result<Unwrapped, GssError> {
        let sealed = token_is_sealed(token).unwrap_or(false);
        let data = self.context.get().unwrap(token)?;
        Ok(Unwrapped { data, sealed })
    }

    /// Remaining lifetime of the context, `None` once expired or unknown.
    pub fn lifetime(&self) -> Option<Duration> {
        match &self.context {
            Context::Initiator(c) => c.lifetime().ok(),
            Context::Acceptor(s) => s.lifetime().ok(),
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
    let mut flags = CtxFlags::GSS_C_MUTUAL_FLAG
        | CtxFlags::GSS_C_REPLAY_FLAG
        | CtxFlags::GSS_C_SEQUENCE_FLAG
        | CtxFlags::GSS_C_INTEG_FLAG;
    if config.protection == Protection::Encryption {
        flags |= CtxFlags::GSS_C_CONF_FLAG;
    }
    let name = hostbased_name(&target)?;
    let mut ctx = ClientCtx::new(None, name, flags, Some(GSS_MECH_KRB5));
    let mut incoming: Option<Vec<u8>> = None;
    loop {
        let (returned, step) = blocking(move || {
            let out = ctx.step(incoming.as_deref(), None).map(|o| o.map(|b| b.to_vec()));
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
    Ok(Session { context: Context::Initiator(ctx), protection: config.protection, peer: target })
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
    let mut ctx = ServerCtx::new(Some(credential.cred.clone()));
    loop {
        let token = reader.read_token(MAX_HANDSHAKE_TOKEN).await?.ok_or(HandshakeError::PeerClosed)?;
        if let Some(order) = reader.byte_order() {
            writer.set_byte_order(order);
        }
        let (returned, step) = blocking(move || {
            let out = ctx.step(&token, None).map(|o| o.map(|b| b.to_vec()));
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
    let peer = ctx
        .source_name()
        .map(|n| n.to_string())
        .unwrap_or_else(|e| format!("<unknown principal: {}>", GssError::from(e)));
    // rsyslog's omgssapi asks only for MUTUAL plus CONF or INTEG, so what the
    // client may send is told by the token headers, not the context flags.
    Ok(Session { context: Context::Acceptor(ctx), protection: Protection::Encryption, peer })
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, HandshakeError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| HandshakeError::Worker(e.to_string()))
}

fn hostbased_name(s: &str) -> Result<Name, GssError> {
    Name::new(s.as_bytes(), Some(GSS_NT_HOSTBASED_SERVICE)).map_err(|e| GssError::BadName {
        name: s.to_string(),
        detail: e.to_string().trim().to_string(),
    })
}

fn krb5_mechs() -> Result<OidSet, GssError> {
    Ok(OidSet::singleton(GSS_MECH_KRB5)?)
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
