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
//!   backup is acknowledged (by the accounting in force: the collector's
//!   `Written(N)` on an acknowledged session, its TCP stack otherwise), so
//!   nothing is lost or sent twice across the switch. Each collector's
//!   outage is logged when it starts, again at most once a minute while it
//!   lasts (with the attempts since and the latest error: a broken keytab or
//!   an unreachable KDC keeps being reported), and once when it is over.
//! - [`connection`]: how a session is set up (resolve the name again,
//!   connect, handshake, all inside the backoff, so a failing collector sees
//!   one attempt per backoff step, not a burst), and how it is watched for
//!   close: the collector never sends after the handshake, so anything read
//!   on the session (end of stream above all: a collector shutting down
//!   half-closes, and rsyslog 8.2504+ closes idle sessions) means: stop
//!   sending, reconnect.
//! - [`session`]: sending on one session: records from the queue, packed
//!   into tokens, until the session ends ([`SessionEnd`]); its send loop's
//!   rules, which waits stand in each state and what each event leads to,
//!   are [`sending`]'s, a state machine without I/O.
//!   Before the context expires the session re-keys: it ends once all it
//!   sent is acknowledged ([`SessionEnd::Rekey`]), and this loop reconnects
//!   at once. A hand-back ends the same way ([`SessionEnd::HandedBack`]).
//! - [`delivery`]: a record is delivered once the collector's TCP stack has
//!   acknowledged the bytes of the token holding it (bytes written minus the
//!   socket's unacknowledged send queue), or, on an acknowledged session, once
//!   the collector says it wrote that token. It returns "delivered through
//!   record N", which the session acknowledges in the queue (the record may
//!   then leave the disk). A send queue that makes no progress for a while (a
//!   cut network, a frozen peer) ends the session; after a reconnect the
//!   unacknowledged records go again.

mod connection;
mod delivery;
mod sending;
mod session;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use daemon::rate_limited::{RateLimitedCount, Report};
use daemon::signals::{self, Shutdown, ShutdownTrigger};
use queue::Consumer;

use crate::backoff::Backoff;
use crate::config::ForwardConfig;
use crate::stats::{ActionStats, SessionDown};
use connection::Connection;
use sending::SessionEnd;
use session::Sent;

/// A session that stayed up this long resets the backoff.
const STABLE_SESSION: Duration = Duration::from_secs(10);
/// While an outage lasts, it is reported again at most this often.
const OUTAGE_REPORT_EVERY: Duration = Duration::from_secs(60);

/// Runs one action until `stop`, then logs what it sent.
pub async fn run(config: ForwardConfig, mut queue: Consumer, stop: Shutdown, stats: Arc<ActionStats>) {
    let mut collectors: Vec<Collector> = std::iter::once(&config).chain(&config.backups).map(Collector::new).collect();
    let mut sent = Sent::default();
    forward(&mut collectors, &mut queue, stop, &mut sent, &stats).await;
    tracing::info!(
        collector = %collectors[0].name,
        messages = sent.messages,
        tokens = sent.tokens,
        unacknowledged = sent.unacknowledged,
        "forwarder stopped"
    );
}

/// A run of failed connection attempts, logged when it starts, at most once
/// per [`OUTAGE_REPORT_EVERY`] while it lasts, and when it ends.
struct Outage {
    since: Instant,
    failures: RateLimitedCount,
}

impl Outage {
    fn new(now: Instant) -> Outage {
        Outage { since: now, failures: RateLimitedCount::new(OUTAGE_REPORT_EVERY) }
    }

    /// Counts a failed attempt; a report when one is due (the first failure, then at most one per interval).
    fn failed(&self, now: Instant) -> Option<Report> {
        self.failures.add(1, now)
    }
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
    /// when an outage starts and at most once a minute while it lasts) and
    /// schedules the next try.
    async fn try_connect(&mut self, stats: &ActionStats) -> Option<Connection> {
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
                        attempts = o.failures.total(),
                        message_tokens,
                        "reconnected to collector"
                    ),
                    None => tracing::info!(collector = %self.name, message_tokens, "connected to collector"),
                }
                Some(c)
            }
            Err(e) => {
                stats.connect_failures.fetch_add(1, Ordering::Relaxed);
                let now = Instant::now();
                let o = self.outage.get_or_insert_with(|| Outage::new(now));
                match o.failed(now) {
                    Some(r) if r.total == 1 => tracing::warn!(
                        collector = %self.name,
                        error = %e,
                        "collector unreachable; queueing and retrying with backoff"
                    ),
                    Some(r) => tracing::warn!(
                        collector = %self.name,
                        error = %e,
                        down_for = ?o.since.elapsed(),
                        failed_attempts = r.total,
                        since_last_report = r.since_last,
                        "collector still unreachable; still queueing and retrying (reported at most once a minute)"
                    ),
                    None => tracing::debug!(collector = %self.name, error = %e, attempt = o.failures.total(), "reconnect failed"),
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

    /// A session with this collector ended to re-key: everything sent is
    /// acknowledged, the next session may start at once.
    fn rekeyed(&mut self) {
        self.backoff.reset();
        self.next_try = Instant::now();
    }
}

/// The first collector, in order, that is due for a try and answers.
async fn connect_first(collectors: &mut [Collector<'_>], stats: &ActionStats) -> Option<(usize, Connection)> {
    for (i, c) in collectors.iter_mut().enumerate() {
        if let Some(connection) = c.try_connect(stats).await {
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
async fn probe(collectors: &mut [Collector<'_>], hand_back: ShutdownTrigger, stats: &ActionStats) -> (usize, Connection) {
    loop {
        let Some(due) = next_due(collectors) else { return std::future::pending().await };
        tokio::time::sleep_until(due.into()).await;
        if let Some(found) = connect_first(collectors, stats).await {
            hand_back.trigger();
            return found;
        }
    }
}

/// The reconnect loop: connect, send until the session ends, wait, again.
async fn forward(collectors: &mut [Collector<'_>], queue: &mut Consumer, mut stop: Shutdown, sent: &mut Sent, stats: &ActionStats) {
    let mut ready: Option<(usize, Connection)> = None;
    loop {
        if stop.is_triggered() {
            return;
        }
        let (active, connection) = match ready.take() {
            Some(r) => r,
            None => {
                let found = tokio::select! {
                    f = connect_first(collectors, stats) => f,
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
        stats.session_up();
        let (trigger, hand_back) = signals::shutdown();
        let session = session::send_until_ended(current.config, queue, connection, &mut stop, sent, stats, hand_back);
        let probe = probe(before, trigger, stats);
        tokio::pin!(session, probe);
        let mut better = None;
        let end = loop {
            tokio::select! {
                end = &mut session => break end,
                found = &mut probe, if better.is_none() => better = Some(found),
            }
        };
        stats.session_down(match end {
            SessionEnd::Broken(_) => SessionDown::Broken,
            SessionEnd::CollectorClosed => SessionDown::ClosedByCollector,
            SessionEnd::Stopped | SessionEnd::Rekey { .. } | SessionEnd::HandedBack => SessionDown::Ended,
        });
        match end {
            SessionEnd::Stopped => return,
            SessionEnd::HandedBack => {
                tracing::info!(collector = %current.name, "everything sent to the backup is acknowledged; handing the queue back");
            }
            SessionEnd::Rekey { lifetime } => {
                // Everything sent is acknowledged: the next session starts
                // where this one ended, with new tickets, without waiting.
                tracing::info!(collector = %current.name, after = ?lifetime, "re-keying: the GSS context is near the end of its lifetime");
                current.rekeyed();
            }
            SessionEnd::Broken(why) => {
                tracing::info!(collector = %current.name, reason = %why, "session ended; reconnecting");
                current.session_broke(connected.elapsed());
            }
            SessionEnd::CollectorClosed => {
                // The same line as a broken session's, as before `sessions.closed` counted these apart.
                tracing::info!(collector = %current.name, reason = "the collector is shutting down (all sent was acknowledged)", "session ended; reconnecting");
                current.session_broke(connected.elapsed());
            }
        }
        ready = better;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_reported_first_then_at_most_once_a_minute_with_the_attempts_since() {
        let t0 = Instant::now();
        let outage = Outage::new(t0);
        let reports: Vec<(u64, Option<Report>)> =
            (0..300u64).map(|i| (i, outage.failed(t0 + Duration::from_millis(i * 500)))).filter(|(_, r)| r.is_some()).collect();
        // 300 attempts over 150 s: the first, then one at 60 s and one at 120 s.
        let at: Vec<u64> = reports.iter().map(|(i, _)| *i).collect();
        assert_eq!(at, [0, 120, 240]);
        assert_eq!(reports[1].1, Some(Report { since_last: 120, total: 121 }));
        assert_eq!(outage.failures.total(), 300);
    }
}
