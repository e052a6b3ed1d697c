//! The action's counters: rsyslog's omclickhouse names (`submitted`,
//! `failed.http`, `failed.httprequests`, `failed.clickhouse`,
//! `response.success`) and ours (rows and batches sent, retries, rows
//! refused, rows whose insert is uncertain), read by the daemon's
//! impstats lines and Prometheus endpoint.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct ActionStats {
    /// rsyslog's `submitted`: rows handed to the action (accepted by its queue).
    pub submitted: AtomicU64,
    /// Rows the queue could not take (full for the whole enqueue timeout, or a write error).
    pub not_queued: AtomicU64,
    /// rsyslog's `failed.http`: rows in requests that got no usable answer.
    pub failed_http: AtomicU64,
    /// rsyslog's `failed.httprequests`: requests that got no usable answer.
    pub failed_http_requests: AtomicU64,
    /// rsyslog's `failed.clickhouse`: requests the server refused.
    pub failed_clickhouse: AtomicU64,
    /// rsyslog's `response.success`: requests the server carried out (= batches sent).
    pub response_success: AtomicU64,
    /// Rows the server inserted.
    pub rows_sent: AtomicU64,
    /// Tries of a request after a failed one (health checks included).
    pub retries: AtomicU64,
    /// Rows refused by the server (or not an INSERT): written to errorFile.
    pub rows_rejected: AtomicU64,
    /// Rows sent again after a request whose answer was lost: the server may
    /// hold them twice. The bound on duplicates.
    pub rows_uncertain: AtomicU64,
    /// Rows given up after action.resumeRetryCount retries (to errorFile).
    pub rows_given_up: AtomicU64,
}

impl ActionStats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
