//! The collector's counters ([`crate::counters`], counted where things
//! happen: admission, the front door, sessions, the output thread), shown as
//! impstats lines and on the metrics endpoint ([`register`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use daemon::metrics::{Registry, StatsObject};
use daemon::metrics_http::{Health, HealthCheck};

use crate::admission::{Admission, Refusal};
use crate::budget::Budgets;
use crate::counters::{add, STATS};
use crate::not_opened::NotOpened;
use crate::open::Opened;
use crate::output::OutputStats;

/// A connection refused at accept or when it was to become a session.
pub fn refused(refusal: Refusal) {
    let counter = match refusal {
        Refusal::NoSessionSlot => &STATS.refused_max_sessions,
        Refusal::SenderBusy => &STATS.refused_sender_busy,
        Refusal::TooManyHandshakes => &STATS.refused_max_handshakes,
        Refusal::TooManyFromHost => &STATS.refused_max_handshakes_per_host,
        Refusal::TooManyFromSubnet => &STATS.refused_max_handshakes_per_subnet,
    };
    add(counter, 1);
}

/// A connection that did not get through the front door.
pub fn not_opened(why: &NotOpened) {
    let counter = match why {
        NotOpened::Handshake(_) | NotOpened::NoCredential => &STATS.handshakes_failed,
        NotOpened::Silent(_) | NotOpened::HandshakeTooSlow(_) => &STATS.handshakes_timed_out,
        NotOpened::ClosedSilent => &STATS.closed_silent,
        NotOpened::Read(_) => &STATS.front_door_read_errors,
        NotOpened::ShuttingDown | NotOpened::Displaced => return,
    };
    add(counter, 1);
}

/// A connection that became a session.
pub fn opened(opened: &Opened) {
    add(&STATS.sessions_opened, 1);
    match opened {
        Opened::Gss { .. } => add(&STATS.handshakes_ok, 1),
        Opened::Plain { .. } => add(&STATS.plain_opened, 1),
    }
}

fn read(counter: &'static AtomicU64) -> impl Fn() -> u64 + Send + Sync + 'static {
    move || counter.load(Ordering::Relaxed)
}

/// The collector's one stats object (`imgssapi: origin=imgssapi ...`).
pub fn register(registry: &Registry, admission: Arc<Admission>, budgets: Budgets, output: Arc<OutputStats>) {
    let (a, o) = (admission.clone(), output.clone());
    let mut object = StatsObject::new("imgssapi", "imgssapi", "collector", vec![])
        .gauge("sessions.open", "Sessions established now (authenticated GSS, or plain TCP that has sent data).", move || {
            a.open_sessions() as u64
        })
        .gauge("sessions.authenticating", "Connections in the front door now: accepted, not yet a session.", move || {
            admission.awaiting_authentication() as u64
        })
        .gauge(
            "memory.in_flight",
            "Bytes booked in the $InputGSSServerMemoryLimit budget now: tokens being read, render jobs, batches not yet written.",
            move || budgets.in_use(),
        )
        .counter("sessions.opened", "Sessions established since start.", read(&STATS.sessions_opened))
        .counter("sessions.refused.not_allowed", "Connections refused by $AllowedSender.", read(&STATS.refused_not_allowed))
        .counter("sessions.refused.max_sessions", "Connections refused: every session slot taken ($InputGSSServerMaxSessions).", read(&STATS.refused_max_sessions))
        .counter(
            "sessions.refused.sender_busy",
            "Sessions refused: the principal (or plain host) holds its $InputGSSServerMaxSessionsPerPrincipal sessions, none idle for $InputGSSServerReplaceIdleSessionAfter.",
            read(&STATS.refused_sender_busy),
        )
        .counter("sessions.refused.max_handshakes", "Connections refused: front door full ($InputGSSServerMaxHandshakes).", read(&STATS.refused_max_handshakes))
        .counter(
            "sessions.refused.max_handshakes_per_host",
            "Connections refused: the address has its share of the front door ($InputGSSServerMaxHandshakesPerHost).",
            read(&STATS.refused_max_handshakes_per_host),
        )
        .counter(
            "sessions.refused.max_handshakes_per_subnet",
            "Connections refused: the subnet has its share of the front door ($InputGSSServerMaxHandshakesPerSubnet).",
            read(&STATS.refused_max_handshakes_per_subnet),
        )
        .counter(
            "sessions.displaced",
            "Sessions closed to make room for another sender (caps per principal and host, fair share of $InputGSSServerMaxSessions).",
            read(&STATS.sessions_displaced),
        )
        .counter(
            "handshakes.displaced",
            "Connections closed before sending a complete token, to make room in a full front door.",
            read(&STATS.handshakes_displaced),
        )
        .counter("handshakes.ok", "GSS handshakes completed.", read(&STATS.handshakes_ok))
        .counter("handshakes.plain", "Plain TCP connections that sent data (no handshake; imtcp or $InputGSSServerPermitPlainTCP).", read(&STATS.plain_opened))
        .counter("handshakes.failed", "GSS handshakes that failed (bad tokens, unknown principal, wrong key).", read(&STATS.handshakes_failed))
        .counter("handshakes.timeout", "Connections that did not authenticate in time (first-byte or handshake timeout).", read(&STATS.handshakes_timed_out))
        .counter("handshakes.silent", "Connections closed before sending anything (port scans, health checks).", read(&STATS.closed_silent))
        .counter("handshakes.read_error", "Connections whose first bytes could not be read.", read(&STATS.front_door_read_errors))
        .counter("messages.received", "Messages received on sessions.", read(&STATS.messages_received))
        .counter("bytes.received", "Bytes received on sessions (after unwrapping GSS tokens).", read(&STATS.bytes_received));
    let (w, l, n) = (o.clone(), o.clone(), o.clone());
    object = object
        .counter("messages.written", "Lines written to output files.", move || w.written.load(Ordering::Relaxed))
        .counter("messages.lost", "Lines that could not be written (open, write or flush failed).", move || l.lost.load(Ordering::Relaxed))
        .counter(
            "messages.lost.file_name",
            "Of those, lines whose file name (made from a sender's values) the file system refused; not a health failure.",
            move || n.lost_to_file_names.load(Ordering::Relaxed),
        )
        .counter("messages.discarded", "Messages received and not rendered (render threads gone).", read(&STATS.messages_discarded))
        .counter("messages.truncated", "Compressed messages cut at $MaxMessageSize.", || crate::rate_limited::INFLATED_PAST_LIMIT.total());
    let (f, e, i, fl) = (o.clone(), o.clone(), o.clone(), o);
    object = object
        .gauge("files.open", "Output files open now.", move || f.open_files.load(Ordering::Relaxed))
        .gauge(
            "files.failing",
            "Output files whose last write failed (open, owner, write or flush) and not written since (10 minutes without a new failure forget one); /health is not ok while above 0.",
            move || fl.failing_files.load(Ordering::Relaxed),
        )
        .counter("files.evicted", "Files closed to make room in a $DynaFileCacheSize cache.", move || e.evicted.load(Ordering::Relaxed))
        .counter("files.closed_idle", "Files closed after 10 minutes unused.", move || i.closed_idle.load(Ordering::Relaxed));
    registry.register(object);
}

/// Serving: the listeners accept, and no output file is failing (one that
/// failed and has not been written since, whatever the other files do). A
/// file name the file system refused is a sender's bad input, not the
/// collector's failure: counted in the detail, never a 503.
pub fn health(ports: Vec<u16>, output: Arc<OutputStats>) -> HealthCheck {
    Arc::new(move || {
        let listening = STATS.listening.load(Ordering::Relaxed);
        let failing = output.failing_files.load(Ordering::Relaxed);
        let writing = failing == 0;
        let bad_names = output.lost_to_file_names.load(Ordering::Relaxed);
        let detail = match (listening, writing) {
            (true, true) if bad_names > 0 => {
                format!("listening on {ports:?}, writing; {bad_names} line(s) lost to file names the file system refused")
            }
            (true, true) => format!("listening on {ports:?}, writing"),
            (false, _) => format!("not listening on {ports:?} (shutting down)"),
            (true, false) => format!("listening on {ports:?}, but writing to {failing} output file(s) failed and they have not been written since"),
        };
        Health { serving: listening && writing, detail }
    })
}

/// One stats object per `omclickhouse` action (`NAME: origin=omclickhouse
/// ...`, `gsslog_omclickhouse_*{action="NAME"}`): rsyslog's counter names
/// first, then ours, then the action's queue.
pub fn register_clickhouse(registry: &Registry, actions: &[omclickhouse::Action]) {
    use omclickhouse::ActionStats;
    type Pick = fn(&ActionStats) -> &AtomicU64;
    const COUNTERS: &[(&str, &str, Pick)] = &[
        ("submitted", "Rows handed to the action (written to its queue).", |s| &s.submitted),
        ("failed.http", "Rows in requests that got no usable answer (retried).", |s| &s.failed_http),
        ("failed.httprequests", "Requests that got no usable answer (retried).", |s| &s.failed_http_requests),
        ("failed.clickhouse", "Requests the server refused for what they held (split, or to errorFile).", |s| &s.failed_clickhouse),
        ("response.success", "Requests the server carried out (batches sent).", |s| &s.response_success),
        ("rows.sent", "Rows the server inserted.", |s| &s.rows_sent),
        ("rows.rejected", "Rows the server refused (or not an INSERT): written to errorFile.", |s| &s.rows_rejected),
        ("rows.uncertain", "Rows sent again after a request whose answer was lost: at most this many may be in the table twice.", |s| &s.rows_uncertain),
        ("rows.given_up", "Rows written to errorFile after action.resumeRetryCount tries.", |s| &s.rows_given_up),
        ("rows.not_queued", "Rows lost before the queue: it stayed full (queue.maxDiskSpace) or its disk failed.", |s| &s.not_queued),
        ("retries", "Tries after a failed request (each after a wait and a health check).", |s| &s.retries),
    ];
    for action in actions {
        let mut object = StatsObject::new(action.name(), "omclickhouse", "omclickhouse", vec![("action", action.name().to_string())]);
        for &(key, help, pick) in COUNTERS {
            let stats = action.stats().clone();
            object = object.counter(key, help, move || pick(&stats).load(Ordering::Relaxed));
        }
        let (q, b) = (action.clone(), action.clone());
        object = object
            .gauge("queue.size", "Rows queued and not yet inserted (or refused).", move || q.queue_stats().queued)
            .gauge("queue.bytes", "Bytes of the action's queue files on disk.", move || b.queue_stats().bytes_on_disk);
        registry.register(object);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_is_not_ok_while_an_output_file_is_failing() {
        let output = Arc::new(OutputStats::default());
        let health = health(vec![515], output.clone());
        STATS.listening.store(true, Ordering::Relaxed);
        assert!(health().serving);
        output.failing_files.store(1, Ordering::Relaxed);
        let said = health();
        assert!(!said.serving && said.detail.contains("1 output file(s) failed"), "{}", said.detail);
        output.failing_files.store(0, Ordering::Relaxed);
        assert!(health().serving);
    }
}
