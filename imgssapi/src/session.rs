//! One client connection, from accept to close.
//!
//! [`run`] follows a connection in order:
//! 1. the *front door* ([`crate::open`]): plain-or-GSS decision
//!    ([`crate::detect`]), first bytes, GSS handshake, each against its
//!    deadline, while the connection holds a place in the front-door budget
//!    ([`crate::admission`]);
//! 2. a session slot, and the peer's name from DNS: only a connection that
//!    came out of the front door (an authenticated GSS peer, or a plain peer
//!    that has sent data) gets these;
//! 3. the read loop ([`read_until_closed`]) over the connection's chunks
//!    ([`crate::chunks`]: unwrapped GSS tokens or plain bytes), each handed
//!    to the render pipeline ([`crate::pipeline`]) on the way to the output
//!    thread; at shutdown the peer is told we are going and has the drain
//!    timeout to finish;
//! 4. the end: the pipeline is flushed and the session's end is logged.
//!
//! Every failure here ends this connection only.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use daemon::signals::Shutdown;
use gsswire::AcceptorCredential;
use syslog::Origin;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::admission::{Admission, FrontDoorPlace};
use crate::chunks::{ChunkSource, SessionError};
use crate::config::{AllowedSenders, CollectorConfig, GssSettings};
use crate::detect::Modes;
use crate::open::{open, Deadlines, NotOpened};
use crate::output::Command;
use crate::pipeline::Sink;
use crate::render::Rules;

/// What every session of a listener shares.
pub struct SessionContext {
    pub config: Arc<CollectorConfig>,
    pub gss: Option<GssSettings>,
    pub credential: Option<AcceptorCredential>,
    /// Sessions apply the rules and render lines themselves (see [`crate::render`]).
    pub rules: Arc<Rules>,
    pub output: mpsc::Sender<Command>,
    pub shutdown: Shutdown,
    /// Reverse DNS for `fromhost` (off with `-x`).
    pub dns: bool,
    /// The front door and the session slots, shared by every listener.
    pub admission: Arc<Admission>,
}

impl SessionContext {
    /// What `ip` may open here; `None` when `$AllowedSender` refuses it.
    pub fn modes_for(&self, ip: IpAddr) -> Option<Modes> {
        let plain_allowed = AllowedSenders::permits(&self.config.allowed.tcp, ip);
        let gss_allowed = AllowedSenders::permits(&self.config.allowed.gss, ip);
        let (gss_ok, plain_ok) = match (&self.gss, &self.credential) {
            (Some(g), Some(_)) => (gss_allowed, g.permit_plain_tcp && plain_allowed && gss_allowed),
            (Some(_), None) => (false, false),
            (None, _) => (false, plain_allowed),
        };
        match (gss_ok, plain_ok) {
            (true, true) => Some(Modes::Either),
            (true, false) => Some(Modes::GssOnly),
            (false, true) => Some(Modes::PlainOnly),
            (false, false) => None,
        }
    }
}

/// IPv4 peers as such, not as IPv4-mapped IPv6 addresses.
pub fn canonical_peer(peer: SocketAddr) -> SocketAddr {
    let ip = match peer.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    SocketAddr::new(ip, peer.port())
}

pub async fn run(stream: TcpStream, peer: SocketAddr, modes: Modes, place: FrontDoorPlace, ctx: Arc<SessionContext>) {
    let limits = *ctx.admission.limits();
    let deadlines = Deadlines::from(Instant::now(), &limits);
    // Nothing has been received yet at shutdown: such a connection just goes.
    let mut shutdown = ctx.shutdown.clone();
    let opened = tokio::select! {
        opened = open(stream, modes, &ctx, &limits, deadlines) => opened,
        _ = shutdown.triggered() => Err(NotOpened::ShuttingDown),
    };
    let opened = match opened {
        Ok(opened) => opened,
        Err(e @ (NotOpened::ClosedSilent | NotOpened::ShuttingDown)) => {
            tracing::debug!(%peer, "connection closed before authentication: {e}");
            return;
        }
        Err(e) => {
            if ctx.admission.log.admit(e.kind()) {
                tracing::warn!(%peer, error = %e, "connection closed before authentication");
            }
            return;
        }
    };
    let _slot = match ctx.admission.establish(place) {
        Ok(slot) => slot,
        Err(refusal) => {
            if ctx.admission.log.admit(refusal.kind()) {
                let max_sessions = ctx.admission.max_sessions();
                tracing::warn!(%peer, max_sessions, "too many sessions: refusing connection ($InputGSSServerMaxSessions)");
            }
            return;
        }
    };
    let mut sink = Sink::new(ctx.clone(), origin(peer, &ctx).await);
    let result = match ChunkSource::new(opened, &ctx) {
        Ok(mut source) => {
            source.log_opened(peer);
            read_until_closed(&mut source, &ctx, &mut sink).await
        }
        Err(e) => Err(e),
    };
    sink.finish().await;
    match result {
        Ok(()) => tracing::debug!(%peer, messages = sink.count(), "session closed"),
        Err(e) => tracing::warn!(%peer, messages = sink.count(), error = %e, "session closed on error"),
    }
}

/// Where the session's messages come from. Only an authenticated peer (or a
/// plain one that has spoken) costs a DNS query.
async fn origin(peer: SocketAddr, ctx: &SessionContext) -> Arc<Origin> {
    let ip = peer.ip();
    let dns = ctx.dns;
    let fromhost = tokio::task::spawn_blocking(move || crate::dns::fromhost(ip, dns)).await.unwrap_or_else(|_| ip.to_string());
    let inputname = if ctx.gss.is_some() { "imgssapi" } else { "imtcp" };
    Arc::new(Origin { fromhost, fromhost_ip: ip.to_string(), inputname })
}

/// Hands every chunk of `source` to `sink` until the peer closes.
///
/// At shutdown (also one that started before the session did) the peer is
/// told we are going and has the drain timeout to send what is in flight
/// and close.
async fn read_until_closed(source: &mut ChunkSource, ctx: &SessionContext, sink: &mut Sink) -> Result<(), SessionError> {
    let mut shutdown = ctx.shutdown.clone();
    let mut draining = shutdown.is_triggered();
    if draining {
        source.half_close().await;
    }
    loop {
        let chunk = if draining {
            match tokio::time::timeout(ctx.config.drain_timeout, source.next_chunk()).await {
                Ok(chunk) => chunk?,
                Err(_) => return Err(SessionError::DrainTimeout),
            }
        } else {
            tokio::select! {
                chunk = source.next_chunk() => chunk?,
                _ = shutdown.triggered() => {
                    draining = true;
                    source.half_close().await;
                    continue;
                }
            }
        };
        let Some(chunk) = chunk else { return Ok(()) };
        sink.push(chunk).await;
    }
}
