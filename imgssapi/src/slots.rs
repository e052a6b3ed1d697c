//! Established sessions' slots, as a state machine without I/O: who holds
//! them, and whose session is closed to make room for a newcomer.
//!
//! A *sender* is a principal (GSS) or, for plain TCP, a host. Caps: overall
//! (`$InputGSSServerMaxSessions`), per sender
//! (`$InputGSSServerMaxSessionsPerPrincipal`) and per host
//! (`$InputGSSServerMaxSessionsPerHost`). Idle sessions are never timed out
//! (rsyslog clients stay connected); instead, where there is no room:
//! - a sender at its cap replaces its own longest-idle session (a node that
//!   reconnected after its old connections died unseen gets in);
//! - a host at its cap: the longest-idle session of the sender holding the
//!   most sessions from that host gives way;
//! - all slots taken: the longest-idle session of the sender holding the
//!   most gives way, if it holds more than one more than the newcomer's
//!   sender (so no one is displaced to end up with more than the displaced);
//!   when every sender holds as many, the newcomer is refused.
//!
//! So one principal (or a few) can hold no more than its fair share while
//! others want in, and a new sender is never kept out by a sender with more.

use std::collections::HashMap;

use crate::source::Net;

/// The caps of [`Slots`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub total: usize,
    pub per_sender: usize,
    pub per_host: usize,
}

/// Who holds a session, for the caps.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Sender {
    Principal(String),
    /// A plain TCP sender: its host.
    Plain(Net),
}

/// Why a session was closed to make room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Displaced {
    /// Its sender opened one more than its cap allows.
    SenderCap,
    /// Its host has as many sessions as its cap allows.
    HostCap,
    /// Every slot was taken, and its sender held the most.
    FairShare,
}

/// What a session slot knows of its session: how long ago it last received
/// something (for the longest-idle choice).
pub trait Activity {
    /// When it last received something, in any unit that grows with time.
    fn last_active(&self) -> u64;
}

struct Slot<T> {
    sender: Sender,
    host: Net,
    payload: T,
}

pub struct Slots<T> {
    caps: Caps,
    next_id: u64,
    slots: HashMap<u64, Slot<T>>,
    per_sender: HashMap<Sender, usize>,
    per_host: HashMap<Net, usize>,
}

/// A newcomer's slot, and the session displaced to make room for it.
pub struct Admitted<T> {
    pub id: u64,
    pub displaced: Option<(T, Displaced)>,
}

impl<T: Activity> Slots<T> {
    pub fn new(caps: Caps) -> Self {
        Slots { caps, next_id: 0, slots: HashMap::new(), per_sender: HashMap::new(), per_host: HashMap::new() }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether a newcomer could get a slot at all: a slot is free, or some
    /// sender holds two or more (a new sender would displace one of them).
    pub fn could_admit_a_new_sender(&self) -> bool {
        self.slots.len() < self.caps.total || self.per_sender.values().any(|&n| n >= 2)
    }

    /// A slot for a session of `sender` from `host`, displacing another if
    /// need be; `None` when the newcomer would take a fair share from no one.
    pub fn admit(&mut self, sender: Sender, host: Net, payload: T) -> Option<Admitted<T>> {
        let mut displaced = None;
        if count(&self.per_sender, &sender) >= self.caps.per_sender {
            let victim = self.longest_idle(|s| s.sender == sender)?;
            displaced = self.remove(victim).map(|t| (t, Displaced::SenderCap));
        } else if count(&self.per_host, &host) >= self.caps.per_host {
            let on_host = self.busiest(|s| s.host == host)?;
            let victim = self.longest_idle(|s| s.host == host && s.sender == on_host)?;
            displaced = self.remove(victim).map(|t| (t, Displaced::HostCap));
        } else if self.slots.len() >= self.caps.total {
            let busiest = self.busiest(|_| true)?;
            if count(&self.per_sender, &busiest) < count(&self.per_sender, &sender) + 2 {
                return None;
            }
            let victim = self.longest_idle(|s| s.sender == busiest)?;
            displaced = self.remove(victim).map(|t| (t, Displaced::FairShare));
        }
        let id = self.next_id;
        self.next_id += 1;
        *self.per_sender.entry(sender.clone()).or_default() += 1;
        *self.per_host.entry(host).or_default() += 1;
        self.slots.insert(id, Slot { sender, host, payload });
        Some(Admitted { id, displaced })
    }

    /// Gives slot `id` back (nothing if it was displaced already).
    pub fn release(&mut self, id: u64) {
        self.remove(id);
    }

    fn remove(&mut self, id: u64) -> Option<T> {
        let slot = self.slots.remove(&id)?;
        decrement(&mut self.per_sender, &slot.sender);
        decrement(&mut self.per_host, &slot.host);
        Some(slot.payload)
    }

    /// The sender holding the most of the slots that `which` picks (ties:
    /// the one whose longest-idle session is idlest).
    fn busiest(&self, which: impl Fn(&Slot<T>) -> bool) -> Option<Sender> {
        let mut held: HashMap<&Sender, (usize, u64)> = HashMap::new();
        for s in self.slots.values().filter(|s| which(s)) {
            let e = held.entry(&s.sender).or_insert((0, u64::MAX));
            e.0 += 1;
            e.1 = e.1.min(s.payload.last_active());
        }
        held.into_iter().max_by(|a, b| a.1 .0.cmp(&b.1 .0).then(b.1 .1.cmp(&a.1 .1))).map(|(s, _)| s.clone())
    }

    /// The longest-idle of the slots that `which` picks (ties: the oldest).
    fn longest_idle(&self, which: impl Fn(&Slot<T>) -> bool) -> Option<u64> {
        self.slots.iter().filter(|(_, s)| which(s)).min_by_key(|(id, s)| (s.payload.last_active(), **id)).map(|(id, _)| *id)
    }
}

fn count<K: Eq + std::hash::Hash>(counts: &HashMap<K, usize>, key: &K) -> usize {
    counts.get(key).copied().unwrap_or(0)
}

fn decrement<K: Eq + std::hash::Hash>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = counts.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{Prefixes, Source};

    /// A session for the tests: its name, and when it last received.
    #[derive(Debug, PartialEq)]
    struct S(&'static str, u64);

    impl Activity for S {
        fn last_active(&self) -> u64 {
            self.1
        }
    }

    fn host(s: &str) -> Net {
        Source::of(s.parse().unwrap(), &Prefixes::default()).host
    }

    fn p(name: &str) -> Sender {
        Sender::Principal(format!("{name}@R"))
    }

    fn slots(total: usize, per_sender: usize, per_host: usize) -> Slots<S> {
        Slots::new(Caps { total, per_sender, per_host })
    }

    fn displaced(a: Option<Admitted<S>>) -> Option<(&'static str, Displaced)> {
        a.expect("admitted").displaced.map(|(s, why)| (s.0, why))
    }

    #[test]
    fn one_principal_holding_every_slot_gives_way_to_a_new_one() {
        let mut s = slots(4, 10, 10);
        for (i, name) in ["a1", "a2", "a3", "a4"].into_iter().enumerate() {
            assert_eq!(displaced(s.admit(p("attacker"), host("10.0.0.1"), S(name, 10 + i as u64))), None);
        }
        // a2 has been idle longest.
        s.slots.values_mut().find(|x| x.payload.0 == "a2").unwrap().payload.1 = 1;
        assert_eq!(displaced(s.admit(p("node"), host("10.0.0.2"), S("n1", 20))), Some(("a2", Displaced::FairShare)));
        assert_eq!(displaced(s.admit(p("other"), host("10.0.0.3"), S("o1", 20))), Some(("a1", Displaced::FairShare)));
        // attacker 2, node 1, other 1: the attacker does not get a slot back,
        // and neither does a sender that holds one already.
        assert!(s.admit(p("attacker"), host("10.0.0.1"), S("a5", 30)).is_none());
        assert!(s.admit(p("node"), host("10.0.0.2"), S("n2", 30)).is_none());
        // A third new sender still gets in, at the attacker's expense.
        assert_eq!(displaced(s.admit(p("third"), host("10.0.0.4"), S("t1", 30))), Some(("a3", Displaced::FairShare)));
        assert_eq!(s.len(), 4);
    }

    #[test]
    fn when_everyone_holds_one_the_newcomer_is_refused() {
        let mut s = slots(2, 10, 10);
        s.admit(p("a"), host("10.0.0.1"), S("a", 1)).unwrap();
        s.admit(p("b"), host("10.0.0.2"), S("b", 2)).unwrap();
        assert!(!s.could_admit_a_new_sender());
        assert!(s.admit(p("c"), host("10.0.0.3"), S("c", 3)).is_none());
    }

    #[test]
    fn a_sender_at_its_cap_replaces_its_own_longest_idle_session() {
        let mut s = slots(100, 2, 10);
        s.admit(p("n"), host("10.0.0.1"), S("old", 1)).unwrap();
        s.admit(p("n"), host("10.0.0.1"), S("recent", 5)).unwrap();
        s.admit(p("m"), host("10.0.0.2"), S("m", 0)).unwrap();
        assert_eq!(displaced(s.admit(p("n"), host("10.0.0.1"), S("new", 9))), Some(("old", Displaced::SenderCap)));
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn a_host_at_its_cap_makes_room_from_its_busiest_sender() {
        let mut s = slots(100, 10, 3);
        s.admit(p("x"), host("10.0.0.1"), S("x1", 1)).unwrap();
        s.admit(p("y"), host("10.0.0.1"), S("y1", 2)).unwrap();
        s.admit(p("y"), host("10.0.0.1"), S("y2", 3)).unwrap();
        assert_eq!(displaced(s.admit(p("z"), host("10.0.0.1"), S("z1", 4))), Some(("y1", Displaced::HostCap)));
        assert!(s.admit(p("w"), host("10.0.0.9"), S("w1", 4)).unwrap().displaced.is_none(), "other hosts are not affected");
    }

    #[test]
    fn plain_senders_count_by_host() {
        let mut s = slots(2, 1, 10);
        let plain = Sender::Plain(host("10.0.0.1"));
        s.admit(plain.clone(), host("10.0.0.1"), S("p1", 1)).unwrap();
        assert_eq!(displaced(s.admit(plain, host("10.0.0.1"), S("p2", 2))), Some(("p1", Displaced::SenderCap)));
    }

    #[test]
    fn a_displaced_slot_given_back_later_changes_nothing() {
        let mut s = slots(2, 1, 10);
        let old = s.admit(p("n"), host("10.0.0.1"), S("old", 1)).unwrap();
        let new = s.admit(p("n"), host("10.0.0.1"), S("new", 2)).unwrap();
        s.release(old.id);
        assert_eq!(s.len(), 1);
        s.release(new.id);
        assert!(s.slots.is_empty() && s.per_sender.is_empty() && s.per_host.is_empty());
    }
}
