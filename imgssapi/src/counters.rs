//! The collector's counters of connections and sessions, one process-wide
//! set, counted where things happen; [`crate::stats`] shows them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Counters of connections and sessions, for the whole process.
#[derive(Debug, Default)]
pub struct CollectorStats {
    pub sessions_opened: AtomicU64,
    pub refused_not_allowed: AtomicU64,
    pub refused_max_sessions: AtomicU64,
    pub refused_sender_busy: AtomicU64,
    pub refused_max_handshakes: AtomicU64,
    pub refused_max_handshakes_per_host: AtomicU64,
    pub refused_max_handshakes_per_subnet: AtomicU64,
    pub handshakes_displaced: AtomicU64,
    pub sessions_displaced: AtomicU64,
    pub handshakes_ok: AtomicU64,
    pub plain_opened: AtomicU64,
    pub handshakes_failed: AtomicU64,
    pub handshakes_timed_out: AtomicU64,
    pub closed_silent: AtomicU64,
    pub front_door_read_errors: AtomicU64,
    pub messages_received: AtomicU64,
    pub bytes_received: AtomicU64,
    pub messages_discarded: AtomicU64,
    /// The accept loops are running (cleared at shutdown).
    pub listening: AtomicBool,
}

pub static STATS: CollectorStats = CollectorStats {
    sessions_opened: AtomicU64::new(0),
    refused_not_allowed: AtomicU64::new(0),
    refused_max_sessions: AtomicU64::new(0),
    refused_sender_busy: AtomicU64::new(0),
    refused_max_handshakes: AtomicU64::new(0),
    refused_max_handshakes_per_host: AtomicU64::new(0),
    refused_max_handshakes_per_subnet: AtomicU64::new(0),
    handshakes_displaced: AtomicU64::new(0),
    sessions_displaced: AtomicU64::new(0),
    handshakes_ok: AtomicU64::new(0),
    plain_opened: AtomicU64::new(0),
    handshakes_failed: AtomicU64::new(0),
    handshakes_timed_out: AtomicU64::new(0),
    closed_silent: AtomicU64::new(0),
    front_door_read_errors: AtomicU64::new(0),
    messages_received: AtomicU64::new(0),
    bytes_received: AtomicU64::new(0),
    messages_discarded: AtomicU64::new(0),
    listening: AtomicBool::new(false),
};

pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}
