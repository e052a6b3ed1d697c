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
use gsswire::ack::CollectorMessage;
use gsswire::{FrameWriter, Session};
use queue::{Consumer, Record};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;

use super::connection::{self, CloseWatch, Closed, Connection};
use super::delivery::{Accounting, Delivery, Through};
use super::sending::{Action, AfterDrain, Cause, Event, Facts, Heard, SendLoop, SessionEnd, Settings, STALLED};
use crate::config::{Acknowledged, ForwardConfig};
use crate::stats::ActionStats;

/// After this much quiet, give the close watcher a chance before writing.
const IDLE: Duration = Duration::from_secs(1);
/// How often delivery is checked while records are in flight.
const ACK_POLL: Duration = Duration::from_millis(50);
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
    let Connection { writer, session, closed } = connection;
    let asked = config.acknowledged != Acknowledged::Off;
    let mut on = OnSession {
        config,
        queue,
        writer,
        session,
        closed,
        delivery: Delivery::new(STALLED, asked),
        sent,
        stats,
        asked,
        plain: Vec::with_capacity(config.batch_bytes + 8192),
        last_write: Instant::now(),
    };
    let end = on.run(stop, hand_back).await;
    let unacknowledged = on.delivery.unacknowledged_records();
    if unacknowledged > 0 {
        on.sent.unacknowledged += unacknowledged;
        tracing::warn!(
            unacknowledged,
            unacknowledged_total = on.sent.unacknowledged,
            accounting = match on.delivery.accounting() {
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

/// One session being sent on: the I/O side of the send loop, whose rules
/// are [`SendLoop`]'s.
struct OnSession<'a> {
    config: &'a ForwardConfig,
    queue: &'a mut Consumer,
    writer: FrameWriter<OwnedWriteHalf>,
    session: Session,
    closed: CloseWatch,
    delivery: Delivery,
    sent: &'a mut Sent,
    stats: &'a ActionStats,
    /// Whether this session asked for acknowledgements.
    asked: bool,
    /// The plaintext of the token being packed.
    plain: Vec<u8>,
    last_write: Instant,
}

/// What woke the select.
enum Woken {
    Event(Event),
    Heard(connection::Heard),
}

impl OnSession<'_> {
    async fn run(&mut self, stop: &mut Shutdown, mut hand_back: Shutdown) -> SessionEnd {
        let established = Instant::now();
        let rekey_deadline = rekey_at(established, self.session.expires_at());
        let lifetime = rekey_deadline.map_or(Duration::ZERO, |d| d - established);
        // A far deadline stands in for "never" so that the select stays simple.
        let rekey = tokio::time::sleep_until(
            rekey_deadline.unwrap_or(established + Duration::from_secs(100 * 365 * 86400)).into(),
        );
        tokio::pin!(rekey);
        let config = self.config;
        let mut rules = SendLoop::new(Settings {
            asked: self.asked,
            required: config.acknowledged == Acknowledged::On,
            heartbeat: config.heartbeat.is_some(),
            rekeys: rekey_deadline.is_some(),
            lifetime,
            handshake_timeout: config.handshake_timeout,
        });
        if self.asked {
            match self.send_token(gsswire::ack::REQUEST).await {
                Ok(bytes) => self.delivery.wrote_control(bytes),
                Err(cause) => return SessionEnd::Broken(cause),
            }
        }
        let hello_deadline = tokio::time::Instant::now() + config.handshake_timeout;
        let mut tick = tokio::time::interval(ACK_POLL);
        loop {
            let action = match rules.on_turn(self.facts()) {
                Some(action) => action,
                None => {
                    let waits = rules.waits(self.facts());
                    let heartbeat_at = self.last_write.checked_add(config.heartbeat.unwrap_or_default()).unwrap_or(self.last_write);
                    // Only cancellation-safe waits stand in the select: popping
                    // records happens after it, so no record is taken and then dropped.
                    let woken = tokio::select! {
                        _ = self.queue.wait_for_data(), if waits.queue => Woken::Event(Event::QueueHasData),
                        _ = &mut rekey, if waits.rekey => Woken::Event(Event::RekeyDue),
                        _ = hand_back.triggered(), if waits.hand_back => Woken::Event(Event::HandBack),
                        heard = self.closed.wait() => Woken::Heard(heard),
                        _ = stop.triggered() => Woken::Event(Event::Stop),
                        _ = tokio::time::sleep_until(hello_deadline), if waits.hello => Woken::Event(Event::HelloTimedOut),
                        // An idle acknowledged session tells the collector it is
                        // alive with an empty data token, which writes nothing there.
                        _ = tokio::time::sleep_until(heartbeat_at.into()), if waits.heartbeat => Woken::Event(Event::HeartbeatDue),
                        _ = tick.tick(), if waits.tick => Woken::Event(Event::Tick),
                    };
                    let event = match woken {
                        Woken::Event(event) => event,
                        Woken::Heard(heard) => Event::Heard(self.on_heard(heard)),
                    };
                    rules.step(event, self.facts())
                }
            };
            if let Some(end) = self.perform(action, &mut rules).await {
                return end;
            }
        }
    }

    /// Does `action` and what it leads to; the end of the session, if it ends.
    async fn perform(&mut self, action: Action, rules: &mut SendLoop) -> Option<SessionEnd> {
        let mut next = Some(action);
        while let Some(action) = next.take() {
            next = match action {
                Action::Wait => None,
                Action::SendBatch => self.send_batch(rules).await,
                Action::SendHeartbeat => match self.send_token(gsswire::ack::HEARTBEAT).await {
                    Ok(bytes) => {
                        self.delivery.wrote_heartbeat(bytes);
                        self.last_write = Instant::now();
                        None
                    }
                    Err(cause) => Some(Action::End(SessionEnd::Broken(cause))),
                },
                Action::Settle => self.settle().err().map(|cause| Action::End(SessionEnd::Broken(cause))),
                Action::FallBackToTcpStack => {
                    tracing::warn!(
                        collector = %self.config.target.host,
                        waited = ?self.config.handshake_timeout,
                        "the collector does not acknowledge (a stock rsyslog?): records are released once its TCP stack has them, \
                         so a collector crash can lose what it had received and not written"
                    );
                    self.delivery.fall_back_to_tcp_stack();
                    None
                }
                Action::Drain { limit, then } => {
                    if let AfterDrain::Winding(winding) = then {
                        tracing::info!(
                            unacknowledged = self.delivery.unacknowledged_records(),
                            "{}: half-closing after the last data token and waiting for the collector's last acknowledgements",
                            winding.doing()
                        );
                    }
                    let result = self.drain(limit).await;
                    if let (AfterDrain::Stopping, Err(cause)) = (then, &result) {
                        tracing::warn!(reason = %cause, "stopping: not every record sent was acknowledged");
                    }
                    return Some(rules.drained(then, result, self.facts(), self.delivery.unacknowledged_records()));
                }
                Action::SettleInFlight { then } => {
                    self.settle_in_flight().await;
                    return Some(then);
                }
                Action::End(end) => return Some(end),
            };
        }
        None
    }

    fn facts(&self) -> Facts {
        Facts { accounting: self.delivery.accounting(), pending: self.delivery.pending(), has_room: self.delivery.has_room() }
    }

    /// Takes a batch from the queue and writes it; what follows, if anything
    /// but waiting does.
    async fn send_batch(&mut self, rules: &mut SendLoop) -> Option<Action> {
        let config = self.config;
        let max_records = if config.one_message_per_token { 256 } else { 4096 };
        let batch = match self.queue.next_batch(max_records, config.batch_bytes * 4).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "reading the queue failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                return None;
            }
        };
        if self.last_write.elapsed() > IDLE {
            // After a quiet spell the peer may have closed: let the watcher
            // see it before a message goes into a dead connection.
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
            while let Some(heard) = self.closed.seen() {
                let heard = self.on_heard(heard);
                match rules.step(Event::Heard(heard), self.facts()) {
                    Action::Wait => {}
                    // Nothing of this batch went out: it stays queued.
                    ending => return Some(ending),
                }
            }
        }
        // A write that cannot complete (send buffer full, peer gone silent)
        // is the same stall as unacknowledged bytes that do not move.
        let written = tokio::time::timeout(STALLED, write_batch(config, &mut self.session, &mut self.writer, &batch, &mut self.plain)).await;
        let (tokens, bytes) = match written {
            Ok(Ok(written)) => written,
            Ok(Err(cause)) => return Some(Action::End(SessionEnd::Broken(cause))),
            Err(_) => return Some(Action::End(SessionEnd::Broken(Cause::WriteStalled(STALLED)))),
        };
        self.sent.messages += batch.len() as u64;
        self.sent.tokens += tokens;
        self.stats.sent_batch(batch.len() as u64, tokens, bytes);
        if let Some(last) = batch.last() {
            self.delivery.written(last.seq, batch.len() as u64, tokens, bytes);
        }
        self.last_write = Instant::now();
        self.settle().err().map(|cause| Action::End(SessionEnd::Broken(cause)))
    }

    /// Asks the delivery what is acknowledged now, and acknowledges it in the queue.
    fn settle(&mut self) -> Result<(), Cause> {
        let through = self.delivery.settle(self.writer.get_ref().as_ref())?;
        self.acknowledge(through);
        Ok(())
    }

    /// Records, in the queue's checkpoint, that everything through `through` is delivered.
    fn acknowledge(&mut self, through: Option<Through>) {
        if let Some(Through(seq)) = through {
            if let Err(e) = self.queue.ack(seq) {
                tracing::error!(error = %e, "cannot record delivery in the queue checkpoint");
            }
        }
    }

    /// With TCP-level accounting: gives the collector's TCP stack
    /// [`IN_FLIGHT_SETTLE`] to acknowledge what is in flight, acknowledging it
    /// in the queue as it does (what is left goes again on the next session).
    async fn settle_in_flight(&mut self) {
        let deadline = Instant::now() + IN_FLIGHT_SETTLE;
        while self.delivery.pending() && Instant::now() < deadline {
            if self.settle().is_err() || !self.delivery.pending() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// What the watcher read: a collector message of the acknowledged mode
    /// (acted on by the delivery), or the end of the session.
    fn on_heard(&mut self, heard: connection::Heard) -> Heard {
        let token = match heard {
            connection::Heard::Token(token) => token,
            connection::Heard::Closed(why) => return Heard::Closed(why),
        };
        if !self.asked {
            return Heard::Broke(Closed::DataAfterHandshake.into());
        }
        let plain = match self.session.unwrap(&token) {
            Ok(plain) => plain,
            Err(e) => return Heard::Broke(Cause::AckUnwrap(e)),
        };
        let (message, through) = match self.delivery.collector_said(&plain.data) {
            Ok(said) => said,
            Err(e) => return Heard::Broke(e.into()),
        };
        self.acknowledge(through);
        match message {
            CollectorMessage::Hello => {
                tracing::info!("the collector acknowledges what it writes: records leave the queue on its word");
                Heard::Go
            }
            CollectorMessage::Written(_) => Heard::Go,
            CollectorMessage::Closing => Heard::Closing,
        }
    }

    /// A graceful end in the acknowledged mode: half-closes (nothing more is
    /// sent), then takes the collector's last acknowledgements until it
    /// closes, within `limit`.
    async fn drain(&mut self, limit: Duration) -> Result<(), Cause> {
        // An error here means the connection is gone already: the watcher says how.
        let _ = self.writer.get_mut().shutdown().await;
        let until_closed = async {
            loop {
                match self.closed.wait().await {
                    connection::Heard::Closed(Closed::ByCollector) => return Ok(()),
                    heard => match self.on_heard(heard) {
                        Heard::Go | Heard::Closing => {}
                        Heard::Closed(why) => return Err(why.into()),
                        Heard::Broke(cause) => return Err(cause),
                    },
                }
            }
        };
        tokio::time::timeout(limit, until_closed).await.unwrap_or(Err(Cause::DrainTimedOut(limit)))
    }

    /// Wraps and writes one token; returns the bytes put on the wire.
    async fn send_token(&mut self, plain: &[u8]) -> Result<u64, Cause> {
        send_token(&mut self.session, &mut self.writer, plain).await
    }
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
