//! The collector's reports of events that may come by the thousand a second
//! (a sender's every message), counted exactly and logged at most once per
//! interval with [`RateLimitedCount`] (shared with the shipper, in `daemon`).

use std::time::{Duration, Instant};

use daemon::rate_limited::RateLimitedCount;

use syslog::Origin;

/// Compressed messages that inflated past `$MaxMessageSize` and were cut there.
pub static INFLATED_PAST_LIMIT: RateLimitedCount = RateLimitedCount::new(Duration::from_secs(10));

/// Counts `n` compressed messages from `origin` cut at `max`, and logs when due.
pub fn inflated_past_limit(n: u64, origin: &Origin, max: usize) {
    if let Some(report) = INFLATED_PAST_LIMIT.add(n, Instant::now()) {
        tracing::warn!(
            fromhost = %origin.fromhost,
            fromhost_ip = %origin.fromhost_ip,
            max_message_size = max,
            truncated = report.since_last,
            total = report.total,
            "compressed messages inflated to more than $MaxMessageSize: cut at that size \
             (logged at most every 10 s; this sender is the latest)"
        );
    }
}
