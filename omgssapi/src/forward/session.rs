//! Sending on one established session: records from the queue, packed into
//! tokens, written in order, until the session ends.
//!
//! Records are acknowledged in the queue as [`Delivery`] sees the collector
//! take them: its TCP stack, or, in the acknowledged mode
//! ([`gsswire::ack`], `$ActionGSSForwardAcknowledged auto|on`), the
//! collector itself. Asking is the first data token (empty); with `on`
//! nothing is sent until the collector's Hello, with `auto` records go at
//! once but are released only once the answer (or its absence after the
//! handshake timeout: then TCP-level accounting) is known.
//!
//! Before the context's lifetime ends (the ticket's end time) the session
//! re-keys: it stops taking records, waits until everything written is
//! acknowledged (by the collector's `Written(N)` on an acknowledged session,
//! by its TCP stack otherwise), and ends as [`SessionEnd::Rekey`], so that
//! the next session (fresh tickets, a fresh check of the principal by the
//! KDC) starts exactly where this one stopped: nothing lost, nothing sent
//! twice. On an acknowledged session that wait is the graceful end below.
//!
//! The session ends when the shipper stops, when the watcher sees the
//! collector close it, or when sending breaks: a write or the delivery
//! stalls, a wrap or a write fails, the collector breaks the protocol
//! ([`SessionEnd`]). In the acknowledged mode a graceful end on either side
//! (the shipper stopping, re-keying or handing back, the collector's
//! Closing) is a half-close after the last data token and a wait for the
//! acknowledgements of everything sent, until the collector closes: nothing
//! is left to send twice.
//!
//! On a backup collector the session also ends when the action's own
//! collector is back (`hand_back`): as for a re-key, it takes no more
//! records, waits until everything it sent is acknowledged by the
//! accounting in force, and ends ([`SessionEnd::HandedBack`]), so that
//! nothing goes twice across the switch.
//!
//! With TCP-level accounting, a collector that closes the session (a
//! half-close on its shutdown) still reads what is on its way to it: its TCP
//! stack is given [`IN_FLIGHT_SETTLE`] to take that before the records count
//! as undelivered. On an acknowledged session the collector's Closing and
//! the drain govern instead.

use std::time::{Duration, Instant};

use daemon::signals::Shutdown;
use gsswire::ack::{AckError, CollectorMessage};
use gsswire::{FrameError, FrameWriter, GssError, Session, UnwrapError};
use queue::{Consumer, Record};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;

use super::connection::{CloseWatch, Closed, Connection, Heard};
use super::delivery::{Accounting, Delivery, Stalled};
use crate::config::{Acknowledged, ForwardConfig};
use crate::stats::ActionStats;

/// After this much quiet, give the close watcher a chance before writing.
const IDLE: Duration = Duration::from_secs(1);
/// A write that cannot complete for this long, or unacknowledged bytes that
/// make no progress for this long, end the session.
const STALLED: Duration = Duration::from_secs(20);
/// How often delivery is checked while records are in flight.
const ACK_POLL: Duration = Duration::from_millis(50);
/// How long a stopping shipper waits for the acknowledgements of what it sent.
const DRAIN_ON_STOP: Duration = Duration::from_secs(10);
/// With TCP-level accounting, after the collector closed or when the shipper
/// stops, how long what is in flight may take to be acknowledged by its TCP
/// before it is sent again on the next session.
const IN_FLIGHT_SETTLE: Duration = Duration::from_secs(2);

/// What one action has sent, logged when it stops.
#[derive(Debug, Default)]
pub struct Sent {
    pub messages: u64,
    pub tokens: u64,
    /// Records that were sent but not acknowledged when their session
    /// ended: they were (or will be) sent again, so the collector may hold
    /// up to this many duplicates.
    pub unacknowledged: u64,
}

/// How a session ended.
#[derive(Debug)]
pub enum SessionEnd {
    /// The shipper is stopping: no reconnect.
    Stopped,
    /// The session cannot go on: reconnect, and send the unacknowledged
    /// records again.
    Broken(Cause),
    /// The context is near the end of its lifetime and everything written
    /// on it is acknowledged: reconnect at once.
    Rekey { lifetime: Duration },
    /// `hand_back` was triggered and everything written on this session is
    /// acknowledged: the action's own collector takes the queue back.
    HandedBack,
}

/// Why a session stopped taking records and ends once all it sent is
/// acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Winding {
    /// The context is near the end of its lifetime.
    Rekey,
    /// The action's own collector is back (on a backup collector).
    HandBack,
}

impl Winding {
    fn end(self, lifetime: Duration) -> SessionEnd {
        match self {
            Winding::Rekey => SessionEnd::Rekey { lifetime },
            Winding::HandBack => SessionEnd::HandedBack,
        }
    }

    fn doing(self) -> &'static str {
        match self {
            Winding::Rekey => "re-keying",
            Winding::HandBack => "handing back to the action's own collector",
        }
    }
}

/// Re-keying starts this long before the context expires: a quarter of its
/// lifetime, at most five minutes.
const MAX_REKEY_MARGIN: Duration = Duration::from_secs(300);
/// A session lasts at least this long before it re-keys, so that a ticket
/// about to end that cannot be renewed costs one handshake a second at most.
const MIN_SESSION: Duration = Duration::from_secs(1);

/// When a session whose context expires at `expires` (from `now`) starts
/// re-keying; `None` for a context that does not expire.
pub fn rekey_at(now: Instant, expires: Option<Instant>) -> Option<Instant> {
    let lifetime = expires?.saturating_duration_since(now);
    let margin = (lifetime / 4).min(MAX_REKEY_MARGIN);
    Some(now + lifetime.saturating_sub(margin).max(MIN_SESSION))
}

/// Why a session broke.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    /// Seen by the close watcher on the read half.
    #[error(transparent)]
    Closed(#[from] Closed),
    #[error("a write made no progress for {0:?}: network or collector stuck")]
    WriteStalled(Duration),
    #[error(transparent)]
    DeliveryStalled(#[from] Stalled),
    #[error("wrap failed: {0}")]
    Wrap(GssError),
    #[error("write failed: {0}")]
    Write(FrameError),
    #[error("the collector does not acknowledge (no answer to the request within {0:?}); $ActionGSSForwardAcknowledged on: not sending to it")]
    NotAcknowledging(Duration),
    #[error("acknowledgement token refused: {0}")]
    AckUnwrap(UnwrapError),
    #[error(transparent)]
    Ack(#[from] AckError),
    #[error("the collector is shutting down (all sent was acknowledged)")]
    CollectorClosing,
    #[error("the collector did not acknowledge everything and close within {0:?} of our half-close")]
    DrainTimedOut(Duration),
    #[error("{doing}: the collector closed before acknowledging {records} records sent")]
    EndUnacknowledged { doing: &'static str, records: u64 },
}

/// Sends the queue's records on `connection` until the session ends; counts
/// what was sent into `sent`, and logs what was sent and not acknowledged.
/// Once `hand_back` is triggered, sends nothing more and ends when all it
/// sent is acknowledged.
pub async fn send_until_ended(
    config: &ForwardConfig,
    queue: &mut Consumer,
    connection: Connection,
    stop: &mut Shutdown,
    sent: &mut Sent,
    stats: &ActionStats,
    hand_back: Shutdown,
) -> SessionEnd {
    let mut delivery = Delivery::new(STALLED, config.acknowledged != Acknowledged::Off);
    let end = send(config, queue, connection, stop, hand_back, sent, stats, &mut delivery).await;
    let unacknowledged = delivery.unacknowledged_records();
    if unacknowledged > 0 {
        sent.unacknowledged += unacknowledged;
        tracing::warn!(
            unacknowledged,
            unacknowledged_total = sent.unacknowledged,
            accounting = match delivery.accounting() {
                Some(Accounting::TcpStack) => "the collector's TCP stack",
                Some(Accounting::Collector) => "the collector's acknowledgements",
                None => "undecided",
            },
            "records sent on this session were not acknowledged: they stay queued and go again, \
             so the collector may get twice those it wrote before the session ended"
        );
    }
    end
}

#[allow(clippy::too_many_arguments)]
async fn send(
    config: &ForwardConfig,
    queue: &mut Consumer,
    connection: Connection,
    stop: &mut Shutdown,
    mut hand_back: Shutdown,
    sent: &mut Sent,
    stats: &ActionStats,
    delivery: &mut Delivery,
) -> SessionEnd {
    let Connection { mut writer, mut session, mut closed } = connection;
    let established = Instant::now();
    let rekey_deadline = rekey_at(established, session.expires_at());
    let lifetime = rekey_deadline.map_or(Duration::ZERO, |d| d - established);
    // A far deadline stands in for "never" so that the select stays simple.
    let rekey = tokio::time::sleep_until(
        rekey_deadline.unwrap_or(established + Duration::from_secs(100 * 365 * 86400)).into(),
    );
    tokio::pin!(rekey);
    let mut winding: Option<Winding> = None;
    let asked = config.acknowledged != Acknowledged::Off;
    let required = config.acknowledged == Acknowledged::On;
    if asked {
        match send_token(&mut session, &mut writer, gsswire::ack::REQUEST).await {
            Ok(bytes) => delivery.wrote_control(bytes),
            Err(cause) => return SessionEnd::Broken(cause),
        }
    }
    let hello_deadline = tokio::time::Instant::now() + config.handshake_timeout;
    let max_records = if config.one_message_per_token { 256 } else { 4096 };
    let mut last_write = Instant::now();
    let mut plain = Vec::with_capacity(config.batch_bytes + 8192);
    let mut tick = tokio::time::interval(ACK_POLL);
    let mut peer = Peer { session: &mut session, closed: &mut closed, asked };
    loop {
        if let Some(winding) = winding {
            match delivery.accounting() {
                // The collector's word is what counts: end gracefully, as
                // on stop, and re-key or hand back once it acknowledged
                // everything.
                Some(Accounting::Collector) => {
                    tracing::info!(
                        unacknowledged = delivery.unacknowledged_records(),
                        "{}: half-closing after the last data token and waiting for the collector's last acknowledgements",
                        winding.doing()
                    );
                    if let Err(cause) = drain(&mut writer, &mut peer, delivery, queue, STALLED).await {
                        return SessionEnd::Broken(cause);
                    }
                    if delivery.pending() {
                        let records = delivery.unacknowledged_records();
                        return SessionEnd::Broken(Cause::EndUnacknowledged { doing: winding.doing(), records });
                    }
                    return winding.end(lifetime);
                }
                Some(Accounting::TcpStack) if !delivery.pending() => return winding.end(lifetime),
                // TCP-level: the tick settles until nothing is pending.
                // Undecided: the Hello or its timeout decides first.
                Some(Accounting::TcpStack) | None => {}
            }
        }
        let undecided = delivery.accounting().is_none();
        let may_send = delivery.has_room() && !(required && undecided) && winding.is_none();
        // Only cancellation-safe waits stand in the select: popping records
        // happens after it, so no record is taken and then dropped.
        tokio::select! {
            _ = queue.wait_for_data(), if may_send => {}
            _ = &mut rekey, if winding.is_none() && rekey_deadline.is_some() => {
                winding = Some(Winding::Rekey);
                continue;
            }
            _ = hand_back.triggered(), if winding.is_none() => {
                winding = Some(Winding::HandBack);
                continue;
            }
            heard = peer.closed.wait() => {
                let heard = settle_if_closed(heard, delivery, &writer, queue).await;
                match peer.on_heard(heard, delivery, queue) {
                    Ok(Next::Go) => continue,
                    Ok(Next::Closing) => {
                        return match drain(&mut writer, &mut peer, delivery, queue, STALLED).await {
                            Ok(()) => SessionEnd::Broken(Cause::CollectorClosing),
                            Err(cause) => SessionEnd::Broken(cause),
                        };
                    }
                    Err(cause) => return SessionEnd::Broken(cause),
                }
            }
            _ = stop.triggered() => {
                match delivery.accounting() {
                    Some(Accounting::Collector) if delivery.pending() => {
                        if let Err(cause) = drain(&mut writer, &mut peer, delivery, queue, DRAIN_ON_STOP).await {
                            tracing::warn!(reason = %cause, "stopping: not every record sent was acknowledged");
                        }
                    }
                    // What is in flight is the collector's once its TCP has
                    // it: waiting for that (briefly) keeps a restart from
                    // sending it twice.
                    Some(Accounting::TcpStack) => settle_in_flight(delivery, &writer, queue).await,
                    _ => {}
                }
                return SessionEnd::Stopped;
            }
            _ = tokio::time::sleep_until(hello_deadline), if asked && undecided => {
                if required {
                    return SessionEnd::Broken(Cause::NotAcknowledging(config.handshake_timeout));
                }
                tracing::warn!(
                    collector = %config.target.host,
                    waited = ?config.handshake_timeout,
                    "the collector does not acknowledge (a stock rsyslog?): records are released once its TCP stack has them, \
                     so a collector crash can lose what it had received and not written"
                );
                delivery.fall_back_to_tcp_stack();
                continue;
            }
            // An idle acknowledged session tells the collector it is alive
            // with an empty data token, which writes nothing there.
            _ = tokio::time::sleep_until(last_write.checked_add(config.heartbeat.unwrap_or_default()).unwrap_or(last_write).into()),
                if config.heartbeat.is_some() && winding.is_none() && delivery.accounting() == Some(Accounting::Collector) => {
                match send_token(peer.session, &mut writer, gsswire::ack::HEARTBEAT).await {
                    Ok(bytes) => delivery.wrote_heartbeat(bytes),
                    Err(cause) => return SessionEnd::Broken(cause),
                }
                last_write = Instant::now();
                continue;
            }
            _ = tick.tick(), if delivery.pending() || winding.is_some() => {
                if let Err(stalled) = delivery.settle(writer.get_ref().as_ref(), queue) {
                    return SessionEnd::Broken(stalled.into());
                }
                continue;
            }
        }
        let batch = match queue.next_batch(max_records, config.batch_bytes * 4).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "reading the queue failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if last_write.elapsed() > IDLE {
            // After a quiet spell the peer may have closed: let the watcher
            // see it before a message goes into a dead connection.
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
            while let Some(heard) = peer.closed.seen() {
                match peer.on_heard(heard, delivery, queue) {
                    Ok(Next::Go) => {}
                    Ok(Next::Closing) => {
                        // Nothing of this batch went out: it stays queued.
                        return match drain(&mut writer, &mut peer, delivery, queue, STALLED).await {
                            Ok(()) => SessionEnd::Broken(Cause::CollectorClosing),
                            Err(cause) => SessionEnd::Broken(cause),
                        };
                    }
                    Err(cause) => return SessionEnd::Broken(cause),
                }
            }
        }
        // A write that cannot complete (send buffer full, peer gone silent)
        // is the same stall as unacknowledged bytes that do not move.
        let written = match tokio::time::timeout(STALLED, write_batch(config, peer.session, &mut writer, &batch, &mut plain)).await {
            Ok(r) => r,
            Err(_) => return SessionEnd::Broken(Cause::WriteStalled(STALLED)),
        };
        match written {
            Ok((tokens, bytes)) => {
                sent.messages += batch.len() as u64;
                sent.tokens += tokens;
                stats.sent_batch(batch.len() as u64, tokens, bytes);
                if let Some(last) = batch.last() {
                    delivery.written(last.seq, batch.len() as u64, tokens, bytes);
                }
            }
            Err(cause) => return SessionEnd::Broken(cause),
        }
        last_write = Instant::now();
        if let Err(stalled) = delivery.settle(writer.get_ref().as_ref(), queue) {
            return SessionEnd::Broken(stalled.into());
        }
    }
}

/// With TCP-level accounting, when `heard` is the collector closing the
/// session: a collector that half-closes still reads what is on its way to
/// it, so its TCP stack is given [`IN_FLIGHT_SETTLE`] to take that before
/// the records count as undelivered (or the next session sends them again).
/// On an acknowledged session nothing is done here: the collector's own
/// acknowledgements (and its Closing, then the drain) govern.
async fn settle_if_closed(heard: Heard, delivery: &mut Delivery, writer: &FrameWriter<OwnedWriteHalf>, queue: &mut Consumer) -> Heard {
    if matches!(heard, Heard::Closed(_)) && delivery.accounting() == Some(Accounting::TcpStack) {
        settle_in_flight(delivery, writer, queue).await;
    }
    heard
}

/// With TCP-level accounting: gives the collector's TCP stack
/// [`IN_FLIGHT_SETTLE`] to acknowledge what is in flight, acknowledging it in
/// the queue as it does (what is left goes again on the next session).
async fn settle_in_flight(delivery: &mut Delivery, writer: &FrameWriter<OwnedWriteHalf>, queue: &mut Consumer) {
    let deadline = Instant::now() + IN_FLIGHT_SETTLE;
    while delivery.pending() && Instant::now() < deadline {
        if delivery.settle(writer.get_ref().as_ref(), queue).is_err() || !delivery.pending() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The collector's side of a session, as the shipper hears it.
struct Peer<'a> {
    session: &'a mut Session,
    closed: &'a mut CloseWatch,
    /// Whether this session asked for acknowledgements.
    asked: bool,
}

/// What to do after a collector message.
enum Next {
    Go,
    /// The collector is shutting down: stop sending, half-close, drain.
    Closing,
}

impl Peer<'_> {
    /// Handles what the watcher read: a collector message of the
    /// acknowledged mode, or the end of the session.
    fn on_heard(&mut self, heard: Heard, delivery: &mut Delivery, queue: &mut Consumer) -> Result<Next, Cause> {
        let token = match heard {
            Heard::Token(token) => token,
            Heard::Closed(why) => return Err(why.into()),
        };
        if !self.asked {
            return Err(Closed::DataAfterHandshake.into());
        }
        let plain = self.session.unwrap(&token).map_err(Cause::AckUnwrap)?;
        match delivery.collector_said(&plain.data, queue)? {
            CollectorMessage::Hello => {
                tracing::info!("the collector acknowledges what it writes: records leave the queue on its word");
                Ok(Next::Go)
            }
            CollectorMessage::Written(_) => Ok(Next::Go),
            CollectorMessage::Closing => Ok(Next::Closing),
        }
    }
}

/// A graceful end in the acknowledged mode: half-closes (nothing more is
/// sent), then takes the collector's last acknowledgements until it closes,
/// within `limit`.
async fn drain(
    writer: &mut FrameWriter<OwnedWriteHalf>,
    peer: &mut Peer<'_>,
    delivery: &mut Delivery,
    queue: &mut Consumer,
    limit: Duration,
) -> Result<(), Cause> {
    // An error here means the connection is gone already: the watcher says how.
    let _ = writer.get_mut().shutdown().await;
    let until_closed = async {
        loop {
            match peer.closed.wait().await {
                Heard::Closed(Closed::ByCollector) => return Ok(()),
                heard => {
                    peer.on_heard(heard, delivery, queue)?;
                }
            }
        }
    };
    tokio::time::timeout(limit, until_closed).await.unwrap_or(Err(Cause::DrainTimedOut(limit)))
}

/// Packs records into tokens of at most `batch_bytes` of plaintext (one
/// record per token in strict mode; a larger record travels alone). Returns
/// how many tokens and bytes (framing included) were written.
async fn write_batch(
    config: &ForwardConfig,
    session: &mut Session,
    writer: &mut FrameWriter<OwnedWriteHalf>,
    batch: &[Record],
    plain: &mut Vec<u8>,
) -> Result<(u64, u64), Cause> {
    plain.clear();
    let (mut tokens, mut bytes) = (0, 0);
    for r in batch {
        let full = !plain.is_empty() && (config.one_message_per_token || plain.len() + r.payload.len() > config.batch_bytes);
        if full {
            bytes += send_token(session, writer, plain).await?;
            tokens += 1;
            plain.clear();
        }
        plain.extend_from_slice(&r.payload);
    }
    if !plain.is_empty() {
        bytes += send_token(session, writer, plain).await?;
        tokens += 1;
    }
    Ok((tokens, bytes))
}

/// Wraps and writes one token; returns the bytes put on the wire.
async fn send_token(session: &mut Session, writer: &mut FrameWriter<OwnedWriteHalf>, plain: &[u8]) -> Result<u64, Cause> {
    let token = session.wrap(plain).map_err(Cause::Wrap)?;
    writer.write_token(&token).await.map_err(Cause::Write)?;
    Ok(token.len() as u64 + 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rekeying_starts_a_quarter_of_the_lifetime_early_at_most_five_minutes() {
        let now = Instant::now();
        let at = |lifetime: u64| rekey_at(now, Some(now + Duration::from_secs(lifetime))).map(|t| t - now);
        assert_eq!(at(120), Some(Duration::from_secs(90)));
        assert_eq!(at(36_000), Some(Duration::from_secs(36_000 - 300)));
        assert_eq!(at(0), Some(MIN_SESSION), "an expired context re-keys after a second, not in a loop");
        assert_eq!(rekey_at(now, None), None, "an indefinite context never re-keys");
    }
}
