//! The last-seen table: one row per sender address, updated by the sessions
//! as chunks arrive ([`Senders::received`]) and judged against the expected
//! senders once a second ([`Senders::check`]).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub use gsslog_senders::{Sender, Status};

use super::expected::{principal_matches, ExpectedSenders};

/// A status change, logged once at warning level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The address, or for a principal never seen, the principal.
    pub sender: String,
    pub principal: Option<String>,
    pub to: Status,
    pub last_seen: Option<u64>,
}

/// Counts of status changes since start.
#[derive(Debug, Default)]
pub struct TransitionCounts {
    pub silent: AtomicU64,
    pub back: AtomicU64,
    pub unexpected: AtomicU64,
    /// Rows dropped by [`Senders::forget`].
    pub forgotten: AtomicU64,
    /// Chunks from senders given no row because the table was full
    /// (`$InputGSSServerMaxSenders`).
    pub untracked: AtomicU64,
}

/// The table and what it is judged against.
pub struct Senders {
    inner: Mutex<Inner>,
    pub transitions: TransitionCounts,
}

#[derive(Default)]
pub struct Inner {
    pub rows: HashMap<IpAddr, Sender>,
    /// Principals on the list that no row has shown yet, with their status.
    pub unseen_principals: BTreeMap<String, Status>,
    pub expected: Option<Arc<ExpectedSenders>>,
    /// When the list was loaded: a listed sender never seen counts as seen then.
    pub listed_at: u64,
    pub silent_after: u64,
    /// `$InputGSSServerForgetSendersAfter` in seconds; 0: never.
    pub forget_after: u64,
    /// `$InputGSSServerMaxSenders`: rows beyond it go only to listed senders.
    pub max_rows: usize,
    /// Whether the table has been found full since it last had room (logged once).
    pub full: bool,
}

impl Inner {
    fn judge(&self, ip: IpAddr, row: &Sender, now: u64) -> Status {
        let Some(list) = &self.expected else { return Status::Unlisted };
        if !list.expects(ip, row.principal.as_deref()) {
            return Status::Unexpected;
        }
        let last = row.last_seen().unwrap_or(self.listed_at);
        if now.saturating_sub(last) > self.silent_after {
            Status::Silent
        } else {
            Status::Expected
        }
    }
}

impl Senders {
    pub fn new(silent_after: u64) -> Senders {
        let inner = Inner { silent_after, max_rows: super::settings::DEFAULT_MAX_SENDERS, ..Inner::default() };
        Senders { inner: Mutex::new(inner), transitions: TransitionCounts::default() }
    }

    pub fn set_max_rows(&self, rows: usize) {
        self.lock().max_rows = rows;
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_silent_after(&self, seconds: u64) {
        self.lock().silent_after = seconds;
    }

    pub fn set_forget_after(&self, seconds: u64) {
        self.lock().forget_after = seconds;
    }

    /// Drops the rows of senders that are not on the expected list (or of
    /// any sender when there is no list) and have not been heard from for
    /// longer than `forget_after`: decommissioned nodes, one-off senders.
    /// A listed sender is never dropped, however long silent: it stays
    /// silent until the list no longer names it. Returns how many went.
    pub fn forget(&self, now: u64) -> usize {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if inner.forget_after == 0 {
            return 0;
        }
        let before = inner.rows.len();
        let (expected, forget_after) = (inner.expected.clone(), inner.forget_after);
        inner.rows.retain(|ip, row| {
            let listed = expected.as_ref().is_some_and(|l| l.expects(*ip, row.principal.as_deref()));
            listed || row.last_seen().is_none_or(|t| now.saturating_sub(t) <= forget_after)
        });
        let forgotten = before - inner.rows.len();
        self.transitions.forgotten.fetch_add(forgotten as u64, Ordering::Relaxed);
        forgotten
    }

    /// Takes a (new) list at `now`: its single addresses get a row if they
    /// have none, rows that were only there for an old list go.
    pub fn set_expected(&self, list: Option<ExpectedSenders>, now: u64) {
        let mut inner = self.lock();
        let list = list.map(Arc::new);
        inner.rows.retain(|ip, row| row.last_seen().is_some() || list.as_ref().is_some_and(|l| l.addresses().any(|a| a == *ip)));
        if let Some(l) = &list {
            for ip in l.addresses() {
                inner.rows.entry(ip).or_default();
            }
            let old = std::mem::take(&mut inner.unseen_principals);
            for p in l.principals() {
                let status = old.get(p).copied().unwrap_or_default();
                inner.unseen_principals.insert(p.to_string(), status);
            }
        } else {
            inner.unseen_principals.clear();
        }
        inner.expected = list;
        inner.listed_at = now;
    }

    /// `messages` messages in `bytes` bytes from `ip` at `now`; `heartbeat`
    /// when they include a `-- MARK --` message or a protocol heartbeat.
    /// A sender new to a full table (`$InputGSSServerMaxSenders` rows) gets a
    /// row only if the expected list names it: unauthenticated plain-TCP
    /// peers from ever new addresses cannot grow the table, its state file
    /// and the metrics without bound. The first refusal since the table last
    /// had room is logged; each is counted in `untracked`.
    pub fn received(&self, ip: IpAddr, principal: Option<&str>, messages: u64, bytes: u64, heartbeat: bool, now: u64) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if !inner.rows.contains_key(&ip) {
            if inner.rows.len() >= inner.max_rows && !inner.expected.as_ref().is_some_and(|l| l.expects(ip, principal)) {
                self.transitions.untracked.fetch_add(1, Ordering::Relaxed);
                if !std::mem::replace(&mut inner.full, true) {
                    tracing::warn!(%ip, rows = inner.rows.len(), "the senders' table is full ($InputGSSServerMaxSenders): senders not on the expected list get no row until old ones are forgotten");
                }
                return;
            }
            inner.full = inner.rows.len() >= inner.max_rows;
        }
        let row = inner.rows.entry(ip).or_default();
        if principal.is_some() && row.principal.as_deref() != principal {
            row.principal = principal.map(str::to_string);
        }
        let day = now / 86_400;
        if row.day != day {
            row.day = day;
            row.messages_today = 0;
            row.bytes_today = 0;
        }
        row.messages_today += messages;
        row.bytes_today += bytes;
        if messages > 0 {
            row.last_message = Some(now);
        }
        if heartbeat {
            row.last_heartbeat = Some(now);
        }
        if row.status == Status::Silent && (messages > 0 || heartbeat) {
            row.status = Status::Expected;
            row.returned = true;
        }
    }

    /// Judges every sender at `now`; returns the status changes (each once).
    pub fn check(&self, now: u64) -> Vec<Transition> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let mut changes = Vec::new();
        let mut rows = std::mem::take(&mut inner.rows);
        for (ip, row) in rows.iter_mut() {
            let to = inner.judge(*ip, row, now);
            let from = if std::mem::take(&mut row.returned) { Status::Silent } else { row.status };
            if let (Some(p), false) = (&row.principal, inner.unseen_principals.is_empty()) {
                inner.unseen_principals.retain(|want, _| !principal_matches(want, p));
            }
            if let Some(t) = self.transition(from, to) {
                changes.push(Transition { sender: ip.to_string(), principal: row.principal.clone(), to: t, last_seen: row.last_seen() });
            }
            row.status = to;
        }
        inner.rows = rows;
        let (listed_at, silent_after) = (inner.listed_at, inner.silent_after);
        for (principal, status) in inner.unseen_principals.iter_mut() {
            let to = if now.saturating_sub(listed_at) > silent_after { Status::Silent } else { Status::Expected };
            if let Some(t) = self.transition(*status, to) {
                changes.push(Transition { sender: principal.clone(), principal: Some(principal.clone()), to: t, last_seen: None });
            }
            *status = to;
        }
        changes
    }

    /// The change worth a log line and a count, if any.
    fn transition(&self, from: Status, to: Status) -> Option<Status> {
        let counter = match (from, to) {
            (Status::Silent, Status::Expected) => &self.transitions.back,
            (Status::Unlisted | Status::Expected, Status::Silent) => &self.transitions.silent,
            (f, Status::Unexpected) if f != Status::Unexpected => &self.transitions.unexpected,
            _ => return None,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Some(to)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn table(list: &str) -> Senders {
        let s = Senders::new(30);
        s.set_expected(Some(ExpectedSenders::parse(Path::new("l"), list).unwrap()), 1000);
        s
    }

    #[test]
    fn messages_and_bytes_count_per_utc_day() {
        let s = Senders::new(30);
        s.received(ip("10.0.0.1"), Some("host/a@R"), 2, 100, false, 86_400 * 5 + 10);
        s.received(ip("10.0.0.1"), None, 1, 50, true, 86_400 * 5 + 20);
        let row = s.lock().rows[&ip("10.0.0.1")].clone();
        assert_eq!((row.messages_today, row.bytes_today, row.last_message, row.last_heartbeat), (3, 150, Some(86_400 * 5 + 20), Some(86_400 * 5 + 20)));
        assert_eq!(row.principal.as_deref(), Some("host/a@R"));
        s.received(ip("10.0.0.1"), None, 1, 7, false, 86_400 * 6 + 1);
        let row = s.lock().rows[&ip("10.0.0.1")].clone();
        assert_eq!((row.messages_today, row.bytes_today, row.last_heartbeat), (1, 7, Some(86_400 * 5 + 20)));
    }

    #[test]
    fn a_listed_sender_goes_silent_after_the_limit_and_not_before_and_comes_back() {
        let s = table("10.0.0.1\n10.0.0.2\n");
        s.received(ip("10.0.0.1"), None, 1, 10, false, 1000);
        assert!(s.check(1010).is_empty());
        // Marks alone keep a sender from being silent.
        s.received(ip("10.0.0.2"), None, 0, 0, true, 1020);
        s.received(ip("10.0.0.2"), None, 0, 0, true, 1040);
        assert!(s.check(1030).is_empty());
        let changes = s.check(1031);
        assert_eq!(changes, [Transition { sender: "10.0.0.1".into(), principal: None, to: Status::Silent, last_seen: Some(1000) }]);
        assert!(s.check(1040).is_empty(), "a transition is reported once");
        s.received(ip("10.0.0.1"), None, 1, 10, false, 1050);
        assert_eq!(s.lock().rows[&ip("10.0.0.1")].status, Status::Expected, "shown as back at once");
        let changes = s.check(1050);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].to, Status::Expected);
        assert_eq!(s.transitions.silent.load(Ordering::Relaxed), 1);
        assert_eq!(s.transitions.back.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_listed_sender_never_seen_is_silent_from_the_listing_on() {
        let s = table("10.0.0.9\nhost/n1@R\n");
        assert!(s.check(1030).is_empty());
        let mut changes: Vec<_> = s.check(1031).into_iter().map(|t| (t.sender, t.to)).collect();
        changes.sort();
        assert_eq!(changes, [("10.0.0.9".to_string(), Status::Silent), ("host/n1@R".to_string(), Status::Silent)]);
        // Once the principal shows up on an address, that address is the sender.
        s.received(ip("10.1.1.1"), Some("host/n1@R"), 1, 1, false, 1040);
        let changes = s.check(1040);
        assert_eq!(changes, []);
        assert!(s.lock().unseen_principals.is_empty());
        assert_eq!(s.lock().rows[&ip("10.1.1.1")].status, Status::Expected);
    }

    #[test]
    fn an_unlisted_sender_is_unexpected_once() {
        let s = table("10.0.0.0/24\n");
        s.received(ip("10.0.1.1"), None, 1, 1, false, 1000);
        s.received(ip("10.0.0.7"), None, 1, 1, false, 1000);
        let changes = s.check(1001);
        assert_eq!(changes, [Transition { sender: "10.0.1.1".into(), principal: None, to: Status::Unexpected, last_seen: Some(1000) }]);
        assert!(s.check(1002).is_empty());
        assert_eq!(s.transitions.unexpected.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn senders_off_the_list_are_forgotten_after_the_limit_and_listed_ones_never() {
        const DAY: u64 = 86_400;
        let s = table("10.0.0.0/24\nhost/kept@R\n");
        s.set_forget_after(30 * DAY);
        s.received(ip("10.0.0.1"), None, 1, 1, false, 1000);
        s.received(ip("10.0.1.1"), None, 1, 1, false, 1000);
        s.received(ip("10.0.1.2"), Some("host/kept@R"), 1, 1, false, 1000);
        s.received(ip("10.0.1.3"), None, 1, 1, false, 1000 + DAY);
        s.check(1000 + DAY);
        assert_eq!(s.forget(1000 + 30 * DAY), 0, "not before the limit");
        assert_eq!(s.forget(1001 + 30 * DAY), 1);
        let rows = s.lock().rows.clone();
        assert!(!rows.contains_key(&ip("10.0.1.1")), "unexpected and quiet for 30 days: gone");
        assert_eq!(rows[&ip("10.0.0.1")].status, Status::Silent, "listed by network: kept, silent");
        assert!(rows.contains_key(&ip("10.0.1.2")), "listed by principal: kept");
        assert!(rows.contains_key(&ip("10.0.1.3")), "heard from a day later: kept");
        assert!(!gsslog_senders::state_file::render(&rows).contains("10.0.1.1"), "nor in the state file");
        assert_eq!(s.transitions.forgotten.load(Ordering::Relaxed), 1);
        // A listed sender is dropped once the list no longer names it.
        s.set_expected(Some(ExpectedSenders::parse(Path::new("l"), "10.0.1.3\n").unwrap()), 2000 + 30 * DAY);
        assert_eq!(s.forget(2000 + 30 * DAY), 2);
        // Without a list, any sender; 0 forgets nothing.
        let s = Senders::new(30);
        s.set_forget_after(DAY);
        s.received(ip("10.0.0.1"), None, 1, 1, false, 1000);
        assert_eq!(s.forget(1000 + DAY + 1), 1);
        s.received(ip("10.0.0.1"), None, 1, 1, false, 1000);
        s.set_forget_after(0);
        assert_eq!(s.forget(u64::MAX), 0);
    }

    #[test]
    fn a_full_table_takes_no_new_unlisted_sender_but_still_takes_listed_ones() {
        let t = table("10.9.9.9\n");
        t.set_max_rows(3);
        // The listed address has its row already; two more fill the table.
        t.received(ip("10.0.0.1"), None, 1, 10, false, 100);
        t.received(ip("10.0.0.2"), None, 1, 10, false, 100);
        t.received(ip("10.0.0.3"), None, 1, 10, false, 100);
        assert_eq!(t.lock().rows.len(), 3);
        assert!(!t.lock().rows.contains_key(&ip("10.0.0.3")));
        assert_eq!(t.transitions.untracked.load(Ordering::Relaxed), 1);
        // Known senders go on being counted; a listed one is always taken.
        t.received(ip("10.0.0.1"), None, 1, 10, false, 101);
        assert_eq!(t.lock().rows[&ip("10.0.0.1")].messages_today, 2);
        t.set_expected(Some(ExpectedSenders::parse(Path::new("list"), "10.9.9.9\n10.0.0.4\n").unwrap()), 102);
        t.received(ip("10.0.0.4"), None, 1, 10, false, 103);
        assert!(t.lock().rows.contains_key(&ip("10.0.0.4")));
    }

    #[test]
    fn without_a_list_nothing_is_judged() {
        let s = Senders::new(30);
        s.received(ip("10.0.0.1"), None, 1, 1, false, 0);
        assert!(s.check(100_000).is_empty());
        assert_eq!(s.lock().rows[&ip("10.0.0.1")].status, Status::Unlisted);
    }
}
