//! Logging at a bounded rate for events that anyone can cause: refused
//! connections, and connections that end before they authenticate.
//!
//! In each window the first few events are logged in full; the rest are only
//! counted by kind, and one summary line per window gives the counts. A flood
//! of connections therefore costs the log a few lines per window, not one line
//! per connection.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The length of a window.
pub const WINDOW: Duration = Duration::from_secs(10);
/// Events logged in full per window.
pub const BURST: u32 = 20;

/// What happened to a connection that the log may count instead of logging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EventKind {
    /// `$AllowedSender` refused the address.
    RefusedNotAllowed,
    /// Every session slot taken.
    RefusedTooManySessions,
    /// The sender's sessions at its cap all active.
    RefusedSenderBusy,
    /// The front door full.
    RefusedTooManyHandshakes,
    /// The address has its share of the front door.
    RefusedTooManyFromHost,
    /// The subnet has its share of the front door.
    RefusedTooManyFromSubnet,
    /// Closed before sending anything.
    ClosedSilent,
    ClosedFirstByteTimeout,
    ClosedHandshakeTimeout,
    ClosedHandshakeFailed,
    ClosedReadFailed,
    ClosedShuttingDown,
    ClosedDisplaced,
}

impl EventKind {
    /// Its name in the summary line.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::RefusedNotAllowed => "refused: not an allowed sender",
            EventKind::RefusedTooManySessions => "refused: too many sessions",
            EventKind::RefusedSenderBusy => "refused: the sender's sessions at its cap are all active",
            EventKind::RefusedTooManyHandshakes => "refused: too many handshakes",
            EventKind::RefusedTooManyFromHost => "refused: too many handshakes from one address",
            EventKind::RefusedTooManyFromSubnet => "refused: too many handshakes from one subnet",
            EventKind::ClosedSilent => "closed silent",
            EventKind::ClosedFirstByteTimeout => "closed: first-byte timeout",
            EventKind::ClosedHandshakeTimeout => "closed: handshake timeout",
            EventKind::ClosedHandshakeFailed => "closed: handshake failed",
            EventKind::ClosedReadFailed => "closed: read failed",
            EventKind::ClosedShuttingDown => "closed: shutting down",
            EventKind::ClosedDisplaced => "closed: displaced by a newcomer",
        }
    }
}

pub struct EventLog {
    window: Duration,
    burst: u32,
    state: Mutex<Window>,
}

struct Window {
    started: Instant,
    logged: u32,
    suppressed: BTreeMap<EventKind, u64>,
}

impl EventLog {
    pub fn new(window: Duration, burst: u32) -> Self {
        EventLog { window, burst, state: Mutex::new(Window { started: Instant::now(), logged: 0, suppressed: BTreeMap::new() }) }
    }

    /// Whether the caller should log this event in full. If not, the event is
    /// counted under `kind` for the window's summary line.
    pub fn admit(&self, kind: EventKind) -> bool {
        self.admit_at(kind, Instant::now())
    }

    /// Ends the window if its time is up, logging its summary. Called on a
    /// timer, so that the counts of the last window of a flood are logged too.
    pub fn flush(&self) {
        if let Some(summary) = self.roll_at(Instant::now()) {
            log_summary(self.window, &summary);
        }
    }

    fn admit_at(&self, kind: EventKind, now: Instant) -> bool {
        let summary = self.roll_at(now);
        if let Some(summary) = &summary {
            log_summary(self.window, summary);
        }
        let Ok(mut state) = self.state.lock() else { return false };
        if state.logged < self.burst {
            state.logged += 1;
            true
        } else {
            *state.suppressed.entry(kind).or_insert(0) += 1;
            false
        }
    }

    /// Starts a new window if the current one is over; returns the counts of
    /// the events it did not log, if there were any.
    fn roll_at(&self, now: Instant) -> Option<BTreeMap<EventKind, u64>> {
        let mut state = self.state.lock().ok()?;
        if now.saturating_duration_since(state.started) < self.window {
            return None;
        }
        state.started = now;
        state.logged = 0;
        let suppressed = std::mem::take(&mut state.suppressed);
        (!suppressed.is_empty()).then_some(suppressed)
    }
}

fn log_summary(window: Duration, suppressed: &BTreeMap<EventKind, u64>) {
    let total: u64 = suppressed.values().sum();
    let counts = summary_counts(suppressed);
    tracing::warn!(
        window_secs = window.as_secs(),
        not_logged = total,
        counts = %counts,
        "front door: more connection events than the log rate allows; these were counted, not logged one by one"
    );
}

/// `name: count, ...`, by name.
fn summary_counts(suppressed: &BTreeMap<EventKind, u64>) -> String {
    let mut counts: Vec<(&str, u64)> = suppressed.iter().map(|(kind, n)| (kind.name(), *n)).collect();
    counts.sort();
    counts.iter().map(|(name, n)| format!("{name}: {n}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_a_burst_per_window_and_counts_the_rest() {
        let log = EventLog::new(Duration::from_secs(10), 3);
        let t0 = log.state.lock().unwrap().started;
        let per_host = EventKind::RefusedTooManyFromHost;
        let admitted: Vec<bool> = (0..5).map(|i| log.admit_at(per_host, t0 + Duration::from_millis(i))).collect();
        assert_eq!(admitted, [true, true, true, false, false]);
        assert!(!log.admit_at(EventKind::ClosedHandshakeFailed, t0 + Duration::from_secs(9)));
        // Nothing to report before the window is over.
        assert_eq!(log.roll_at(t0 + Duration::from_secs(9)), None);
        let summary = log.roll_at(t0 + Duration::from_secs(10)).expect("the window's counts");
        assert_eq!(summary_counts(&summary), "closed: handshake failed: 1, refused: too many handshakes from one address: 2");
        // A new window logs a new burst; a quiet window has no summary.
        assert!(log.admit_at(per_host, t0 + Duration::from_secs(11)));
        assert_eq!(log.roll_at(t0 + Duration::from_secs(25)), None);
    }
}
