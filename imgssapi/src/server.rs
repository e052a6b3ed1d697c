//! Listeners, admission at accept, and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use gsswire::{AcceptorCredential, MessageCode};
use tokio::net::TcpListener;
use daemon::signals::Shutdown;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::admission::{Admission, Refusal};
use crate::budget::Budgets;
use crate::config::{CollectorConfig, ListenerConfig};
use crate::event_log::{self, EventKind, EventLog};
use crate::output::Command;
use crate::render::Rules;
use crate::context::SessionContext;
use crate::session;

pub struct Listening {
    listeners: Vec<(TcpListener, Arc<SessionContext>)>,
    admission: Arc<Admission>,
    budgets: Budgets,
}

/// Binds every listener (and writes the port file) before anything runs, so
/// that a bind failure is an error at start.
pub async fn bind(
    config: Arc<CollectorConfig>,
    rules: Arc<Rules>,
    output: mpsc::Sender<Command>,
    shutdown: Shutdown,
    dns: bool,
) -> anyhow::Result<Listening> {
    let admission = Arc::new(Admission::new(
        config.front_door,
        config.sessions,
        EventLog::new(event_log::WINDOW, event_log::BURST),
    ));
    let budgets = Budgets::new(config.memory_limit);
    let mut listeners = Vec::new();
    for l in &config.listeners {
        // Also with PermitPlainTCP on: a GSS listener that cannot authenticate
        // anyone is a broken setup, not a plain one (that is $InputTCPServerRun).
        let credential = match &l.gss {
            Some(g) => Some(
                AcceptorCredential::acquire(&g.service_name)
                    .with_context(|| {
                        format!("cannot acquire GSS acceptor credential for service '{}' (keytab from KRB5_KTNAME)", g.service_name)
                    })?
                    .allow_anonymous(config.identity.allow_anonymous)
                    .message_code(MessageCode::from_environment(std::env::var_os(MessageCode::ENVIRONMENT).as_deref())),
            ),
            None => None,
        };
        let listener = bind_one(l).await?;
        let port = listener.local_addr()?.port();
        tracing::info!(port, gss = l.gss.is_some(), "listening");
        if l.gss.is_some() {
            if let Some(path) = &config.port_file {
                daemon::replace_file::write_replacing(path, format!("{port}\n").as_bytes(), 0o644)
                    .with_context(|| format!("writing port file {}", path.display()))?;
            }
        }
        let ctx = Arc::new(SessionContext {
            config: config.clone(),
            gss: l.gss.clone(),
            credential,
            rules: rules.clone(),
            output: output.clone(),
            shutdown: shutdown.clone(),
            dns,
            admission: admission.clone(),
            budgets: budgets.clone(),
        });
        listeners.push((listener, ctx));
    }
    Ok(Listening { listeners, admission, budgets })
}

async fn bind_one(l: &ListenerConfig) -> anyhow::Result<TcpListener> {
    let addr = SocketAddr::new(l.bind, l.port);
    let socket = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        // One listener for IPv4 and IPv6, as rsyslog has.
        let _ = socket.set_only_v6(false);
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into()).with_context(|| format!("binding {addr}"))?;
    socket.listen(1024)?;
    Ok(TcpListener::from_std(socket.into())?)
}

impl Listening {
    pub fn admission(&self) -> Arc<Admission> {
        self.admission.clone()
    }

    pub fn budgets(&self) -> Budgets {
        self.budgets.clone()
    }

    pub fn ports(&self) -> Vec<u16> {
        self.listeners.iter().filter_map(|(l, _)| l.local_addr().ok()).map(|a| a.port()).collect()
    }

    /// Accepts until shutdown, then waits for every session to drain.
    ///
    /// Refusals cost no more than the accept: the sender check and the
    /// budgets are looked at here, before a task exists for the connection.
    pub async fn serve(self, mut shutdown: Shutdown) {
        let admission = self.admission;
        let flush = tokio::spawn({
            let admission = admission.clone();
            async move {
                let mut every = tokio::time::interval(event_log::WINDOW);
                loop {
                    every.tick().await;
                    admission.log.flush();
                }
            }
        });
        let mut accept_loops = JoinSet::new();
        for (listener, ctx) in self.listeners {
            let admission = admission.clone();
            let mut stop = shutdown.clone();
            accept_loops.spawn(async move {
                let mut sessions = JoinSet::new();
                loop {
                    tokio::select! {
                        accepted = listener.accept() => match accepted {
                            Ok((stream, peer)) => {
                                let peer = session::canonical_peer(peer);
                                let Some(modes) = ctx.modes_for(peer.ip()) else {
                                    crate::counters::add(&crate::counters::STATS.refused_not_allowed, 1);
                                    if admission.log.admit(EventKind::RefusedNotAllowed) {
                                        tracing::warn!(%peer, "connection refused: sender not permitted by $AllowedSender");
                                    }
                                    continue;
                                };
                                let place = match admission.enter(peer.ip()) {
                                    Ok(place) => place,
                                    Err(refusal) => {
                                        log_refusal(&admission, peer, refusal);
                                        continue;
                                    }
                                };
                                if ctx.config.listeners.iter().any(|l| l.keepalive) {
                                    let _ = socket2::SockRef::from(&stream).set_keepalive(true);
                                }
                                sessions.spawn(session::run(stream, peer, modes, place, ctx.clone()));
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "accept failed");
                                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            }
                        },
                        Some(ended) = sessions.join_next(), if !sessions.is_empty() => log_if_panicked(ended),
                        _ = stop.triggered() => break,
                    }
                }
                drop(listener);
                while let Some(ended) = sessions.join_next().await {
                    log_if_panicked(ended);
                }
            });
        }
        crate::counters::STATS.listening.store(true, std::sync::atomic::Ordering::Relaxed);
        shutdown.triggered().await;
        crate::counters::STATS.listening.store(false, std::sync::atomic::Ordering::Relaxed);
        tracing::info!("shutting down: no new sessions; draining open ones");
        while accept_loops.join_next().await.is_some() {}
        flush.abort();
        admission.log.flush();
    }
}

fn log_refusal(admission: &Admission, peer: SocketAddr, refusal: Refusal) {
    crate::stats::refused(refusal);
    if !admission.log.admit(refusal.kind()) {
        return;
    }
    let limits = admission.limits();
    match refusal {
        // Decided when a session is established, never at accept.
        Refusal::SenderBusy => {}
        Refusal::NoSessionSlot => {
            let max_sessions = admission.max_sessions();
            tracing::warn!(%peer, max_sessions, "too many sessions: refusing connection ($InputGSSServerMaxSessions)")
        }
        Refusal::TooManyHandshakes => tracing::warn!(
            %peer,
            max_handshakes = limits.max_handshakes,
            "too many connections awaiting authentication: refusing connection ($InputGSSServerMaxHandshakes)"
        ),
        Refusal::TooManyFromHost => tracing::warn!(
            %peer,
            max_handshakes_per_host = limits.max_handshakes_per_host,
            "too many connections from this address awaiting authentication: refusing connection ($InputGSSServerMaxHandshakesPerHost)"
        ),
        Refusal::TooManyFromSubnet => tracing::warn!(
            %peer,
            max_handshakes_per_subnet = limits.max_handshakes_per_subnet,
            "too many connections from this subnet awaiting authentication: refusing connection ($InputGSSServerMaxHandshakesPerSubnet)"
        ),
    }
}

/// A session that panicked (a bug) has lost its own connection only: its
/// budget places were released as it unwound. Say so, or it vanishes silently.
fn log_if_panicked(ended: Result<(), tokio::task::JoinError>) {
    if let Err(e) = ended {
        if e.is_panic() {
            tracing::error!(error = %e, "a session task panicked; that session is closed, the others go on");
        }
    }
}
