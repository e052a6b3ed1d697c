//! The shipper's counters: its inputs (counted where messages are routed),
//! each action's forwarder (counted in the reconnect loop and the session),
//! and each action's queue (the queue's own [`queue::Stats`]); shown as
//! impstats lines and on the metrics endpoint ([`register`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use daemon::metrics::{Registry, StatsObject};
use daemon::metrics_http::{Health, HealthCheck};

/// Messages that reached the shipper, over every input.
pub struct InputStats {
    pub received: AtomicU64,
    pub bytes_received: AtomicU64,
}

pub static INPUT: InputStats = InputStats { received: AtomicU64::new(0), bytes_received: AtomicU64::new(0) };

/// Counts messages received by an input (before any action's filter).
pub fn received(messages: &[&[u8]]) {
    INPUT.received.fetch_add(messages.len() as u64, Ordering::Relaxed);
    INPUT.bytes_received.fetch_add(messages.iter().map(|m| m.len() as u64).sum(), Ordering::Relaxed);
}

/// How a session ended, as the counters count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionDown {
    /// It broke (`sessions.broken`).
    Broken,
    /// The collector ended it in order (`sessions.closed`).
    ClosedByCollector,
    /// The shipper ended it: stopping, re-keying, handing back.
    Ended,
}

/// One action's forwarder.
#[derive(Debug)]
pub struct ActionStats {
    /// Messages written on sessions (again after a reconnect, too).
    pub sent: AtomicU64,
    pub tokens_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub connected: AtomicBool,
    /// Sessions established.
    pub connects: AtomicU64,
    /// Connection attempts that failed (resolve, connect, handshake).
    pub connect_failures: AtomicU64,
    /// Sessions that broke and were reconnected.
    pub sessions_broken: AtomicU64,
    /// Sessions the collector ended in order (its Closing, everything sent
    /// acknowledged), then reconnected.
    pub sessions_closed: AtomicU64,
    /// Since when the action has had no session (from start, too).
    disconnected_since: Mutex<Option<Instant>>,
    /// Time without a session, in earlier outages.
    outage_before: Mutex<Duration>,
}

impl ActionStats {
    pub fn new() -> Arc<ActionStats> {
        Arc::new(ActionStats {
            sent: AtomicU64::new(0),
            tokens_sent: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            connected: AtomicBool::new(false),
            connects: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
            sessions_broken: AtomicU64::new(0),
            sessions_closed: AtomicU64::new(0),
            disconnected_since: Mutex::new(Some(Instant::now())),
            outage_before: Mutex::new(Duration::ZERO),
        })
    }

    pub fn session_up(&self) {
        self.connects.fetch_add(1, Ordering::Relaxed);
        self.connected.store(true, Ordering::Relaxed);
        let since = self.disconnected_since.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(since) = since {
            *self.outage_before.lock().unwrap_or_else(|p| p.into_inner()) += since.elapsed();
        }
    }

    pub fn session_down(&self, how: SessionDown) {
        match how {
            SessionDown::Broken => self.sessions_broken.fetch_add(1, Ordering::Relaxed),
            SessionDown::ClosedByCollector => self.sessions_closed.fetch_add(1, Ordering::Relaxed),
            SessionDown::Ended => 0,
        };
        self.connected.store(false, Ordering::Relaxed);
        self.disconnected_since.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(Instant::now);
    }

    pub fn sent_batch(&self, messages: u64, tokens: u64, bytes: u64) {
        self.sent.fetch_add(messages, Ordering::Relaxed);
        self.tokens_sent.fetch_add(tokens, Ordering::Relaxed);
        self.bytes_sent.fetch_add(bytes, Ordering::Relaxed);
    }

    /// How long the current outage has lasted; zero while connected.
    pub fn disconnected_for(&self) -> Duration {
        self.disconnected_since.lock().unwrap_or_else(|p| p.into_inner()).map_or(Duration::ZERO, |t| t.elapsed())
    }

    /// Time without a session since start, the current outage included.
    pub fn outage_total(&self) -> Duration {
        *self.outage_before.lock().unwrap_or_else(|p| p.into_inner()) + self.disconnected_for()
    }
}

/// An action as the metrics show it.
pub struct Action {
    pub name: String,
    pub collector: String,
    pub stats: Arc<ActionStats>,
    pub queue: queue::Producer,
}

/// `omgssapi: origin=omgssapi.input ...` and one `NAME: origin=omgssapi.action ...`
/// per action (NAME is the action's queue file name).
pub fn register(registry: &Registry, actions: &[Action]) {
    registry.register(
        StatsObject::new("omgssapi", "omgssapi.input", "shipper", vec![])
            .counter("messages.received", "Messages received by the inputs.", || INPUT.received.load(Ordering::Relaxed))
            .counter("bytes.received", "Bytes of those messages.", || INPUT.bytes_received.load(Ordering::Relaxed)),
    );
    for a in actions {
        let labels = vec![("action", a.name.clone()), ("collector", a.collector.clone())];
        let q = |f: fn(&queue::Stats) -> u64| {
            let queue = a.queue.clone();
            move || f(&queue.stats())
        };
        let s = |f: fn(&ActionStats) -> u64| {
            let stats = a.stats.clone();
            move || f(&stats)
        };
        registry.register(
            StatsObject::new(a.name.clone(), "omgssapi.action", "action", labels)
                .counter("messages.enqueued", "Messages accepted into the action's queue.", q(|s| s.enqueued))
                .counter("messages.forwarded", "Messages the collector's TCP stack acknowledged (they leave the queue).", q(|s| s.acknowledged))
                .counter("messages.sent", "Messages written on sessions (again after a reconnect, too).", s(|s| s.sent.load(Ordering::Relaxed)))
                .counter("messages.discarded", "Messages discarded: the queue's disk cap stayed reached ($ActionQueueMaxDiskSpace).", q(|s| s.discarded_full))
                .counter("messages.enqueue_failed", "Messages not accepted: writing the queue failed (disk full, I/O error).", q(|s| s.write_errors))
                .counter("messages.lost", "Queued records found unreadable (checksum) and skipped.", q(|s| s.corrupt_skipped))
                .gauge("queue.size", "Records queued, not yet acknowledged.", q(|s| s.queued))
                .gauge("queue.bytes", "Bytes of the queue's files on disk.", q(|s| s.bytes_on_disk))
                .gauge("queue.oldest_age_seconds", "Age of the oldest queued record (0 when empty).", q(|s| s.oldest_age.map_or(0, |d| d.as_secs())))
                .counter("tokens.sent", "GSS tokens written.", s(|s| s.tokens_sent.load(Ordering::Relaxed)))
                .counter("bytes.sent", "Bytes written to the collector (tokens with their length prefix).", s(|s| s.bytes_sent.load(Ordering::Relaxed)))
                .gauge("connected", "1 while a session to the collector is up.", s(|s| u64::from(s.connected.load(Ordering::Relaxed))))
                .counter("connects", "Sessions established (the first and every reconnect).", s(|s| s.connects.load(Ordering::Relaxed)))
                .counter("connect.failures", "Connection attempts that failed (resolve, connect, GSS handshake).", s(|s| s.connect_failures.load(Ordering::Relaxed)))
                .counter("sessions.broken", "Sessions that broke and were reconnected.", s(|s| s.sessions_broken.load(Ordering::Relaxed)))
                .counter(
                    "sessions.closed",
                    "Sessions the collector ended in order (its Closing, everything sent acknowledged), then reconnected.",
                    s(|s| s.sessions_closed.load(Ordering::Relaxed)),
                )
                .gauge("disconnected_seconds", "How long the current outage has lasted (0 while connected).", s(|s| s.disconnected_for().as_secs()))
                .counter("outage_seconds", "Time without a session since start, the current outage included.", s(|s| s.outage_total().as_secs())),
        );
    }
}

/// Serving: every action has a session to its collector.
pub fn health(actions: &[Action]) -> HealthCheck {
    let actions: Vec<(String, String, Arc<ActionStats>)> =
        actions.iter().map(|a| (a.name.clone(), a.collector.clone(), a.stats.clone())).collect();
    Arc::new(move || {
        let down: Vec<String> = actions
            .iter()
            .filter(|(_, _, s)| !s.connected.load(Ordering::Relaxed))
            .map(|(name, collector, s)| format!("{name} not connected to {collector} for {}s", s.disconnected_for().as_secs()))
            .collect();
        if down.is_empty() {
            Health { serving: true, detail: format!("{} action(s) connected", actions.len()) }
        } else {
            Health { serving: false, detail: down.join("; ") }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_collectors_orderly_close_is_counted_as_closed_not_broken() {
        let stats = ActionStats::new();
        stats.session_up();
        stats.session_down(SessionDown::ClosedByCollector);
        stats.session_up();
        stats.session_down(SessionDown::Broken);
        stats.session_up();
        stats.session_down(SessionDown::Ended);
        assert_eq!(stats.sessions_closed.load(Ordering::Relaxed), 1);
        assert_eq!(stats.sessions_broken.load(Ordering::Relaxed), 1);
        assert!(!stats.connected.load(Ordering::Relaxed));
    }
}
