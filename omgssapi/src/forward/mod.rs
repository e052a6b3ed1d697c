//! One `:omgssapi:` action: a GSS session to the collector, fed from the
//! action's queue, in order, many messages to a token; and its backups
//! (`$ActionExecOnlyWhenPreviousIsSuspended on`), which take the queue over
//! while the action's collector is unreachable and hand it back when it
//! returns.
//!
//! Read in this order:
//! - this file: the reconnect loop. Each turn connects to the first collector
//!   that answers (the action's own first, then each backup, each tried on
//!   its own [`Backoff`]), sends until the session ends, and waits. While a
//!   backup sends, the collectors before it are tried on their schedules;
//!   the first that answers gets the queue back once everything sent to the
//!   backup is delivered, so nothing is lost or sent twice across the switch.
//!   Each collector's outage is logged once when it starts and once when it
//!   is over.
//! - [`connection`]: how a session is set up (resolve the name again,
//!   connect, handshake, all inside the backoff, so a failing collector sees
//!   one attempt per backoff step, not a burst), and how it is watched for
//!   close: the collector never sends after the handshake, so anything read
//!   on the session (end of stream above all: a collector shutting down
//!   half-closes, and rsyslog 8.2504+ closes idle sessions) means: stop
//!   sending, reconnect.
//! - [`session`]: sending on one session: records from the queue, packed
//!   into tokens, until the session ends ([`SessionEnd`]).
//! - [`delivery`]: a record is acknowledged (and may leave the disk queue)
//!   once the collector's TCP stack has acknowledged the bytes of the token
//!   holding it (bytes written minus the socket's unacknowledged send queue).
//!   A send queue that makes no progress for a while (a cut network, a frozen
//!   peer) ends the session; after a reconnect the unacknowledged records go
//!   again.

mod connection;
mod delivery;
mod session;

use std::time::{Duration, Instant};

use daemon::signals::{self, Shutdown, ShutdownTrigger};
use queue::Consumer;

use crate::backoff::Backoff;
use crate::config::ForwardConfig;
use connection::Connection;
use session::{SessionEnd, Sent};

/// A session that stayed up this long resets the backoff.
const STABLE_SESSION: Duration = Duration::from_secs(10);

/// Runs one action until `stop`, then logs what it sent.
pub async fn run(config: ForwardConfig, mut queue: Consumer, stop: Shutdown) {
    let mut collectors: Vec<Collector> = std::iter::once(&config).chain(&config.backups).map(Collector::new).collect();
    let mut sent = Sent::default();
    forward(&mut collectors, &mut queue, stop, &mut sent).await;
    tracing::info!(collector = %collectors[0].name, messages = sent.messages, tokens = sent.tokens, "forwarder stopped");
}

/// A run of failed connection attempts, logged when it starts and when it ends.
struct Outage {
    since: Instant,
    attempts: u32,
}

/// One collector an action may send to (its own, or a backup), and when to
/// try it next.
struct Collector<'a> {
    config: &'a ForwardConfig,
    name: String,
    backoff: Backoff,
    next_try: Instant,
    outage: Option<Outage>,
}

impl<'a> Collector<'a> {
    fn new(config: &'a ForwardConfig) -> Self {
        Collector {
            config,
            name: format!("{}:{}", config.target.host, config.target.port),
            backoff: Backoff::new(config.retry),
            next_try: Instant::now(),
            outage: None,
        }
    }

    /// One connection attempt if one is due. A failure is logged (a warning
    /// when an outage starts) and schedules the next try.
    async fn try_connect(&mut self) -> Option<Connection> {
        if Instant::now() < self.next_try {
            return None;
        }
        match connection::connect(self.config).await {
            Ok(c) => {
                let message_tokens = c.session.message_tokens().name();
                match self.outage.take() {
                    Some(o) => tracing::info!(
                        collector = %self.name,
                        down_for = ?o.since.elapsed(),
                        attempts = o.attempts,
                        message_tokens,
                        "reconnected to collector"
                    ),
                    None => tracing::info!(collector = %self.name, message_tokens, "connected to collector"),
                }
                Some(c)
            }
            Err(e) => {
                match &mut self.outage {
                    None => {
                        tracing::warn!(collector = %self.name, error = %e, "collector unreachable; queueing and retrying with backoff");
                        self.outage = Some(Outage { since: Instant::now(), attempts: 1 });
                    }
                    Some(o) => {
                        o.attempts += 1;
                        tracing::debug!(collector = %self.name, error = %e, attempt = o.attempts, "reconnect failed");
                    }
                }
                self.next_try = Instant::now() + self.backoff.next_delay();
                None
            }
        }
    }

    /// A session with this collector broke after `lasted`: wait before the
    /// next try (a random wait, so that nodes that lost the collector at the
    /// same moment do not come back together).
    fn session_broke(&mut self, lasted: Duration) {
        if lasted > STABLE_SESSION {
            self.backoff.reset();
        }
        self.next_try = Instant::now() + self.backoff.next_delay();
    }
}

/// The first collector, in order, that is due for a try and answers.
async fn connect_first(collectors: &mut [Collector<'_>]) -> Option<(usize, Connection)> {
    for (i, c) in collectors.iter_mut().enumerate() {
        if let Some(connection) = c.try_connect().await {
            return Some((i, connection));
        }
    }
    None
}

/// When the next of `collectors` is due.
fn next_due(collectors: &[Collector<'_>]) -> Option<Instant> {
    collectors.iter().map(|c| c.next_try).min()
}

/// Tries `collectors` (the ones before a backup that is sending) on their
/// schedules until one answers; then triggers the hand-back. Never ends when
/// there are none.
async fn probe(collectors: &mut [Collector<'_>], hand_back: ShutdownTrigger) -> (usize, Connection) {
    loop {
        let Some(due) = next_due(collectors) else { return std::future::pending().await };
        tokio::time::sleep_until(due.into()).await;
        if let Some(found) = connect_first(collectors).await {
            hand_back.trigger();
            return found;
        }
    }
}

/// The reconnect loop: connect, send until the session ends, wait, again.
async fn forward(collectors: &mut [Collector<'_>], queue: &mut Consumer, mut stop: Shutdown, sent: &mut Sent) {
    let mut ready: Option<(usize, Connection)> = None;
    loop {
        if stop.is_triggered() {
            return;
        }
        let (active, connection) = match ready.take() {
            Some(r) => r,
            None => {
                let found = tokio::select! {
                    f = connect_first(collectors) => f,
                    _ = stop.triggered() => return,
                };
                match found {
                    Some(r) => r,
                    None => {
                        let due = next_due(collectors).unwrap_or_else(Instant::now);
                        if stop.sleep(due.saturating_duration_since(Instant::now())).await {
                            return;
                        }
                        continue;
                    }
                }
            }
        };
        let (before, rest) = collectors.split_at_mut(active);
        let current = &mut rest[0];
        if let Some(own) = before.first() {
            tracing::warn!(collector = %current.name, backs_up = %own.name, "a backup collector takes over while the action's own is unreachable");
        }
        queue.rewind();
        let connected = Instant::now();
        let (trigger, hand_back) = signals::shutdown();
        let session = session::send_until_ended(current.config, queue, connection, &mut stop, sent, hand_back);
        let probe = probe(before, trigger);
        tokio::pin!(session, probe);
        let mut better = None;
        let end = loop {
            tokio::select! {
                end = &mut session => break end,
                found = &mut probe, if better.is_none() => better = Some(found),
            }
        };
        match end {
            SessionEnd::Stopped => return,
            SessionEnd::HandedBack => {
                tracing::info!(collector = %current.name, "everything sent to the backup is delivered; handing the queue back");
            }
            SessionEnd::Broken(why) => {
                tracing::info!(collector = %current.name, reason = %why, "session ended; reconnecting");
                current.session_broke(connected.elapsed());
            }
        }
        ready = better;
    }
}
