//! One `:omgssapi:` action: a GSS session to the collector, fed from the
//! action's queue, in order, many messages to a token.
//!
//! Read in this order:
//! - this file: the reconnect loop. Each turn connects, sends until the
//!   session ends, and waits its backoff; an outage is logged when it
//!   starts, again at most once a minute while it lasts (with the attempts
//!   since and the latest error: a broken keytab or an unreachable KDC keeps
//!   being reported), and once when it is over.
//! - [`connection`]: how a session is set up (resolve the name again,
//!   connect, handshake, all inside the backoff, so a failing collector sees
//!   one attempt per backoff step, not a burst), and how it is watched for
//!   close: the collector never sends after the handshake, so anything read
//!   on the session (end of stream above all: a collector shutting down
//!   half-closes, and rsyslog 8.2504+ closes idle sessions) means: stop
//!   sending, reconnect.
//! - [`session`]: sending on one session: records from the queue, packed
//!   into tokens, until the session ends ([`SessionEnd`]).
//!   Before the context expires the session re-keys: it ends once all it
//!   sent is acknowledged ([`SessionEnd::Rekey`]), and this loop reconnects
//!   at once.
//! - [`delivery`]: a record is acknowledged (and may leave the disk queue)
//!   once the collector's TCP stack has acknowledged the bytes of the token
//!   holding it (bytes written minus the socket's unacknowledged send queue).
//!   A send queue that makes no progress for a while (a cut network, a frozen
//!   peer) ends the session; after a reconnect the unacknowledged records go
//!   again.

mod connection;
mod delivery;
mod session;

use std::sync::Arc;
use std::time::{Duration, Instant};

use daemon::rate_limited::{RateLimitedCount, Report};

use daemon::signals::Shutdown;
use queue::Consumer;

use crate::backoff::Backoff;
use crate::config::ForwardConfig;
use crate::stats::ActionStats;
use session::{SessionEnd, Sent};

/// A session that stayed up this long resets the backoff.
const STABLE_SESSION: Duration = Duration::from_secs(10);
/// While an outage lasts, it is reported again at most this often.
const OUTAGE_REPORT_EVERY: Duration = Duration::from_secs(60);

/// Runs one action until `stop`, then logs what it sent.
pub async fn run(config: ForwardConfig, mut queue: Consumer, stop: Shutdown, stats: Arc<ActionStats>) {
    let target = format!("{}:{}", config.target.host, config.target.port);
    let mut sent = Sent::default();
    forward(&config, &mut queue, stop, &target, &mut sent, &stats).await;
    tracing::info!(collector = %target, messages = sent.messages, tokens = sent.tokens, "forwarder stopped");
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

/// The reconnect loop: connect, send until the session ends, back off, again.
async fn forward(config: &ForwardConfig, queue: &mut Consumer, mut stop: Shutdown, target: &str, sent: &mut Sent, stats: &ActionStats) {
    let mut backoff = Backoff::new(config.backoff_base, config.backoff_max);
    let mut outage: Option<Outage> = None;
    loop {
        if stop.is_triggered() {
            return;
        }
        let attempt = tokio::select! {
            a = connection::connect(config) => a,
            _ = stop.triggered() => return,
        };
        let connection = match attempt {
            Ok(c) => c,
            Err(e) => {
                stats.connect_failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let now = Instant::now();
                let o = outage.get_or_insert_with(|| Outage::new(now));
                match o.failed(now) {
                    Some(r) if r.total == 1 => {
                        tracing::warn!(collector = %target, error = %e, "collector unreachable; queueing and retrying with backoff")
                    }
                    Some(r) => tracing::warn!(
                        collector = %target,
                        error = %e,
                        down_for = ?o.since.elapsed(),
                        failed_attempts = r.total,
                        since_last_report = r.since_last,
                        "collector still unreachable; still queueing and retrying (reported at most once a minute)"
                    ),
                    None => tracing::debug!(collector = %target, error = %e, attempt = o.failures.total(), "reconnect failed"),
                }
                if stop.sleep(backoff.next_delay()).await {
                    return;
                }
                continue;
            }
        };
        let message_tokens = connection.session.message_tokens().name();
        match outage.take() {
            Some(o) => tracing::info!(
                collector = %target,
                down_for = ?o.since.elapsed(),
                attempts = o.failures.total(),
                message_tokens,
                "reconnected to collector"
            ),
            None => tracing::info!(collector = %target, message_tokens, "connected to collector"),
        }
        queue.rewind();
        let connected = Instant::now();
        stats.session_up();
        let ended = session::send_until_ended(config, queue, connection, &mut stop, sent, stats).await;
        stats.session_down(matches!(ended, SessionEnd::Broken(_)));
        match ended {
            SessionEnd::Stopped => return,
            SessionEnd::Rekey { lifetime } => {
                // Everything sent is acknowledged: the next session starts
                // where this one ended, with new tickets, without waiting.
                tracing::info!(collector = %target, after = ?lifetime, "re-keying: the GSS context is near the end of its lifetime");
                backoff.reset();
            }
            SessionEnd::Broken(why) => {
                tracing::info!(collector = %target, reason = %why, "session ended; reconnecting");
                if connected.elapsed() > STABLE_SESSION {
                    backoff.reset();
                }
                // A random first wait, so that nodes that lost the collector at
                // the same moment do not come back together.
                if stop.sleep(backoff.next_delay()).await {
                    return;
                }
            }
        }
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
