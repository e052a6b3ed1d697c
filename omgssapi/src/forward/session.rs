//! Sending on one established session: records from the queue, packed into
//! tokens, written in order, until the session ends.
//!
//! Records are acknowledged in the queue as [`Delivery`] sees the
//! collector's TCP stack take them. Before the context's lifetime ends (the
//! ticket's end time) the session re-keys: it stops taking records, waits
//! until everything written is acknowledged, and ends as
//! [`SessionEnd::Rekey`], so that the next session (fresh tickets, a fresh
//! check of the principal by the KDC) starts exactly where this one stopped:
//! nothing lost, nothing sent twice. The session ends when the shipper stops,
//! when the close watcher sees the collector close it, or when sending
//! breaks: a write or the delivery stalls, a wrap or a write fails
//! ([`SessionEnd`]).

use std::time::{Duration, Instant};

use daemon::signals::Shutdown;
use gsswire::{FrameError, FrameWriter, GssError, Session};
use queue::{Consumer, Record};
use tokio::net::tcp::OwnedWriteHalf;

use super::connection::{Closed, Connection};
use super::delivery::{Delivery, Stalled};
use crate::config::ForwardConfig;

/// After this much quiet, give the close watcher a chance before writing.
const IDLE: Duration = Duration::from_secs(1);
/// A write that cannot complete for this long, or unacknowledged bytes that
/// make no progress for this long, end the session.
const STALLED: Duration = Duration::from_secs(20);
/// How often delivery is checked while records are in flight.
const ACK_POLL: Duration = Duration::from_millis(50);

/// What one action has sent, logged when it stops.
#[derive(Debug, Default)]
pub struct Sent {
    pub messages: u64,
    pub tokens: u64,
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
}

/// Sends the queue's records on `connection` until the session ends; counts
/// what was sent into `sent`.
pub async fn send_until_ended(
    config: &ForwardConfig,
    queue: &mut Consumer,
    connection: Connection,
    stop: &mut Shutdown,
    sent: &mut Sent,
    stats: &crate::stats::ActionStats,
) -> SessionEnd {
    let Connection { mut writer, mut session, mut closed } = connection;
    let established = Instant::now();
    let rekey_deadline = rekey_at(established, session.expires_at());
    // A far deadline stands in for "never" so that the select stays simple.
    let rekey = tokio::time::sleep_until(
        rekey_deadline.unwrap_or(established + Duration::from_secs(100 * 365 * 86400)).into(),
    );
    tokio::pin!(rekey);
    let mut rekeying = false;
    let max_records = if config.one_message_per_token { 256 } else { 4096 };
    let mut last_write = Instant::now();
    let mut plain = Vec::with_capacity(config.batch_bytes + 8192);
    let mut delivery = Delivery::new(STALLED);
    let mut tick = tokio::time::interval(ACK_POLL);
    loop {
        if rekeying && !delivery.pending() {
            return SessionEnd::Rekey { lifetime: rekey_deadline.map_or(Duration::ZERO, |d| d - established) };
        }
        // Only cancellation-safe waits stand in the select: popping records
        // happens after it, so no record is taken and then dropped.
        tokio::select! {
            _ = queue.wait_for_data(), if delivery.has_room() && !rekeying => {}
            _ = &mut rekey, if !rekeying && rekey_deadline.is_some() => {
                rekeying = true;
                continue;
            }
            why = closed.wait() => return SessionEnd::Broken(why.into()),
            _ = stop.triggered() => return SessionEnd::Stopped,
            _ = tick.tick(), if delivery.pending() || rekeying => {
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
            if let Some(why) = closed.seen() {
                return SessionEnd::Broken(why.into());
            }
        }
        // A write that cannot complete (send buffer full, peer gone silent)
        // is the same stall as unacknowledged bytes that do not move.
        let written = match tokio::time::timeout(STALLED, write_batch(config, &mut session, &mut writer, &batch, &mut plain)).await {
            Ok(r) => r,
            Err(_) => return SessionEnd::Broken(Cause::WriteStalled(STALLED)),
        };
        match written {
            Ok((tokens, bytes)) => {
                sent.messages += batch.len() as u64;
                sent.tokens += tokens;
                stats.sent_batch(batch.len() as u64, tokens, bytes);
                if let Some(last) = batch.last() {
                    delivery.written(last.seq, bytes);
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
