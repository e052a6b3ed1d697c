//! Listeners, the session limit, and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use gsswire::AcceptorCredential;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;

use crate::config::{CollectorConfig, ListenerConfig};
use crate::output::Command;
use crate::render::Rules;
use crate::session::{self, SessionContext};

pub struct Listening {
    listeners: Vec<(TcpListener, Arc<SessionContext>)>,
}

/// Binds every listener (and writes the port file) before anything runs, so
/// that a bind failure is an error at start.
pub async fn bind(
    config: Arc<CollectorConfig>,
    rules: Arc<Rules>,
    output: mpsc::Sender<Command>,
    shutdown: watch::Receiver<bool>,
    dns: bool,
) -> anyhow::Result<Listening> {
    let mut listeners = Vec::new();
    for l in &config.listeners {
        let credential = match &l.gss {
            Some(g) => match AcceptorCredential::acquire(&g.service_name) {
                Ok(c) => Some(c),
                Err(e) if g.permit_plain_tcp => {
                    tracing::warn!(service = %g.service_name, error = %e, "no GSS acceptor credential: serving plain TCP only");
                    None
                }
                Err(e) => anyhow::bail!("cannot acquire GSS acceptor credential for service '{}' (keytab from KRB5_KTNAME): {e}", g.service_name),
            },
            None => None,
        };
        let listener = bind_one(l).await?;
        let port = listener.local_addr()?.port();
        tracing::info!(port, gss = l.gss.is_some(), "listening");
        if l.gss.is_some() {
            if let Some(path) = &config.port_file {
                std::fs::write(path, format!("{port}\n")).with_context(|| format!("writing port file {}", path.display()))?;
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
        });
        listeners.push((listener, ctx));
    }
    Ok(Listening { listeners })
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
    pub fn ports(&self) -> Vec<u16> {
        self.listeners.iter().filter_map(|(l, _)| l.local_addr().ok()).map(|a| a.port()).collect()
    }

    /// Accepts until shutdown, then waits for every session to drain.
    pub async fn serve(self, max_sessions: usize, mut shutdown: watch::Receiver<bool>) {
        let limit = Arc::new(Semaphore::new(max_sessions));
        let mut accept_loops = JoinSet::new();
        for (listener, ctx) in self.listeners {
            let limit = limit.clone();
            let mut stop = shutdown.clone();
            accept_loops.spawn(async move {
                let mut sessions = JoinSet::new();
                loop {
                    tokio::select! {
                        accepted = listener.accept() => match accepted {
                            Ok((stream, peer)) => {
                                let Ok(permit) = limit.clone().try_acquire_owned() else {
                                    tracing::warn!(%peer, max_sessions, "too many sessions: refusing connection ($InputGSSServerMaxSessions)");
                                    drop(stream);
                                    continue;
                                };
                                if ctx.config.listeners.iter().any(|l| l.keepalive) {
                                    let _ = socket2::SockRef::from(&stream).set_keepalive(true);
                                }
                                let ctx = ctx.clone();
                                sessions.spawn(async move {
                                    session::run(stream, peer, ctx).await;
                                    drop(permit);
                                });
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "accept failed");
                                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            }
                        },
                        Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
                        _ = stop.changed() => break,
                    }
                }
                drop(listener);
                while sessions.join_next().await.is_some() {}
            });
        }
        let _ = shutdown.changed().await;
        tracing::info!("shutting down: no new sessions; draining open ones");
        while accept_loops.join_next().await.is_some() {}
    }
}
