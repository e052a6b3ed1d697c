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

pub struct EventLog {
    window: Duration,
    burst: u32,
    state: Mutex<Window>,
}

struct Window {
    started: Instant,
    logged: u32,
    suppressed: BTreeMap<&'static str, u64>,
}

impl EventLog {
    pub fn new(window: Duration, burst: u32) -> Self {
        EventLog { window, burst, state: Mutex::new(Window { started: Instant::now(), logged: 0, suppressed: BTreeMap::new() }) }
    }

    /// Whether the caller should log this event in full. If not, the event is
    /// counted under `kind` for the window's summary line.
    pub fn admit(&self, kind: &'static str) -> bool {
        self.admit_at(kind, Instant::now())
    }

    /// Ends the window if its time is up, logging its summary. Called on a
    /// timer, so that the counts of the last window of a flood are logged too.
    pub fn flush(&self) {
        if let Some(summary) = self.roll_at(Instant::now()) {
            log_summary(self.window, &summary);
        }
    }

    fn admit_at(&self, kind: &'static str, now: Instant) -> bool {
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
    fn roll_at(&self, now: Instant) -> Option<BTreeMap<&'static str, u64>> {
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

fn log_summary(window: Duration, suppressed: &BTreeMap<&'static str, u64>) {
    let total: u64 = suppressed.values().sum();
    let counts = suppressed.iter().map(|(kind, n)| format!("{kind}: {n}")).collect::<Vec<_>>().join(", ");
    tracing::warn!(
        window_secs = window.as_secs(),
        not_logged = total,
        counts = %counts,
        "front door: more connection events than the log rate allows; these were counted, not logged one by one"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_a_burst_per_window_and_counts_the_rest() {
        let log = EventLog::new(Duration::from_secs(10), 3);
        let t0 = log.state.lock().unwrap().started;
        let admitted: Vec<bool> = (0..5).map(|i| log.admit_at("per-host cap", t0 + Duration::from_millis(i))).collect();
        assert_eq!(admitted, [true, true, true, false, false]);
        assert!(!log.admit_at("handshake failed", t0 + Duration::from_secs(9)));
        // Nothing to report before the window is over.
        assert_eq!(log.roll_at(t0 + Duration::from_secs(9)), None);
        let summary = log.roll_at(t0 + Duration::from_secs(10)).expect("the window's counts");
        assert_eq!(summary.into_iter().collect::<Vec<_>>(), [("handshake failed", 1), ("per-host cap", 2)]);
        // A new window logs a new burst; a quiet window has no summary.
        assert!(log.admit_at("per-host cap", t0 + Duration::from_secs(11)));
        assert_eq!(log.roll_at(t0 + Duration::from_secs(25)), None);
    }
}
