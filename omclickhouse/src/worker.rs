//! The action's worker: one thread that drains the queue into ClickHouse.
//!
//! A batch is what the queue hands out (at most `queue.dequeueBatchSize`
//! rows and about `maxBytes`); it is cut into requests of at most
//! `maxBytes` (one row per request with `bulkMode="off"`). Requests go in
//! order, and the queue is acknowledged after each one that is done, so a
//! crash resends at most the request in flight.
//! - Inserted: counted, acknowledged.
//! - Refused (the server says the data is wrong): a request of several rows
//!   is split in two and each half sent again, so that one bad row does not
//!   take good ones with it; a single refused row goes to `errorFile` with
//!   the server's answer, and is acknowledged: the queue goes on.
//! - Unavailable (no answer, or "come back later"): the same request is sent
//!   again, after a wait that starts at one second and doubles up to
//!   `action.resumeInterval`, and after a health check (`SELECT 1` within
//!   `healthCheckTimeout`) has passed. Nothing is dropped unless
//!   `action.resumeRetryCount` is positive and used up (then to errorFile).
//!   A request whose answer was lost may have been carried out: its rows
//!   are counted as uncertain (the bound on duplicates) before the resend.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use queue::{Consumer, Record};

use crate::error_file::ErrorFile;
use crate::http::{Client, SendError};
use crate::stats::ActionStats;

/// How requests are made from rows.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    /// The query in the URL (JSONEachRow); `None`: rows are statements.
    pub query: Option<String>,
    pub bulk_mode: bool,
    /// With bulk mode, the least time between two inserts unless a full
    /// batch is waiting.
    pub insert_interval: Duration,
    pub max_bytes: usize,
    pub batch_size: usize,
    pub retry_count: Option<u32>,
    pub resume_interval: Duration,
}

pub(crate) struct Worker {
    pub name: String,
    pub consumer: Consumer,
    pub client: Client,
    pub shape: Shape,
    pub error_file: ErrorFile,
    pub stats: Arc<ActionStats>,
    /// Closed (or sent to) when the action is to stop.
    pub stop: Receiver<()>,
}

/// How often an idle worker looks at the stop signal.
const IDLE_POLL: Duration = Duration::from_millis(250);
const FIRST_WAIT: Duration = Duration::from_secs(1);

impl Worker {
    pub fn run(mut self) {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_time().build() {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(action = %self.name, error = %e, "omclickhouse: cannot start the worker; rows stay queued");
                return;
            }
        };
        let mut last_insert: Option<std::time::Instant> = None;
        while !self.stopping(Duration::ZERO) {
            // Fewer, larger inserts: wait out insertInterval unless a full batch is there.
            if let Some(at) = last_insert.filter(|_| self.shape.bulk_mode) {
                let rest = self.shape.insert_interval.saturating_sub(at.elapsed());
                if !rest.is_zero() && (self.consumer.stats().queued as usize) < self.shape.batch_size && self.stopping(rest) {
                    break;
                }
            }
            let batch = match self.consumer.pop_batch(self.shape.batch_size, self.shape.max_bytes) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(action = %self.name, error = %e, "omclickhouse: reading the queue failed");
                    self.consumer.rewind();
                    if self.stopping(FIRST_WAIT) {
                        break;
                    }
                    continue;
                }
            };
            if batch.is_empty() {
                let consumer = &self.consumer;
                runtime.block_on(async { tokio::time::timeout(IDLE_POLL, consumer.wait_for_data()).await }).ok();
                continue;
            }
            last_insert = Some(std::time::Instant::now());
            if !self.deliver(&batch) {
                // Stopped while waiting to retry: the rest stays queued.
                self.consumer.rewind();
                break;
            }
        }
        if let Err(e) = self.consumer.close() {
            tracing::error!(action = %self.name, error = %e, "omclickhouse: closing the queue failed");
        }
    }

    /// True once the action is to stop; waits up to `wait` for that.
    fn stopping(&self, wait: Duration) -> bool {
        !matches!(self.stop.recv_timeout(wait), Err(RecvTimeoutError::Timeout))
    }

    /// Sends a batch; false if the action was stopped before it was done.
    fn deliver(&mut self, batch: &[Record]) -> bool {
        let rows: Vec<&[u8]> = batch.iter().map(|r| r.payload.as_ref()).collect();
        let mut pending: VecDeque<Range<usize>> = plan(&rows, &self.shape).into();
        let mut failures = 0u32;
        let mut wait = FIRST_WAIT;
        while let Some(range) = pending.front().cloned() {
            let rows_here = &rows[range.clone()];
            let n = rows_here.len() as u64;
            let Some(body) = body(rows_here, self.shape.query.is_some()) else {
                self.reject(rows_here[0], "not an INSERT statement: not sent (the template must render INSERT INTO ...)");
                self.done(batch, &range);
                pending.pop_front();
                continue;
            };
            match self.client.insert(self.shape.query.as_deref(), &body) {
                Ok(()) => {
                    ActionStats::add(&self.stats.response_success, 1);
                    ActionStats::add(&self.stats.rows_sent, n);
                    if failures > 0 {
                        tracing::info!(action = %self.name, failures, "omclickhouse: the server takes rows again");
                    }
                    failures = 0;
                    wait = FIRST_WAIT;
                    self.done(batch, &range);
                    pending.pop_front();
                }
                Err(SendError::Refused { status, reply }) => {
                    ActionStats::add(&self.stats.failed_clickhouse, 1);
                    pending.pop_front();
                    if range.len() > 1 {
                        let mid = range.start + range.len() / 2;
                        pending.push_front(mid..range.end);
                        pending.push_front(range.start..mid);
                        continue;
                    }
                    tracing::warn!(action = %self.name, status, reply = %reply, "omclickhouse: the server refused a row; it goes to errorFile");
                    self.reject(&body, &reply);
                    self.done(batch, &range);
                }
                Err(SendError::Unavailable { why, maybe_applied }) => {
                    ActionStats::add(&self.stats.failed_http_requests, 1);
                    ActionStats::add(&self.stats.failed_http, n);
                    if maybe_applied {
                        ActionStats::add(&self.stats.rows_uncertain, n);
                    }
                    failures += 1;
                    if failures == 1 {
                        tracing::warn!(action = %self.name, error = %why, rows = n, "omclickhouse: insert failed; the rows stay queued and are retried");
                    }
                    if self.shape.retry_count.is_some_and(|max| failures > max) {
                        tracing::error!(action = %self.name, failures, rows = n, "omclickhouse: action.resumeRetryCount used up: the rows go to errorFile");
                        ActionStats::add(&self.stats.rows_given_up, n);
                        self.error_file.write(&self.client.url(self.shape.query.as_deref()), &body, &format!("given up after {failures} tries: {why}"));
                        self.done(batch, &range);
                        pending.pop_front();
                        failures = 0;
                        continue;
                    }
                    if !self.wait_for_server(&mut wait) {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// Waits, then health-checks, until the server answers; false if stopped.
    fn wait_for_server(&mut self, wait: &mut Duration) -> bool {
        loop {
            if self.stopping(*wait) {
                return false;
            }
            *wait = (*wait * 2).min(self.shape.resume_interval.max(FIRST_WAIT));
            ActionStats::add(&self.stats.retries, 1);
            match self.client.health_check() {
                Ok(()) => return true,
                Err(e) => tracing::debug!(action = %self.name, error = %e, "omclickhouse: health check failed"),
            }
        }
    }

    fn reject(&mut self, postdata: &[u8], reply: &str) {
        ActionStats::add(&self.stats.rows_rejected, 1);
        self.error_file.write(&self.client.url(self.shape.query.as_deref()), postdata, reply);
    }

    /// The rows of `range` are settled: acknowledge through its last.
    fn done(&mut self, batch: &[Record], range: &Range<usize>) {
        if let Some(last) = batch.get(range.end.saturating_sub(1)) {
            if let Err(e) = self.consumer.ack(last.seq) {
                tracing::error!(action = %self.name, error = %e, "omclickhouse: acknowledging in the queue failed (the rows may be sent again after a restart)");
            }
        }
    }
}

/// Cuts `rows` into requests: consecutive rows up to `max_bytes` of body
/// (at least one row each); one row each without bulk mode. A statement
/// without `VALUES (` cannot be merged, and goes alone.
pub(crate) fn plan(rows: &[&[u8]], shape: &Shape) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let mut end = start + 1;
        if shape.bulk_mode {
            let mergeable = |row: &[u8]| shape.query.is_some() || values_part(row).is_some();
            let mut size = rows[start].len();
            if mergeable(rows[start]) {
                while end < rows.len() && mergeable(rows[end]) {
                    let add = if shape.query.is_some() { rows[end].len() } else { values_part(rows[end]).map_or(0, |v| v.len() + 1) };
                    if size + add > shape.max_bytes {
                        break;
                    }
                    size += add;
                    end += 1;
                }
            }
        }
        out.push(start..end);
        start = end;
    }
    out
}

/// The body of one request; `None` for a statement that is not an INSERT.
pub(crate) fn body(rows: &[&[u8]], data: bool) -> Option<Vec<u8>> {
    if data {
        return Some(rows.concat());
    }
    let first = rows.first()?;
    if !is_insert(first) {
        return None;
    }
    let mut body = first.to_vec();
    for row in &rows[1..] {
        body.push(b',');
        body.extend_from_slice(values_part(row)?);
    }
    Some(body)
}

fn is_insert(statement: &[u8]) -> bool {
    let start = statement.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(statement.len());
    let words: Vec<&[u8]> = statement[start..].splitn(3, |b| b.is_ascii_whitespace()).take(2).collect();
    matches!(words.as_slice(), [a, b] if a.eq_ignore_ascii_case(b"insert") && b.eq_ignore_ascii_case(b"into"))
}

/// rsyslog's bulk mode: what a statement adds to the one before it, from
/// the first `(` after `VALUES` to its end.
fn values_part(statement: &[u8]) -> Option<&[u8]> {
    if !is_insert(statement) {
        return None;
    }
    let at = statement.windows(6).position(|w| w.eq_ignore_ascii_case(b"values"))?;
    let open = statement[at..].iter().position(|&b| b == b'(')?;
    Some(&statement[at + open..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(query: bool, bulk: bool, max_bytes: usize) -> Shape {
        Shape {
            query: query.then(|| "INSERT".into()),
            bulk_mode: bulk,
            insert_interval: Duration::ZERO,
            max_bytes,
            batch_size: 100,
            retry_count: None,
            resume_interval: Duration::from_secs(30),
        }
    }

    #[test]
    fn requests_respect_max_bytes_and_bulk_mode() {
        let rows: Vec<&[u8]> = vec![b"aaaa", b"bbbb", b"cccc", b"dddddddddddd", b"e"];
        assert_eq!(plan(&rows, &shape(true, true, 8)), vec![0..2, 2..3, 3..4, 4..5]);
        assert_eq!(plan(&rows, &shape(true, true, 1000)), vec![0..5]);
        assert_eq!(plan(&rows, &shape(true, false, 1000)), vec![0..1, 1..2, 2..3, 3..4, 4..5]);
    }

    #[test]
    fn statements_merge_their_values_as_rsyslog_does() {
        let rows: Vec<&[u8]> = vec![b"INSERT INTO t (a) VALUES ('x')", b"insert into t (a) values ('y')", b"SELECT 1", b"INSERT INTO t (a) VALUES ('z')"];
        let planned = plan(&rows, &shape(false, true, 1000));
        assert_eq!(planned, vec![0..2, 2..3, 3..4]);
        assert_eq!(body(&rows[0..2], false).unwrap(), b"INSERT INTO t (a) VALUES ('x'),('y')");
        assert_eq!(body(&rows[2..3], false), None);
    }
}
