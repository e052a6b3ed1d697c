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

use gsswire::ack::CollectorMessage;
use syslog::{Origin, ProtectionSeen, Provenance};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::acknowledge::{Acknowledger, WrittenThrough};
use crate::admission::{FrontDoorPlace, SessionSlot};
use crate::session_rate::SessionRate;
use crate::chunks::{Chunk, ChunkSource, SessionError};
use crate::detect::Modes;
use crate::context::SessionContext;
use crate::front_door::Deadlines;
use crate::not_opened::NotOpened;
use crate::open::{open, Opened};
use crate::pipeline::Sink;
use crate::slots::Sender;
use crate::source::Source;

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
    let deadlines = Deadlines::from(Instant::now(), &limits, place.under_pressure);
    // Nothing has been received yet at shutdown: such a connection just goes.
    let mut shutdown = ctx.shutdown.clone();
    let opened = tokio::select! {
        opened = open(stream, modes, &ctx, &place, deadlines) => opened,
        _ = place.displaced() => Err(NotOpened::Displaced),
        _ = shutdown.triggered() => Err(NotOpened::ShuttingDown),
    };
    if let Err(e) = &opened {
        crate::stats::not_opened(e);
    }
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
    // Who may send, and as which host: decided right after the handshake.
    let principal = match &opened {
        Opened::Gss { session, .. } => Some(session.peer_name().to_string()),
        Opened::Plain { .. } => None,
    };
    let (provenance, sender) = match principal {
        Some(principal) => match crate::identity::admit(&ctx.config.identity, principal.clone(), peer.ip()).await {
            Ok(provenance) => (provenance, Sender::Principal(principal)),
            Err(e) => {
                tracing::warn!(%peer, error = %e, "session refused after authentication");
                return;
            }
        },
        None => (Provenance::default(), Sender::Plain(Source::of(peer.ip(), &limits.prefixes).host)),
    };
    let slot = match ctx.admission.establish(place, sender) {
        Ok(slot) => slot,
        Err(refusal) => {
            crate::stats::refused(refusal);
            if ctx.admission.log.admit(refusal.kind()) {
                let caps = ctx.admission.session_caps();
                if refusal == crate::admission::Refusal::SenderBusy {
                    tracing::warn!(
                        %peer,
                        max_sessions_per_principal = caps.per_sender,
                        replace_idle_after_s = caps.replace_idle / 1000,
                        "this sender holds its cap of sessions, none idle long enough to replace: refusing connection; it may retry \
                         ($InputGSSServerMaxSessionsPerPrincipal, $InputGSSServerReplaceIdleSessionAfter)"
                    );
                } else {
                    tracing::warn!(
                        %peer,
                        max_sessions = caps.total,
                        "too many sessions, and no sender holds more than this one's: refusing connection ($InputGSSServerMaxSessions)"
                    );
                }
            }
            return;
        }
    };
    crate::stats::opened(&opened);
    let mut sink = Sink::new(ctx.clone(), origin(peer, &ctx, provenance).await);
    let result = match ChunkSource::new(opened, &ctx) {
        Ok(mut source) => {
            source.log_opened(peer);
            read_until_closed(&mut source, &ctx, &mut sink, Some(&slot)).await
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
async fn origin(peer: SocketAddr, ctx: &SessionContext, provenance: Provenance) -> Arc<Origin> {
    let ip = peer.ip();
    let fromhost = crate::dns::fromhost(ip, ctx.dns).await;
    let inputname = if ctx.gss.is_some() { "imgssapi" } else { "imtcp" };
    Arc::new(Origin { fromhost, fromhost_ip: ip.to_string(), inputname, provenance })
}

/// Hands every chunk of `source` to `sink` until the peer closes.
///
/// At shutdown (also one that started before the session did) the peer is
/// told we are going and has the drain timeout to send what is in flight
/// and close. With `$InputGSSServerExpireSessions on` a GSS session ends
/// when its context expires (also while draining: nothing is taken on an
/// expired context).
///
/// A GSS peer whose first data token is empty asks for acknowledgements
/// ([`gsswire::ack`]); with `$InputGSSServerAcknowledge on` it gets the
/// Hello, then `Written(N)` as its tokens reach the files. Then "we are
/// going" is the Closing message instead of a half-close (which would stop
/// the acknowledgements), and after the peer's close the session waits,
/// within the drain timeout, until everything received is written and
/// acknowledged.
async fn read_until_closed(
    source: &mut ChunkSource,
    ctx: &SessionContext,
    sink: &mut Sink,
    slot: Option<&SessionSlot>,
) -> Result<(), SessionError> {
    let mut shutdown = ctx.shutdown.clone();
    let mut acks: Option<Acknowledger> = None;
    let mut first_token = true;
    let mut draining = shutdown.is_triggered();
    // The drain timeout bounds the whole drain: a peer that never reads (a
    // stock rsyslog sending its marks) must not hold the shutdown forever.
    let mut drain_deadline = draining.then(|| Instant::now() + ctx.config.drain_timeout);
    if draining {
        source.half_close().await;
    }
    // A peer that does not read its acknowledgements must not hold the
    // session (and the collector's shutdown) forever, even without a token
    // I/O timeout.
    let token_timeout = Some(ctx.config.token_timeout.unwrap_or(ctx.config.drain_timeout));
    let gss = source.is_gss();
    let expiry = source.expiry(ctx);
    // A far deadline stands in for "never" so that the select stays simple.
    let never = Instant::now() + std::time::Duration::from_secs(100 * 365 * 86400);
    let expired = tokio::time::sleep_until(expiry.as_ref().map_or(never, |(at, _)| *at));
    tokio::pin!(expired);
    let mut rate = SessionRate::new(&ctx.config.rate_limit);
    let mut throttled_until: Option<Instant> = None;
    loop {
        // The last chunk is with the pipeline: its buffers and budget go back.
        source.chunk_done();
        let drain_limit = drain_deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let throttled = throttled_until.filter(|until| *until > Instant::now());
        tokio::select! {
            // Over the rate limit: nothing is read until the next interval.
            _ = tokio::time::sleep_until(throttled.unwrap_or(never)), if throttled.is_some() => {}
            chunk = next_chunk_within(source, drain_limit), if throttled.is_none() => {
                let Some(chunk) = chunk? else { break };
                if let Some(slot) = slot {
                    slot.touch();
                }
                if std::mem::take(&mut first_token) && asks_for_acknowledgements(chunk.bytes, gss, ctx) {
                    if draining {
                        // Already half-closed: no acknowledgement can go out.
                        continue;
                    }
                    source.send(CollectorMessage::Hello, token_timeout).await?;
                    acks = Some(Acknowledger::new());
                    continue;
                }
                crate::counters::add(&crate::counters::STATS.bytes_received, chunk.bytes.len() as u64);
                if chunk.integrity_only {
                    sink.protection_seen(ProtectionSeen::Integrity);
                }
                let before = sink.count();
                match &mut acks {
                    Some(a) => sink.push_acknowledged(chunk.bytes, a.next_token()).await,
                    None => sink.push(chunk.bytes).await,
                }
                if let Some(rate) = &mut rate {
                    throttled_until = rate.received(sink.count() - before, Instant::now());
                }
            }
            why = displaced(slot) => return Err(SessionError::Displaced(why)),
            _ = &mut expired, if expiry.is_some() => {
                let principal = expiry.map(|(_, principal)| principal).unwrap_or_default();
                return Err(SessionError::ContextExpired { principal });
            }
            progress = progress_of(&mut acks) => send_progress(source, &mut acks, progress, token_timeout).await?,
            _ = shutdown.triggered(), if !draining => {
                draining = true;
                drain_deadline = Some(Instant::now() + ctx.config.drain_timeout);
                match acks {
                    Some(_) => source.send(CollectorMessage::Closing, token_timeout).await?,
                    None => source.half_close().await,
                }
            }
        }
    }
    if let Some(a) = &mut acks {
        sink.finish_acknowledged(a.last_token()).await;
        let all_acknowledged = async {
            while !acks.as_ref().is_none_or(Acknowledger::all_acknowledged) {
                let progress = progress_of(&mut acks).await;
                send_progress(source, &mut acks, progress, token_timeout).await?;
            }
            Ok(())
        };
        return tokio::time::timeout(ctx.config.drain_timeout, all_acknowledged).await.map_err(|_| SessionError::DrainTimeout)?;
    }
    Ok(())
}

/// Whether the session's first chunk is the request for acknowledgements
/// (an empty GSS data token) and this collector answers it.
fn asks_for_acknowledgements(first: &[u8], gss: bool, ctx: &SessionContext) -> bool {
    first == gsswire::ack::REQUEST && gss && ctx.gss.as_ref().is_some_and(|g| g.acknowledge)
}

/// The next chunk; while draining, within the drain timeout.
async fn next_chunk_within(source: &mut ChunkSource, limit: Option<std::time::Duration>) -> Result<Option<Chunk<'_>>, SessionError> {
    match limit {
        None => source.next_chunk().await,
        Some(limit) => tokio::time::timeout(limit, source.next_chunk()).await.map_err(|_| SessionError::DrainTimeout)?,
    }
}

/// Resolves when the session is displaced to make room; never without a slot.
async fn displaced(slot: Option<&SessionSlot>) -> crate::slots::Displaced {
    match slot {
        Some(slot) => slot.displaced().await,
        None => std::future::pending().await,
    }
}

/// The next progress to acknowledge; never, on a session without acknowledgements.
async fn progress_of(acks: &mut Option<Acknowledger>) -> WrittenThrough {
    match acks {
        Some(a) => a.progress().await,
        None => std::future::pending().await,
    }
}

/// Sends `Written(N)` for progress, or ends the session on a failure.
async fn send_progress(
    source: &mut ChunkSource,
    acks: &mut Option<Acknowledger>,
    progress: WrittenThrough,
    timeout: Option<std::time::Duration>,
) -> Result<(), SessionError> {
    let Some(a) = acks else { return Ok(()) };
    match progress {
        WrittenThrough::Token(n) => {
            source.send(CollectorMessage::Written(n), timeout).await?;
            a.acknowledged(n);
            Ok(())
        }
        WrittenThrough::Failed => Err(SessionError::NotWritten),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use tokio::sync::mpsc;

    use super::*;
    use crate::admission::Admission;
    use crate::budget::Budgets;
    use crate::event_log::{self, EventLog};
    use crate::output::Command;
    use crate::render::Rules;

    /// Bounds every wait of these tests.
    const WAIT: Duration = Duration::from_secs(20);

    /// A plain TCP listener's context, writing every message to a file, and
    /// the output channel's receiving end.
    fn context(drain_timeout: Duration) -> (Arc<SessionContext>, daemon::signals::ShutdownTrigger, mpsc::Receiver<Command>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("collector.conf");
        let out = dir.path().join("all.log");
        std::fs::write(&path, format!("$ModLoad imtcp\n$InputTCPServerRun 10514\n$template Msg,\"%msg%\\n\"\n*.* {};Msg\n", out.display())).unwrap();
        let (mut config, text) = crate::config::load(&path);
        assert!(!text.has_errors());
        config.drain_timeout = drain_timeout;
        let rules = Arc::new(Rules::new(std::mem::take(&mut config.rules), config.file_actions));
        let (output, rx) = mpsc::channel(64);
        let (trigger, shutdown) = daemon::signals::shutdown();
        let admission = Arc::new(Admission::new(config.front_door, config.sessions, EventLog::new(event_log::WINDOW, event_log::BURST)));
        let gss = config.listeners[0].gss.clone();
        let budgets = Budgets::new(config.memory_limit);
        let ctx = SessionContext { config: Arc::new(config), gss, credential: None, rules, output, shutdown, dns: false, admission, budgets };
        (Arc::new(ctx), trigger, rx, dir)
    }

    /// A connected loopback pair: the collector's end, opened as a plain
    /// session whose front door read `first`, and the peer's end.
    async fn plain_pair(first: &[u8], ctx: &SessionContext) -> (ChunkSource, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (ours, _) = listener.accept().await.unwrap();
        let (read, write) = ours.into_split();
        let source = ChunkSource::new(Opened::Plain { read, first: first.to_vec(), write }, ctx).unwrap();
        (source, peer)
    }

    fn origin() -> Arc<Origin> {
        Arc::new(Origin {
            fromhost: "127.0.0.1".into(),
            fromhost_ip: "127.0.0.1".into(),
            inputname: "imtcp",
            provenance: Provenance::default(),
        })
    }

    /// Everything the session handed to the output thread, as text (`%msg%`
    /// keeps the space after the tag, as in rsyslog).
    fn written(rx: &mut mpsc::Receiver<Command>) -> String {
        let mut text = String::new();
        while let Ok(command) = rx.try_recv() {
            text.push_str(&lines_of(command));
        }
        text
    }

    /// The next batch the session hands to the output thread, as text.
    async fn next_written(rx: &mut mpsc::Receiver<Command>) -> String {
        lines_of(tokio::time::timeout(WAIT, rx.recv()).await.expect("a batch").expect("the session's batch"))
    }

    fn lines_of(command: Command) -> String {
        let mut text = String::new();
        if let Command::Write(batch) = command {
            for write in &batch.writes {
                text.push_str(std::str::from_utf8(&batch.bytes[write.line.clone()]).unwrap());
            }
        }
        text
    }

    #[tokio::test]
    async fn a_plain_sessions_read_is_booked_in_the_budget_until_its_chunk_is_done() {
        let (ctx, _trigger, _rx, _dir) = context(Duration::from_secs(10));
        let (mut source, mut peer) = plain_pair(b"first\n", &ctx).await;
        assert!(source.next_chunk().await.unwrap().is_some(), "the front door's bytes");
        source.chunk_done();
        assert_eq!(ctx.budgets.sessions.in_use(), 0, "an idle session books nothing");
        peer.write_all(b"<13>Nov 23 12:00:00 h app: one\n").await.unwrap();
        let chunk = tokio::time::timeout(WAIT, source.next_chunk()).await.unwrap().unwrap();
        assert!(chunk.is_some());
        assert!(ctx.budgets.sessions.in_use() >= 64 * 1024, "the read is held by the budget: {}", ctx.budgets.sessions.in_use());
        source.chunk_done();
        assert_eq!(ctx.budgets.sessions.in_use(), 0, "given back once the chunk is done");
        // A spent budget holds the read back.
        let spent = ctx.budgets.sessions.book(ctx.config.memory_limit);
        peer.write_all(b"<13>Nov 23 12:00:00 h app: two\n").await.unwrap();
        assert!(tokio::time::timeout(Duration::from_millis(200), source.next_chunk()).await.is_err(), "waits for the budget");
        drop(spent);
        assert!(tokio::time::timeout(WAIT, source.next_chunk()).await.unwrap().unwrap().is_some());
    }

    #[tokio::test]
    async fn a_plain_session_passes_on_its_first_bytes_then_the_stream_until_the_peer_closes() {
        let (ctx, _trigger, mut rx, _dir) = context(Duration::from_secs(10));
        let (mut source, mut peer) = plain_pair(b"<13>Nov 23 12:00:00 h app: one\n<13>Nov 23 12:00:00 h app: t", &ctx).await;
        let mut sink = Sink::new(ctx.clone(), origin());
        peer.write_all(b"wo\n<13>Nov 23 12:00:00 h app: three\n").await.unwrap();
        drop(peer);
        let result = tokio::time::timeout(WAIT, read_until_closed(&mut source, &ctx, &mut sink, None)).await.unwrap();
        assert!(result.is_ok(), "{result:?}");
        sink.finish().await;
        assert_eq!(sink.count(), 3);
        assert_eq!(written(&mut rx), " one\n two\n three\n");
    }

    /// At shutdown the peer is told (its read sees the end of the stream),
    /// what it sends afterwards is still passed on, and its close ends the
    /// session cleanly.
    #[tokio::test]
    async fn at_shutdown_a_plain_peer_is_half_closed_and_drained() {
        let (ctx, trigger, mut rx, _dir) = context(Duration::from_secs(10));
        let (mut source, mut peer) = plain_pair(b"<13>Nov 23 12:00:00 h app: before\n", &ctx).await;
        let session = tokio::spawn({
            let ctx = ctx.clone();
            async move {
                let mut sink = Sink::new(ctx.clone(), origin());
                let result = read_until_closed(&mut source, &ctx, &mut sink, None).await;
                sink.finish().await;
                (result, sink.count())
            }
        });
        // The session is reading (it has passed on its first chunk) when
        // shutdown starts.
        assert_eq!(next_written(&mut rx).await, " before\n");
        trigger.trigger();
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(WAIT, peer.read(&mut buf)).await.expect("the collector half-closes").unwrap();
        assert_eq!(n, 0);
        peer.write_all(b"<13>Nov 23 12:00:00 h app: in flight\n").await.unwrap();
        drop(peer);
        let (result, count) = tokio::time::timeout(WAIT, session).await.unwrap().unwrap();
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(count, 2);
        assert_eq!(written(&mut rx), " in flight\n");
    }

    /// A session that starts after shutdown has started is half-closed at
    /// once (a plain one too), and a peer that stays silent ends with the drain
    /// timeout's text.
    #[tokio::test]
    async fn a_session_opened_during_shutdown_is_half_closed_and_ends_at_the_drain_timeout() {
        let (ctx, trigger, _rx, _dir) = context(Duration::from_millis(300));
        trigger.trigger();
        let (mut source, mut peer) = plain_pair(b"<13>Nov 23 12:00:00 h app: late\n", &ctx).await;
        let mut sink = Sink::new(ctx.clone(), origin());
        let session = read_until_closed(&mut source, &ctx, &mut sink, None);
        let mut buf = [0u8; 16];
        let (result, n) = tokio::time::timeout(WAIT, async { tokio::join!(session, peer.read(&mut buf)) })
            .await
            .expect("the collector half-closes and gives up");
        assert_eq!(n.unwrap(), 0);
        let e = result.unwrap_err();
        assert!(matches!(e, SessionError::DrainTimeout), "{e:?}");
        assert_eq!(e.to_string(), "client did not finish within the drain timeout at shutdown");
        sink.finish().await;
        assert_eq!(sink.count(), 1);
    }

    /// A peer that never reads (it does not see the half-close) and goes on
    /// sending (a stock rsyslog's marks) is cut off at the drain timeout,
    /// counted from the start of the shutdown, not from its last chunk.
    #[tokio::test]
    async fn a_peer_that_keeps_sending_is_cut_off_at_the_drain_timeout() {
        let (ctx, trigger, _rx, _dir) = context(Duration::from_millis(600));
        let (mut source, mut peer) = plain_pair(b"<13>Nov 23 12:00:00 h app: first\n", &ctx).await;
        let chatter = tokio::spawn(async move {
            while peer.write_all(b"<46>Nov 23 12:00:00 h rsyslogd: -- MARK --\n").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        trigger.trigger();
        let mut sink = Sink::new(ctx.clone(), origin());
        let result = tokio::time::timeout(WAIT, read_until_closed(&mut source, &ctx, &mut sink, None)).await.expect("the drain ends");
        assert!(matches!(result, Err(SessionError::DrainTimeout)), "{result:?}");
        chatter.abort();
        sink.finish().await;
    }

    /// The collector's log says why a session ended in these words; tests and
    /// operators grep for them.
    #[test]
    fn session_ends_keep_their_log_texts() {
        assert_eq!(SessionError::NotGssListener.to_string(), "GSS session on a plain TCP listener");
        assert_eq!(
            SessionError::EncryptionRequired.to_string(),
            "integrity-only token refused ($InputGSSServerRequireEncryption on)"
        );
        assert_eq!(
            SessionError::ContextExpired { principal: "stock@GSSLOG.TEST".into() }.to_string(),
            "GSS context expired: session of stock@GSSLOG.TEST ended ($InputGSSServerExpireSessions on)"
        );
        let closed = SessionError::from(gsswire::FrameError::Truncated { buffered: 3 });
        assert_eq!(closed.to_string(), "connection closed in the middle of a token (3 bytes of it received)");
    }
}
