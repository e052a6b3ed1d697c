//! GSS-API (Kerberos) sessions as rsyslog's omgssapi and imgssapi set them up:
//! the client speaks first, one krb5 round trip (AP-REQ, AP-REP) to the
//! host-based service `SERVICE@HOST`, then every data token is a `gss_wrap`.
//!
//! [`initiate`] (with an [`InitiatorConfig`]) and [`accept`] (with an
//! [`AcceptorCredential`]) run the handshake over a [`FrameReader`] and
//! [`FrameWriter`] and return a [`Session`], which wraps outgoing messages
//! with its [`Protection`] and unwraps incoming ones into [`Unwrapped`]
//! values. [`MessageCode`] says whose code makes the message tokens.
//!
//! Context steps run on tokio's blocking pool: the initiator's first step
//! talks to the KDC synchronously (it blocked 25 s against a silent KDC in our
//! probe), and the acceptor's steps read the keytab and write the replay cache.
//!
//! The acceptor refuses anonymous initiators (the anonymous flag, or the
//! `WELLKNOWN/ANONYMOUS` principal of RFC 8062) unless its credential was
//! told to let them in ([`AcceptorCredential::allow_anonymous`]); a session
//! knows whether its peer was anonymous ([`Session::is_anonymous`]).
//!
//! Every session knows when its context expires ([`Session::expires_at`]:
//! the end time of the ticket it was set up with); what to do then is the
//! caller's decision.
//!
//! # What a received token must pass
//!
//! Message tokens are made and checked by one of two codes ([`MessageCode`]):
//!
//! - ours ([`crate::cfx`]) for AES-SHA1 keys: every check listed there,
//!   exactly the next sequence number included;
//! - MIT's `gss_unwrap` for every other enctype (aes-sha2, camellia, DES3,
//!   RC4) or on request (the daemons' `GSSLOG_MIT_MESSAGE_TOKENS`, passed
//!   in as [`InitiatorConfig::message_code`] and
//!   [`AcceptorCredential::message_code`]). Any status but
//!   complete is a refusal, supplementary bits (duplicate, old, gap) too.
//!   For RFC 4121 tokens we add what MIT does not check: no ASN.1 wrapper
//!   (token ID `05 04` first, filler `FF`), and exactly the next sequence
//!   number, read from the clear header once MIT has verified the token
//!   (the sealed header copy or the checksum covers it). The first expected
//!   number is the peer's initial one, which MIT tells only through a lucid
//!   export, which ends the context it is taken from: so the complete
//!   context is exported (`gss_export_sec_context`) and imported twice, one
//!   copy kept as the working context, the other lucid-exported for its
//!   `recv_seq` and then freed. Both copies are in the same state, nothing
//!   having been received yet.
//!   RFC 1964 tokens (DES3, RC4: enctypes this MIT build no longer issues
//!   tickets for unless configured to) carry their sequence number
//!   encrypted, so only MIT's own check applies: replays, reordering and
//!   gaps are refused when the initiator asked for replay and sequence
//!   detection (our shipper does), and not at all otherwise (stock
//!   rsyslog's omgssapi does not ask); such sessions are logged with a
//!   warning.
//!
//! A refused token is an [`UnwrapError`] naming the cause; the caller ends
//! the session.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};

use crate::cfx::{self, CfxContext, TokenError};
use crate::error::{GssError, HandshakeError, SettingError, UnwrapError};
use crate::frame::{FrameReader, FrameWriter, MAX_HANDSHAKE_TOKEN};
use crate::gss::{flags, status_bits, Credential, Name, SecurityContext};
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
    type Err = SettingError;
    /// rsyslog compares `$GssMode` values case-sensitively; so do we.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "encryption" => Ok(Protection::Encryption),
            "integrity" => Ok(Protection::Integrity),
            other => Err(SettingError::Protection(other.to_string())),
        }
    }
}

/// The acceptor's long-term credential, acquired once from the keytab
/// (`KRB5_KTNAME`) and shared by every session.
#[derive(Clone)]
pub struct AcceptorCredential {
    cred: Arc<Credential>,
    allow_anonymous: bool,
    message_code: MessageCode,
}

impl AcceptorCredential {
    /// `service` is rsyslog's `$InputGSSServerServiceName`: a bare service
    /// (`host`) accepts a ticket for that service on any host name in the
    /// keytab, as rsyslog's imgssapi does; `host@name` pins the host.
    pub fn acquire(service: &str) -> Result<Self, GssError> {
        let name = hostbased_name(service)?;
        let cred = Credential::acceptor(&name)?;
        Ok(AcceptorCredential { cred: Arc::new(cred), allow_anonymous: false, message_code: MessageCode::default() })
    }

    /// Whether sessions from anonymous initiators are accepted (default: no,
    /// they are refused right after the handshake).
    pub fn allow_anonymous(mut self, allow: bool) -> Self {
        self.allow_anonymous = allow;
        self
    }

    /// Whose code makes and checks the message tokens of the sessions it
    /// accepts (default: [`MessageCode::Gsslog`]).
    pub fn message_code(mut self, code: MessageCode) -> Self {
        self.message_code = code;
        self
    }
}

/// The initiator's credential when it is not the environment's default one:
/// a named principal, from a named client keytab.
#[derive(Clone)]
pub struct InitiatorCredential {
    cred: Arc<OwnCache>,
    principal: Option<String>,
}

/// A credential and the memory credential cache it was given, destroyed
/// (tickets and all) after the credential is released.
struct OwnCache {
    cred: Option<Credential>,
    ccache: Option<String>,
}

impl Drop for OwnCache {
    fn drop(&mut self) {
        drop(self.cred.take());
        if let Some(name) = &self.ccache {
            crate::gss::destroy_ccache(name);
        }
    }
}

/// Memory credential caches this process made, for unique names.
static CACHES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl std::fmt::Debug for InitiatorCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitiatorCredential").field("principal", &self.principal).finish()
    }
}

/// Where an initiator's own Kerberos identity comes from; both unset means
/// MIT's defaults (the environment: `KRB5_CLIENT_KTNAME`, `KRB5CCNAME`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The client principal, as `name@REALM` or `name` in the default realm.
    pub principal: Option<String>,
    /// The client keytab (`FILE:/path` or a path) tickets are obtained from.
    pub keytab: Option<String>,
}

impl InitiatorCredential {
    /// Acquires the credential for `identity`. With a client keytab, MIT gets
    /// the tickets when the first context is set up, into a memory cache of
    /// this credential's own (so every credential asks the KDC afresh, and
    /// no other process's cache is touched), destroyed with the credential.
    pub fn acquire(identity: &ClientIdentity) -> Result<Self, GssError> {
        let name = match &identity.principal {
            Some(p) => Some(
                Name::principal(p)
                    .map_err(|e| GssError::BadName { name: p.clone(), detail: e.message.trim().to_string() })?,
            ),
            None => None,
        };
        let mut store = Vec::new();
        let ccache = identity.keytab.as_ref().map(|_| {
            let n = CACHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            format!("MEMORY:gsslog-{}-{n}", std::process::id())
        });
        if let (Some(keytab), Some(ccache)) = (&identity.keytab, &ccache) {
            store.push(("client_keytab", keytab.as_str()));
            store.push(("ccache", ccache.as_str()));
        }
        // Destroys the cache on every way out, failures included.
        let mut own = OwnCache { cred: None, ccache: ccache.clone() };
        own.cred = Some(Credential::initiator(name.as_ref(), &store)?);
        Ok(InitiatorCredential { cred: Arc::new(own), principal: identity.principal.clone() })
    }
}

/// Where and how an initiator connects.
#[derive(Debug, Clone)]
pub struct InitiatorConfig {
    /// `$GssForwardServiceName`, default `host`.
    pub service: String,
    /// The host exactly as written in the `:omgssapi:` action.
    pub host: String,
    /// What the initiator asks for and applies to every message it wraps.
    pub protection: Protection,
    /// Bounds the whole handshake, KDC round trips included.
    pub handshake_timeout: Duration,
    /// Whose code makes and checks the session's message tokens.
    pub message_code: MessageCode,
}

/// An established GSS-API session: wraps outgoing and unwraps incoming data.
pub struct Session {
    messages: MessageProtection,
    protection: Protection,
    peer: String,
    anonymous: bool,
    expires: Option<Instant>,
}

/// Whose code makes and checks a session's message tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageCode {
    /// Ours for AES-SHA1 keys, MIT's for every other enctype.
    #[default]
    Gsslog,
    /// MIT's for every enctype.
    Mit,
}

impl MessageCode {
    /// `"gsslog"` or `"mit"`, as the daemons log it.
    pub fn name(self) -> &'static str {
        match self {
            MessageCode::Gsslog => "gsslog",
            MessageCode::Mit => "mit",
        }
    }

    /// The environment variable by which an admin (or a test) makes the
    /// daemons use MIT's code for every enctype: for comparison, or if a
    /// peer ever disagrees with ours. The daemons read it at start; this
    /// crate reads no environment of its own.
    pub const ENVIRONMENT: &'static str = "GSSLOG_MIT_MESSAGE_TOKENS";

    /// `Mit` when [`MessageCode::ENVIRONMENT`] is set (to anything: `value`
    /// is what the environment holds for it), else `Gsslog`.
    pub fn from_environment(value: Option<&std::ffi::OsStr>) -> MessageCode {
        match value {
            Some(_) => MessageCode::Mit,
            None => MessageCode::Gsslog,
        }
    }
}

/// Who makes and checks the per-message tokens.
enum MessageProtection {
    /// Our RFC 4121 code, with the keys MIT exported (AES-SHA1 enctypes).
    Exported(Box<CfxContext>),
    /// MIT's `gss_wrap`/`gss_unwrap`, with our checks on top.
    Library(MitMessages),
}

impl MessageProtection {
    /// Takes the message keys over from MIT when our code handles their
    /// enctype: MIT's builtin AES uses neither AES-NI nor the SHA extensions,
    /// and per-message crypto was a third of all CPU in the benchmark.
    fn from_complete(ctx: SecurityContext, code: MessageCode) -> Result<MessageProtection, GssError> {
        let ours = matches!(
            ctx.message_enctype(),
            Ok(ENCTYPE_AES128_CTS_HMAC_SHA1_96 | ENCTYPE_AES256_CTS_HMAC_SHA1_96)
        );
        if !ours || code == MessageCode::Mit {
            return Ok(MessageProtection::Library(MitMessages::new(ctx)?));
        }
        let keys = ctx.export_message_keys()?;
        let cfx = CfxContext::new(&keys).map_err(|e| GssError::Other {
            detail: format!("exported context unusable: {e}"),
        })?;
        Ok(MessageProtection::Exported(Box::new(cfx)))
    }
}

/// MIT's per-message code, and the sequence number that the next RFC 4121
/// token must carry (see the module documentation).
struct MitMessages {
    ctx: SecurityContext,
    /// `None` for RFC 1964 contexts, whose sequence numbers are encrypted.
    next_recv_seq: Option<u64>,
}

impl MitMessages {
    fn new(ctx: SecurityContext) -> Result<MitMessages, GssError> {
        let granted = ctx.flags();
        let exported = ctx.export()?;
        let keys = exported.import()?.export_message_keys()?;
        let ctx = exported.import()?;
        let both = flags::REPLAY | flags::SEQUENCE;
        if !keys.cfx && granted & both != both {
            tracing::warn!(
                "RFC 1964 message tokens without replay and sequence detection: \
                 replayed, reordered or left-out tokens cannot be detected on this session"
            );
        }
        Ok(MitMessages { ctx, next_recv_seq: keys.cfx.then_some(keys.recv_seq) })
    }

    fn unwrap(&mut self, token: &[u8]) -> Result<Unwrapped, UnwrapError> {
        let Some(expected) = self.next_recv_seq else {
            let (data, sealed) = self.ctx.unwrap(token).map_err(GssError::from)?;
            return Ok(Unwrapped { data, sealed });
        };
        let got = cfx::wrap_token_sequence(token)?;
        let result = self.ctx.unwrap(token);
        // MIT verified the token (supplementary bits aside): the clear
        // sequence number is the one the sender protected.
        let authentic = match &result {
            Ok(_) => true,
            Err(status) => status.major & status_bits::ERRORS == 0,
        };
        if authentic && got != expected {
            return Err(TokenError::OutOfSequence { got, expected }.into());
        }
        let (data, sealed) = result.map_err(GssError::from)?;
        self.next_recv_seq = Some(expected.wrapping_add(1));
        Ok(Unwrapped { data, sealed })
    }
}

/// Plaintext of one received token and whether it travelled sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unwrapped {
    /// The plaintext the peer wrapped.
    pub data: Vec<u8>,
    /// The token was encrypted; `false` for an integrity-only token, which
    /// the caller may refuse by its own policy.
    pub sealed: bool,
}

impl Session {
    /// A session on a complete context, its message tokens made and checked
    /// by `code`. `peer` is what [`Session::peer_name`] reports.
    pub fn from_context(ctx: SecurityContext, protection: Protection, peer: String, code: MessageCode) -> Result<Session, GssError> {
        let anonymous = is_anonymous(ctx.flags(), &peer);
        let expires = ctx.expires();
        let messages = MessageProtection::from_complete(ctx, code)?;
        Ok(Session { messages, protection, peer, anonymous, expires })
    }

    /// Whether the peer is anonymous (RFC 8062): it proved nothing about who it is.
    pub fn is_anonymous(&self) -> bool {
        self.anonymous
    }

    /// When the context expires: the end time of the ticket the session was
    /// set up with. `None` for an indefinite context.
    pub fn expires_at(&self) -> Option<Instant> {
        self.expires
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

    /// Whose code makes and checks this session's message tokens:
    /// [`MessageCode::Gsslog`] when ours does (keys exported from MIT, AES-SHA1
    /// enctypes), [`MessageCode::Mit`] when MIT's does.
    pub fn message_tokens(&self) -> MessageCode {
        match self.messages {
            MessageProtection::Exported(_) => MessageCode::Gsslog,
            MessageProtection::Library(_) => MessageCode::Mit,
        }
    }

    /// Wraps `plaintext` into one token, sealed or not per the session's protection.
    pub fn wrap(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, GssError> {
        let encrypt = self.protection == Protection::Encryption;
        match &mut self.messages {
            MessageProtection::Exported(cfx) => Ok(cfx.wrap(plaintext, encrypt)),
            MessageProtection::Library(mit) => Ok(mit.ctx.wrap(encrypt, plaintext)?),
        }
    }

    /// Verifies (and decrypts) one token. An error names why the token was
    /// refused; the session must not be used for receiving after one.
    pub fn unwrap(&mut self, token: &[u8]) -> Result<Unwrapped, UnwrapError> {
        match &mut self.messages {
            MessageProtection::Exported(cfx) => {
                let (data, sealed) = cfx.unwrap(token)?;
                Ok(Unwrapped { data, sealed })
            }
            MessageProtection::Library(mit) => mit.unwrap(token),
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
    initiate_as(reader, writer, config, None).await
}

/// [`initiate`] with `credential` instead of the environment's default one.
pub async fn initiate_as<R, W>(
    reader: &mut FrameReader<R>,
    writer: &mut FrameWriter<W>,
    config: &InitiatorConfig,
    credential: Option<&InitiatorCredential>,
) -> Result<Session, HandshakeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    bounded(config.handshake_timeout, initiate_steps(reader, writer, config, credential)).await
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
    credential: Option<&InitiatorCredential>,
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
    let cred = credential.map(|c| Arc::clone(&c.cred));
    loop {
        let name = Arc::clone(&name);
        let cred = cred.clone();
        let (returned, step) = blocking(move || {
            let out = ctx.initiate_step_as(cred.as_ref().and_then(|c| c.cred.as_ref()), &name, req_flags, incoming.as_deref());
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
    Ok(Session::from_context(ctx, config.protection, target, config.message_code)?)
}

/// Whether `identity` can get a ticket for `target` (`service@host`): the
/// initiator's first step, which asks the KDC, with the token it makes
/// thrown away. Blocking (KDC round trips): for `--check-config`, not for
/// the runtime's threads.
pub fn obtain_ticket(identity: &ClientIdentity, target: &str) -> Result<(), GssError> {
    let credential = match identity == &ClientIdentity::default() {
        true => None,
        false => Some(InitiatorCredential::acquire(identity)?),
    };
    let name = hostbased_name(target)?;
    let mut ctx = SecurityContext::new();
    ctx.initiate_step_as(credential.as_ref().and_then(|c| c.cred.cred.as_ref()), &name, flags::MUTUAL, None)?;
    Ok(())
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
    if !credential.allow_anonymous {
        refuse_anonymous(ctx.flags(), &peer)?;
    }
    // rsyslog's omgssapi asks only for MUTUAL plus CONF or INTEG, so what the
    // client may send is told by the token headers, not the context flags.
    // Export (of the message keys) needs no KDC; it stays on this thread.
    Ok(Session::from_context(ctx, Protection::Encryption, peer, credential.message_code)?)
}

/// An anonymous initiator proved nothing about who it is: refused, whether
/// the context says so by its flag or by the principal (RFC 8062's
/// `WELLKNOWN/ANONYMOUS`, in any realm).
fn refuse_anonymous(granted: u32, peer: &str) -> Result<(), HandshakeError> {
    if is_anonymous(granted, peer) {
        return Err(HandshakeError::AnonymousPrincipal { principal: peer.to_string() });
    }
    Ok(())
}

/// The anonymous flag, or RFC 8062's `WELLKNOWN/ANONYMOUS` in any realm.
fn is_anonymous(granted: u32, peer: &str) -> bool {
    let name = peer.rsplit_once('@').map_or(peer, |(name, _realm)| name);
    granted & flags::ANON != 0 || name == "WELLKNOWN/ANONYMOUS"
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
    fn the_message_code_is_mit_when_the_variable_is_set_to_anything() {
        assert_eq!(MessageCode::from_environment(None), MessageCode::Gsslog);
        assert_eq!(MessageCode::from_environment(Some("1".as_ref())), MessageCode::Mit);
        assert_eq!(MessageCode::from_environment(Some("".as_ref())), MessageCode::Mit);
        assert_eq!(MessageCode::default(), MessageCode::Gsslog);
    }

    #[test]
    fn setting_values_that_name_nothing_say_what_is_expected() {
        assert_eq!("x".parse::<Protection>(), Err(SettingError::Protection("x".into())));
        assert_eq!("Encryption".parse::<Protection>().unwrap_err().to_string(), "unknown GSS mode 'Encryption' (expected encryption or integrity)");
        assert_eq!("MID".parse::<crate::ByteOrder>().unwrap_err().to_string(), "unknown frame byte order 'mid' (expected le or be)");
        assert_eq!("MID".parse::<crate::FrameOrder>().unwrap_err().to_string(), "unknown frame byte order 'MID' (expected auto, le or be)");
    }

    #[test]
    fn anonymous_initiators_are_refused() {
        for (granted, peer) in [
            (flags::ANON, "anyone@GSSLOG.TEST"),
            (0, "WELLKNOWN/ANONYMOUS@WELLKNOWN:ANONYMOUS"),
            (0, "WELLKNOWN/ANONYMOUS@GSSLOG.TEST"),
        ] {
            let err = refuse_anonymous(granted | flags::MUTUAL, peer).unwrap_err();
            assert_eq!(err.to_string(), format!("anonymous principal refused ({peer})"));
        }
        refuse_anonymous(flags::MUTUAL | flags::CONF, "alice@GSSLOG.TEST").unwrap();
        refuse_anonymous(0, "host/WELLKNOWN/ANONYMOUS@GSSLOG.TEST").unwrap();
    }

    #[test]
    fn gss_mode_is_case_sensitive_like_rsyslog() {
        assert_eq!("encryption".parse(), Ok(Protection::Encryption));
        assert_eq!("integrity".parse(), Ok(Protection::Integrity));
        assert!("Encryption".parse::<Protection>().is_err());
    }
}
