//! Who gets in: the two budgets of the collector's connections.
//!
//! A connection starts in the *front door*: a GSS connection until its
//! handshake completes, a plain TCP connection until it has sent its first
//! bytes. The front door has caps overall (`$InputGSSServerMaxHandshakes`),
//! per host (`$InputGSSServerMaxHandshakesPerHost`) and per subnet
//! (`$InputGSSServerMaxHandshakesPerSubnet`); when there is no room, a
//! connection that has not sent a complete token is closed for the newcomer
//! ([`crate::front_door`]). Only an established connection takes one of the
//! `$InputGSSServerMaxSessions` session slots, with caps per principal and
//! per host, and a fair share for a new sender ([`crate::slots`]). So
//! unauthenticated connections, however many, never hold a session slot, and
//! neither they nor one principal can keep others out.
//!
//! This file is the glue: the two state machines behind locks, and the
//! signals that close a displaced connection.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use tokio::sync::Notify;

use crate::front_door::FrontDoorLimits;
use crate::event_log::{EventKind, EventLog};
use crate::front_door::{self, FrontDoor, NoPlace};
use crate::slots::{self, Activity, Displaced, Sender, Slots};
use crate::source::Source;

/// Why a connection was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every session slot is taken, and no sender holds more than its share.
    NoSessionSlot,
    /// The sender holds as many sessions as its cap allows, all of them
    /// active (`$InputGSSServerReplaceIdleSessionAfter`).
    SenderBusy,
    /// The front door is full, and no place in it can be freed fairly.
    TooManyHandshakes,
    /// This address has its full share of the front door.
    TooManyFromHost,
    /// This address's subnet has its full share of the front door.
    TooManyFromSubnet,
}

impl Refusal {
    /// Its kind, for the log's summary counts.
    pub fn kind(self) -> EventKind {
        match self {
            Refusal::NoSessionSlot => EventKind::RefusedTooManySessions,
            Refusal::SenderBusy => EventKind::RefusedSenderBusy,
            Refusal::TooManyHandshakes => EventKind::RefusedTooManyHandshakes,
            Refusal::TooManyFromHost => EventKind::RefusedTooManyFromHost,
            Refusal::TooManyFromSubnet => EventKind::RefusedTooManyFromSubnet,
        }
    }
}

/// The session caps beside `$InputGSSServerMaxSessions`.
pub type SessionCaps = slots::Caps;

/// Tells a connection that it has been displaced, and why.
struct Closer<W> {
    why: OnceLock<W>,
    notify: Notify,
}

impl<W> Closer<W> {
    fn new() -> Self {
        Closer { why: OnceLock::new(), notify: Notify::new() }
    }

    fn close(&self, why: W) {
        let _ = self.why.set(why);
        // A stored permit: the connection sees it even if it is not waiting yet.
        self.notify.notify_one();
    }

    async fn closed(&self) -> &W {
        loop {
            if let Some(why) = self.why.get() {
                return why;
            }
            self.notify.notified().await;
        }
    }
}

/// What the session table keeps of a session: its closer, and when it last
/// received something.
#[derive(Clone)]
struct SlotHandle {
    closer: Arc<Closer<Displaced>>,
    last_active: Arc<AtomicU64>,
}

impl Activity for SlotHandle {
    fn last_active(&self) -> u64 {
        self.last_active.load(Ordering::Relaxed)
    }
}

/// The shared budgets, and the log of the events they cause.
pub struct Admission {
    limits: FrontDoorLimits,
    session_caps: SessionCaps,
    front_door: Mutex<FrontDoor<Arc<Closer<()>>>>,
    slots: Mutex<Slots<SlotHandle>>,
    started: Instant,
    pub log: EventLog,
}

/// A connection's place in the front door, given back when it is dropped.
pub struct FrontDoorPlace {
    admission: Arc<Admission>,
    id: u64,
    source: Source,
    closer: Arc<Closer<()>>,
    /// The front door was at least half full when it came in: its
    /// deadlines are shorter.
    pub under_pressure: bool,
}

/// A connection's session slot, given back when it is dropped.
pub struct SessionSlot {
    admission: Arc<Admission>,
    id: u64,
    handle: SlotHandle,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The tables stay consistent at every step: a panic elsewhere while
    // holding the lock leaves nothing half done.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Admission {
    pub fn new(limits: FrontDoorLimits, session_caps: SessionCaps, log: EventLog) -> Self {
        let door_caps = front_door::Caps {
            total: limits.max_handshakes,
            per_host: limits.max_handshakes_per_host,
            per_subnet: limits.max_handshakes_per_subnet,
        };
        Admission {
            limits,
            session_caps,
            front_door: Mutex::new(FrontDoor::new(door_caps)),
            slots: Mutex::new(Slots::new(session_caps)),
            started: Instant::now(),
            log,
        }
    }

    pub fn limits(&self) -> &FrontDoorLimits {
        &self.limits
    }

    pub fn session_caps(&self) -> &SessionCaps {
        &self.session_caps
    }

    pub fn max_sessions(&self) -> usize {
        self.session_caps.total
    }

    /// Sessions established now.
    pub fn open_sessions(&self) -> usize {
        lock(&self.slots).len()
    }

    /// Connections in the front door now.
    pub fn awaiting_authentication(&self) -> usize {
        lock(&self.front_door).len()
    }

    /// At accept: a place in the front door for a connection from `ip`,
    /// perhaps displacing one that has not sent a complete token. A
    /// connection is refused at once when no newcomer could get a session
    /// slot (every sender holds one, none from this host), so a full
    /// collector does no handshakes for nothing.
    pub fn enter(self: &Arc<Self>, ip: IpAddr) -> Result<FrontDoorPlace, Refusal> {
        let source = Source::of(ip, &self.limits.prefixes);
        if !lock(&self.slots).could_admit_from(&source.host) {
            return Err(Refusal::NoSessionSlot);
        }
        let closer = Arc::new(Closer::new());
        let mut door = lock(&self.front_door);
        let under_pressure = door.len() * 2 >= self.limits.max_handshakes;
        let admitted = door.enter(source, closer.clone()).map_err(|no| match no {
            NoPlace::Full => Refusal::TooManyHandshakes,
            NoPlace::HostFull => Refusal::TooManyFromHost,
            NoPlace::SubnetFull => Refusal::TooManyFromSubnet,
        })?;
        drop(door);
        if let Some(displaced) = admitted.displaced {
            crate::counters::add(&crate::counters::STATS.handshakes_displaced, 1);
            displaced.close(());
        }
        Ok(FrontDoorPlace { admission: self.clone(), id: admitted.id, source, closer, under_pressure })
    }

    /// After authentication (GSS) or the first bytes (plain): the connection
    /// leaves the front door and takes a session slot for `sender`,
    /// displacing another session if that is fair (see [`crate::slots`]).
    pub fn establish(self: &Arc<Self>, place: FrontDoorPlace, sender: Sender) -> Result<SessionSlot, Refusal> {
        let host = place.source.host;
        drop(place);
        let handle = SlotHandle { closer: Arc::new(Closer::new()), last_active: Arc::new(AtomicU64::new(self.now())) };
        let admitted = lock(&self.slots).admit(sender, host, handle.clone(), self.now()).map_err(|no| match no {
            slots::NoSlot::SenderBusy => Refusal::SenderBusy,
            slots::NoSlot::Full => Refusal::NoSessionSlot,
        })?;
        if let Some((displaced, why)) = admitted.displaced {
            crate::counters::add(&crate::counters::STATS.sessions_displaced, 1);
            displaced.closer.close(why);
        }
        Ok(SessionSlot { admission: self.clone(), id: admitted.id, handle })
    }

    /// Milliseconds since start: the clock of the sessions' activity.
    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

impl FrontDoorPlace {
    /// The connection has sent its whole first token: it is no longer
    /// displaced for newcomers.
    pub fn token_received(&self) {
        lock(&self.admission.front_door).token_received(self.id);
    }

    /// Resolves when a newcomer has displaced this connection.
    pub async fn displaced(&self) {
        self.closer.closed().await;
    }
}

impl Drop for FrontDoorPlace {
    fn drop(&mut self) {
        lock(&self.admission.front_door).leave(self.id);
    }
}

impl SessionSlot {
    /// The session received something (once per chunk, not per message).
    pub fn touch(&self) {
        self.handle.last_active.store(self.admission.now(), Ordering::Relaxed);
    }

    /// Resolves, with the reason, when another session has displaced this one.
    pub async fn displaced(&self) -> Displaced {
        *self.handle.closer.closed().await
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        lock(&self.admission.slots).release(self.id);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn admission(max_handshakes: usize, per_host: usize, max_sessions: usize) -> Arc<Admission> {
        let limits = FrontDoorLimits { max_handshakes, max_handshakes_per_host: per_host, ..FrontDoorLimits::default() };
        let caps = SessionCaps { total: max_sessions, per_sender: 100, per_host: 100, replace_idle: 0 };
        Arc::new(Admission::new(limits, caps, EventLog::new(Duration::from_secs(10), 20)))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn principal(name: &str) -> Sender {
        Sender::Principal(name.to_string())
    }

    #[test]
    fn an_address_over_its_share_is_refused_and_others_still_get_in() {
        let a = admission(5, 2, 100);
        let flood: Vec<_> = (0..2).map(|_| a.enter(ip("127.0.0.2")).unwrap()).collect();
        // Both sent their token: nothing of the address can be displaced.
        flood.iter().for_each(FrontDoorPlace::token_received);
        assert_eq!(a.enter(ip("127.0.0.2")).err(), Some(Refusal::TooManyFromHost));
        assert_eq!(a.enter(ip("::ffff:127.0.0.2")).err(), Some(Refusal::TooManyFromHost), "a v4-mapped address is the same host");
        let other = a.enter(ip("127.0.0.4")).unwrap();
        drop(flood);
        assert!(a.enter(ip("127.0.0.2")).is_ok(), "a place freed is a place for the same address again");
        drop(other);
        assert_eq!(a.awaiting_authentication(), 0, "every place given back");
    }

    #[tokio::test]
    async fn a_full_front_door_displaces_a_connection_that_has_not_sent_its_token() {
        let a = admission(3, 2, 100);
        let waiting = a.enter(ip("10.0.0.1")).unwrap();
        waiting.token_received();
        let silent = a.enter(ip("10.0.1.1")).unwrap();
        let _third = a.enter(ip("10.0.2.1")).unwrap();
        let _newcomer = a.enter(ip("10.0.3.1")).unwrap();
        tokio::time::timeout(Duration::from_secs(5), silent.displaced()).await.expect("the silent one is told to go");
        assert_eq!(a.awaiting_authentication(), 3);
        drop(silent);
        assert_eq!(a.awaiting_authentication(), 3, "its place was given to the newcomer already");
    }

    #[test]
    fn ipv6_senders_count_by_their_64() {
        let a = admission(10, 2, 100);
        let one = a.enter(ip("2001:db8:1:2::1")).unwrap();
        let two = a.enter(ip("2001:db8:1:2:ffff::9")).unwrap();
        one.token_received();
        two.token_received();
        assert_eq!(a.enter(ip("2001:db8:1:2:1234::1")).err(), Some(Refusal::TooManyFromHost));
        assert!(a.enter(ip("2001:db8:1:3::1")).is_ok(), "another /64 is another host");
    }

    #[tokio::test]
    async fn only_established_connections_take_session_slots_and_one_principal_makes_room() {
        let a = admission(100, 100, 2);
        // Many connections in the front door do not fill two session slots.
        let waiting: Vec<_> = (1..=50).map(|i| a.enter(ip(&format!("10.0.0.{i}"))).unwrap()).collect();
        let mut waiting = waiting.into_iter();
        let s1 = a.establish(waiting.next().unwrap(), principal("one")).unwrap();
        let s2 = a.establish(waiting.next().unwrap(), principal("two")).unwrap();
        assert_eq!(a.establish(waiting.next().unwrap(), principal("three")).err(), Some(Refusal::NoSessionSlot));
        assert_eq!(a.enter(ip("10.0.1.1")).err(), Some(Refusal::NoSessionSlot), "no handshakes while every sender holds its share");
        drop(s1);
        let s3 = a.establish(waiting.next().unwrap(), principal("two")).unwrap();
        // "two" holds both slots: a new principal displaces one of them.
        let _s4 = a.establish(waiting.next().unwrap(), principal("four")).unwrap();
        let one_of_two = async {
            tokio::select! {
                why = s2.displaced() => why,
                why = s3.displaced() => why,
            }
        };
        let why = tokio::time::timeout(Duration::from_secs(5), one_of_two).await.expect("one of two's sessions goes");
        assert_eq!(why, Displaced::FairShare);
        assert_eq!(a.open_sessions(), 2);
    }
}
