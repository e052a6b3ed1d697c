//! One `:omgssapi:` action: a GSS session to the collector, fed from the
//! action's queue, in order, many messages to a token.
//!
//! Read in this order:
//! - this file: the reconnect loop. Each turn connects, sends until the
//!   session ends, and waits its backoff; an outage is logged once when it
//!   starts and once when it is over.
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

use daemon::signals::Shutdown;
use queue::Consumer;

use crate::backoff::Backoff;
use crate::config::ForwardConfig;
use session::{SessionEnd, Sent};

/// A session that stayed up this long resets the backoff.
const STABLE_SESSION: Duration = Duration::from_secs(10);

/// Runs one action until `stop`, then logs what it sent.
pub async fn run(config: ForwardConfig, mut queue: Consumer, stop: Shutdown) {
    let target = format!("{}:{}", config.target.host, config.target.port);
    let mut sent = Sent::default();
    forward(&config, &mut queue, stop, &target, &mut sent).await;
    tracing::info!(collector = %target, messages = sent.messages, tokens = sent.tokens, unacknowledged = sent.unacknowledged, "forwarder stopped");
}

/// A run of failed connection attempts, logged when it starts and when it ends.
struct Outage {
    since: Instant,
    attempts: u32,
}

/// The reconnect loop: connect, send until the session ends, back off, again.
async fn forward(config: &ForwardConfig, queue: &mut Consumer, mut stop: Shutdown, target: &str, sent: &mut Sent) {
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
                match &mut outage {
                    None => {
                        tracing::warn!(collector = %target, error = %e, "collector unreachable; queueing and retrying with backoff");
                        outage = Some(Outage { since: Instant::now(), attempts: 1 });
                    }
                    Some(o) => {
                        o.attempts += 1;
                        tracing::debug!(collector = %target, error = %e, attempt = o.attempts, "reconnect failed");
                    }
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
                attempts = o.attempts,
                message_tokens,
                "reconnected to collector"
            ),
            None => tracing::info!(collector = %target, message_tokens, "connected to collector"),
        }
        queue.rewind();
        let connected = Instant::now();
        match session::send_until_ended(config, queue, connection, &mut stop, sent).await {
            SessionEnd::Stopped => return,
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
