//! Who has been sending, and who has gone quiet: the collector's per-sender
//! last-seen table.
//!
//! Every chunk a session receives updates its sender's row (keyed by
//! fromhost-ip, with the principal where known): the time of the last
//! message, of the last heartbeat (a `-- MARK --` message, or the
//! acknowledged mode's heartbeat), messages and bytes today. Once a second
//! the table is judged against `$InputGSSServerExpectedSenders`
//! ([`expected`]): each change (silent, back, unexpected) is logged once at
//! warning level and counted. The table is kept in `$WorkDirectory`
//! ([`state_file`]) and shown on the metrics endpoint ([`report`]).

pub mod expected;
pub mod report;
pub mod settings;
pub mod table;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use daemon::metrics::{Registry, StatsObject};
use daemon::metrics_http::{Health, HealthCheck};
use daemon::signals::Shutdown;
use syslog::Origin;

use gsslog_senders::state_file;
pub use settings::SenderSettings;
use table::{Senders, Status, Transition};

/// The collector's one table.
static TABLE: LazyLock<Senders> = LazyLock::new(|| Senders::new(settings::DEFAULT_SILENT_AFTER.as_secs()));
/// Where it is kept, once [`start`] has said.
static STATE_FILE: Mutex<Option<PathBuf>> = Mutex::new(None);

/// How often the table is judged, and how often it is saved.
const CHECK_EVERY: Duration = Duration::from_secs(1);
const SAVE_EVERY: Duration = Duration::from_secs(30);

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Whether a complete message (as framed, with its header) is a mark:
/// rsyslog's immark writes `-- MARK --` as the whole message text.
pub fn is_mark(frame: &[u8]) -> bool {
    let mut end = frame.len();
    while end > 0 && matches!(frame[end - 1], b'\n' | b'\r' | 0) {
        end -= 1;
    }
    let frame = &frame[..end];
    frame.ends_with(b" -- MARK --") || frame == b"-- MARK --"
}

/// What a chunk's complete messages tell the table: how many, and whether
/// one of them is a mark. Each message is added once, as it is framed.
#[derive(Debug, Default)]
pub struct Tally {
    pub messages: u64,
    pub mark: bool,
}

impl Tally {
    pub fn add(&mut self, message: &[u8]) {
        self.messages += 1;
        self.mark |= is_mark(message);
    }
}

/// A session's chunk: `bytes` received, its complete messages as `tally`
/// counted them, from the sender of `origin`. An empty chunk is the
/// acknowledged mode's heartbeat (`gsswire::ack::HEARTBEAT`): only a GSS
/// token can be empty, and only our shipper sends one.
pub fn received(origin: &Origin, bytes: usize, tally: Tally) {
    let Ok(ip) = origin.fromhost_ip.parse::<IpAddr>() else { return };
    let mark = bytes == 0 || tally.mark;
    let principal = Some(origin.provenance.principal.as_str()).filter(|p| !p.is_empty());
    TABLE.received(ip, principal, tally.messages, bytes as u64, mark, now());
}

/// Loads the kept table, takes the expected senders, registers the metrics
/// and the `/senders` page, and judges the table every second until
/// `shutdown`. Call inside the runtime.
pub fn start(settings: &SenderSettings, registry: &Registry, shutdown: Shutdown) {
    TABLE.set_silent_after(settings.silent_after().as_secs());
    TABLE.set_forget_after(settings.forget_after());
    TABLE.set_max_rows(settings.max_rows);
    let state = settings.state_file();
    if let Some(path) = &state {
        match state_file::read(path) {
            Ok(rows) => {
                tracing::info!(path = %path.display(), senders = rows.len(), "senders' last-seen times read");
                TABLE.lock().rows = rows;
            }
            Err(e) => tracing::error!(error = %e, "the senders' last-seen times are lost; starting afresh"),
        }
    }
    *STATE_FILE.lock().unwrap_or_else(|p| p.into_inner()) = state;
    TABLE.set_expected(settings.expected.clone(), now());
    register(registry);
    tokio::spawn(watch(shutdown));
}

/// SIGHUP: reads the expected senders file again; a bad file keeps the old list.
pub fn reload() {
    let Some(path) = TABLE.lock().expected.as_ref().map(|l| l.path.clone()) else { return };
    match expected::ExpectedSenders::load(&path) {
        Ok(list) => {
            let entries = list.entries.len();
            TABLE.set_expected(Some(list), now());
            // Judged against the new list at once, not at the next tick.
            for t in &TABLE.check(now()) {
                log(t);
            }
            tracing::info!(path = %path.display(), entries, "SIGHUP: expected senders read again");
        }
        Err(e) => tracing::error!(error = %e, "SIGHUP: keeping the expected senders as they were"),
    }
}

/// Writes the table to `$WorkDirectory` now (at shutdown, once the sessions are done).
pub fn save() {
    let Some(path) = STATE_FILE.lock().unwrap_or_else(|p| p.into_inner()).clone() else { return };
    save_to(&path);
}

fn save_to(path: &Path) {
    let text = state_file::render(&TABLE.lock().rows);
    // Logged when saving starts failing and when it works again, not every time.
    static FAILING: AtomicBool = AtomicBool::new(false);
    match state_file::write(path, &text) {
        Ok(()) if FAILING.swap(false, Ordering::Relaxed) => tracing::info!(path = %path.display(), "senders' last-seen times saved again"),
        Ok(()) => {}
        Err(e) if !FAILING.swap(true, Ordering::Relaxed) => tracing::error!(error = %e, "senders' last-seen times not saved"),
        Err(_) => {}
    }
}

async fn watch(mut shutdown: Shutdown) {
    let mut every = tokio::time::interval(CHECK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_save = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = shutdown.triggered() => return,
        }
        let now = now();
        let changes = TABLE.check(now);
        for t in &changes {
            log(t);
        }
        let forgotten = TABLE.forget(now);
        if forgotten > 0 {
            tracing::info!(senders = forgotten, "senders not on the expected list and not heard from for $InputGSSServerForgetSendersAfter forgotten");
        }
        if !changes.is_empty() || forgotten > 0 || last_save.elapsed() >= SAVE_EVERY {
            last_save = tokio::time::Instant::now();
            let _ = tokio::task::spawn_blocking(save).await;
        }
    }
}

fn log(t: &Transition) {
    let principal = t.principal.as_deref().unwrap_or("-");
    let last_seen = t.last_seen.map_or("never".to_string(), |s| s.to_string());
    match t.to {
        Status::Silent => tracing::warn!(sender = %t.sender, principal, last_seen, "expected sender is silent"),
        Status::Expected => tracing::warn!(sender = %t.sender, principal, "silent sender is back"),
        Status::Unexpected => tracing::warn!(sender = %t.sender, principal, "unexpected sender (not in $InputGSSServerExpectedSenders)"),
        Status::Unlisted => {}
    }
}

/// The collector's health, with how many expected senders are silent
/// (which never makes the collector unhealthy).
pub fn with_health(inner: HealthCheck) -> HealthCheck {
    Arc::new(move || {
        let Health { serving, mut detail } = inner();
        if let Some(senders) = report::health(&TABLE.lock()) {
            detail = format!("{detail}; {senders}");
        }
        Health { serving, detail }
    })
}

fn register(registry: &Registry) {
    let count = |pick: fn(report::Counts) -> u64| move || pick(report::counts(&TABLE.lock()));
    registry.register(
        StatsObject::new("senders", "imgssapi", "collector", vec![])
            .gauge("senders.known", "Senders in the last-seen table (and expected principals never seen).", count(|c| c.known))
            .gauge("senders.expected", "Senders on $InputGSSServerExpectedSenders.", count(|c| c.expected))
            .gauge("senders.silent", "Expected senders silent longer than $InputGSSServerSilentAfter.", count(|c| c.silent))
            .gauge("senders.unexpected", "Senders not on $InputGSSServerExpectedSenders.", count(|c| c.unexpected))
            .counter("senders.went_silent", "Expected senders that went silent.", || TABLE.transitions.silent.load(Ordering::Relaxed))
            .counter("senders.came_back", "Silent senders that were heard from again.", || TABLE.transitions.back.load(Ordering::Relaxed))
            .counter("senders.unexpected_seen", "Senders seen that are not on the list.", || TABLE.transitions.unexpected.load(Ordering::Relaxed))
            .counter("senders.forgotten", "Senders dropped from the table after $InputGSSServerForgetSendersAfter (not on the list, not heard from).", || {
                TABLE.transitions.forgotten.load(Ordering::Relaxed)
            })
            .counter("senders.untracked", "Chunks from senders given no row: the table was full ($InputGSSServerMaxSenders) and the list does not name them.", || {
                TABLE.transitions.untracked.load(Ordering::Relaxed)
            }),
    );
    registry.register_samples(Box::new(|text| report::prometheus(&TABLE.lock(), now(), text)));
    registry.add_page("/senders", "application/json", Box::new(|| report::json(&TABLE.lock(), now())));
    registry.add_page("/senders.txt", "text/plain", Box::new(|| report::text(&TABLE.lock(), now())));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_as_rsyslog_and_our_shipper_write_them() {
        assert!(is_mark(b"<46>Dec  7 18:21:53 vm rsyslogd: -- MARK --"));
        assert!(is_mark(b"<46>Dec  7 18:21:53 vm rsyslogd: -- MARK --\n"));
        assert!(is_mark(b"-- MARK --"));
        assert!(!is_mark(b"<13>Dec  7 18:21:53 vm app: not -- MARK -- at all"));
        assert!(!is_mark(b"<13>Dec  7 18:21:53 vm app:-- MARK --x"));
    }
}
