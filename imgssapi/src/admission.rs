//! Who gets in: the two budgets of the collector's connections.
//!
//! A connection starts in the *front door*: a GSS connection until its
//! handshake completes, a plain TCP connection until it has sent its first
//! bytes. The front door has a cap overall (`$InputGSSServerMaxHandshakes`)
//! and per source address (`$InputGSSServerMaxHandshakesPerHost`; an IPv6
//! sender counts by its /64, which one host usually holds whole). Only an
//! established connection takes one of the `$InputGSSServerMaxSessions`
//! session slots. So unauthenticated connections, however many, never hold a
//! session slot, and a flood from a few addresses fills only those addresses'
//! share of the front door: a newcomer from an address over its cap is
//! refused at accept, other addresses keep getting in.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::FrontDoorLimits;
use crate::event_log::EventLog;

/// Why a connection was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every session slot is taken.
    NoSessionSlot,
    /// The front door is full, over all addresses.
    TooManyHandshakes,
    /// This address has its full share of the front door.
    TooManyFromHost,
}

impl Refusal {
    /// A short name, for the log's summary counts.
    pub fn kind(self) -> &'static str {
        match self {
            Refusal::NoSessionSlot => "refused: too many sessions",
            Refusal::TooManyHandshakes => "refused: too many handshakes",
            Refusal::TooManyFromHost => "refused: too many handshakes from one address",
        }
    }
}

/// The shared budgets, and the log of the events they cause.
pub struct Admission {
    limits: FrontDoorLimits,
    max_sessions: usize,
    sessions: Arc<Semaphore>,
    front_door: Mutex<FrontDoorCounts>,
    pub log: EventLog,
}

#[derive(Default)]
struct FrontDoorCounts {
    total: usize,
    per_host: HashMap<HostKey, usize>,
}

/// An address as the per-host cap counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct HostKey(IpAddr);

impl HostKey {
    fn of(ip: IpAddr) -> HostKey {
        match ip {
            IpAddr::V4(v4) => HostKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => HostKey(IpAddr::V4(v4)),
                None => HostKey(IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into())),
            },
        }
    }
}

/// A connection's place in the front door, given back when it is dropped.
pub struct FrontDoorPlace {
    admission: Arc<Admission>,
    host: HostKey,
}

/// A connection's session slot, given back when it is dropped.
pub struct SessionSlot {
    _permit: OwnedSemaphorePermit,
}

impl Admission {
    pub fn new(limits: FrontDoorLimits, max_sessions: usize, log: EventLog) -> Self {
        Admission {
            limits,
            max_sessions,
            sessions: Arc::new(Semaphore::new(max_sessions)),
            front_door: Mutex::new(FrontDoorCounts::default()),
            log,
        }
    }

    pub fn limits(&self) -> &FrontDoorLimits {
        &self.limits
    }

    pub fn max_sessions(&self) -> usize {
        self.max_sessions
    }

    /// Sessions established now.
    pub fn open_sessions(&self) -> usize {
        self.max_sessions.saturating_sub(self.sessions.available_permits())
    }

    /// Connections in the front door now.
    pub fn awaiting_authentication(&self) -> usize {
        self.front_door.lock().map(|c| c.total).unwrap_or(0)
    }

    /// At accept: a place in the front door for a connection from `ip`.
    /// A connection is refused at once when every session slot is taken too
    /// (it could not become a session), so a full collector does no
    /// handshakes for nothing.
    pub fn enter(self: &Arc<Self>, ip: IpAddr) -> Result<FrontDoorPlace, Refusal> {
        if self.sessions.available_permits() == 0 {
            return Err(Refusal::NoSessionSlot);
        }
        let host = HostKey::of(ip);
        let mut counts = self.front_door.lock().map_err(|_| Refusal::TooManyHandshakes)?;
        let from_host = counts.per_host.get(&host).copied().unwrap_or(0);
        if from_host >= self.limits.max_handshakes_per_host {
            return Err(Refusal::TooManyFromHost);
        }
        if counts.total >= self.limits.max_handshakes {
            return Err(Refusal::TooManyHandshakes);
        }
        counts.total += 1;
        counts.per_host.insert(host, from_host + 1);
        Ok(FrontDoorPlace { admission: self.clone(), host })
    }

    /// After authentication (GSS) or the first bytes (plain): the connection
    /// leaves the front door and takes a session slot, if one is free.
    pub fn establish(&self, place: FrontDoorPlace) -> Result<SessionSlot, Refusal> {
        drop(place);
        match self.sessions.clone().try_acquire_owned() {
            Ok(permit) => Ok(SessionSlot { _permit: permit }),
            Err(_) => Err(Refusal::NoSessionSlot),
        }
    }

    fn leave(&self, host: HostKey) {
        let Ok(mut counts) = self.front_door.lock() else { return };
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_host.get_mut(&host) {
            *n -= 1;
            if *n == 0 {
                counts.per_host.remove(&host);
            }
        }
    }

    #[cfg(test)]
    fn in_front_door(&self) -> (usize, usize) {
        let counts = self.front_door.lock().unwrap();
        (counts.total, counts.per_host.len())
    }
}

impl Drop for FrontDoorPlace {
    fn drop(&mut self) {
        self.admission.leave(self.host);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn admission(max_handshakes: usize, per_host: usize, max_sessions: usize) -> Arc<Admission> {
        let limits = FrontDoorLimits { max_handshakes, max_handshakes_per_host: per_host, ..FrontDoorLimits::default() };
        Arc::new(Admission::new(limits, max_sessions, EventLog::new(Duration::from_secs(10), 20)))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_address_over_its_share_is_refused_and_others_still_get_in() {
        let a = admission(5, 2, 100);
        let flood: Vec<_> = (0..2).map(|_| a.enter(ip("127.0.0.2")).unwrap()).collect();
        assert_eq!(a.enter(ip("127.0.0.2")).err(), Some(Refusal::TooManyFromHost));
        assert_eq!(a.enter(ip("::ffff:127.0.0.2")).err(), Some(Refusal::TooManyFromHost), "a v4-mapped address is the same host");
        let other = a.enter(ip("127.0.0.4")).unwrap();
        drop(flood);
        assert!(a.enter(ip("127.0.0.2")).is_ok(), "a place freed is a place for the same address again");
        drop(other);
        assert_eq!(a.in_front_door(), (0, 0), "every place given back, no address left behind");
    }

    #[test]
    fn the_front_door_has_a_cap_over_all_addresses() {
        let a = admission(3, 2, 100);
        let _held: Vec<_> = ["10.0.0.1", "10.0.0.2", "10.0.0.3"].iter().map(|h| a.enter(ip(h)).unwrap()).collect();
        assert_eq!(a.enter(ip("10.0.0.4")).err(), Some(Refusal::TooManyHandshakes));
    }

    #[test]
    fn ipv6_senders_count_by_their_64() {
        let a = admission(10, 2, 100);
        let _one = a.enter(ip("2001:db8:1:2::1")).unwrap();
        let _two = a.enter(ip("2001:db8:1:2:ffff::9")).unwrap();
        assert_eq!(a.enter(ip("2001:db8:1:2:1234::1")).err(), Some(Refusal::TooManyFromHost));
        assert!(a.enter(ip("2001:db8:1:3::1")).is_ok(), "another /64 is another host");
    }

    #[test]
    fn only_established_connections_take_session_slots() {
        let a = admission(100, 100, 2);
        // Many connections in the front door do not fill two session slots.
        let waiting: Vec<_> = (1..=50).map(|i| a.enter(ip(&format!("10.0.0.{i}"))).unwrap()).collect();
        let mut waiting = waiting.into_iter();
        let s1 = a.establish(waiting.next().unwrap()).unwrap();
        let _s2 = a.establish(waiting.next().unwrap()).unwrap();
        assert_eq!(a.establish(waiting.next().unwrap()).err(), Some(Refusal::NoSessionSlot));
        assert_eq!(a.enter(ip("10.0.1.1")).err(), Some(Refusal::NoSessionSlot), "no handshakes while every slot is taken");
        drop(s1);
        assert!(a.establish(waiting.next().unwrap()).is_ok());
    }
}
