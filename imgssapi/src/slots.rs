//! Established sessions' slots, as a state machine without I/O: who holds
//! them, and whose session is closed to make room for a newcomer.
//!
//! A *sender* is a principal (GSS) or, for plain TCP, a host. Caps: overall
//! (`$InputGSSServerMaxSessions`), per sender
//! (`$InputGSSServerMaxSessionsPerPrincipal`) and per host
//! (`$InputGSSServerMaxSessionsPerHost`). Idle sessions are never timed out
//! (rsyslog clients stay connected); instead, where there is no room:
//! - a sender at its cap replaces its own longest-idle session, if that
//!   session has received nothing for `replace_idle`
//!   (`$InputGSSServerReplaceIdleSessionAfter`): a node that reconnected
//!   after its old connections died unseen gets in, and more live senders
//!   sharing one principal than its cap (a NAT'd site) do not displace each
//!   other in turn: the newcomer is refused, backs off and retries;
//! - a host at its cap: the longest-idle session of the sender holding the
//!   most sessions from that host gives way, if it holds more than one more
//!   there than the newcomer's sender;
//! - all slots taken: the longest-idle session of the sender holding the
//!   most gives way, if it holds more than one more than the newcomer's
//!   sender (so no one is displaced to end up with more than the displaced);
//! - where that finds no one, a newcomer whose sender holds a session (on
//!   that host, at the host cap) replaces its own longest-idle one, under
//!   the same `replace_idle` rule: a node whose only session died unseen
//!   gets back in; otherwise it is refused;
//! - a plain-TCP sender, which proves nothing, never displaces a GSS session.
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
    /// How long a session must have received nothing before a newer session
    /// of its own sender may replace it, in the unit of
    /// [`Activity::last_active`] (milliseconds in the collector). Sessions of
    /// other senders are displaced by the fair-share rules, which need no
    /// idle time: their hysteresis keeps them from churning.
    pub replace_idle: u64,
}

/// Why a newcomer got no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSlot {
    /// Its sender holds as many sessions as its cap allows, and none of them
    /// has been idle for `replace_idle`.
    SenderBusy,
    /// Every slot (of its host, or overall) is taken, no sender holds more
    /// than its share, and none of its own sessions there has been idle for
    /// `replace_idle`.
    Full,
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
    /// No slot was free for its own sender's newer session, and no one held
    /// more: the longest idle of its sender's sessions (one that died
    /// unseen, as a rule) gave way.
    ReplacedByOwn,
}

/// What a session slot knows of its session: how long ago it last received
/// something (for the longest-idle choice).
pub trait Activity {
    /// When it last received something, in the unit of the `now` given to
    /// [`Slots::admit`] and of [`Caps::replace_idle`].
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

    /// Whether a newcomer from `host` could get a slot at all: a slot is
    /// free, some sender holds two or more (a new sender would displace one
    /// of them), or `host` holds one (the newcomer may be its sender
    /// reconnecting after its session died unseen, which it then replaces).
    pub fn could_admit_from(&self, host: &Net) -> bool {
        self.slots.len() < self.caps.total || self.per_sender.values().any(|&n| n >= 2) || count(&self.per_host, host) > 0
    }

    /// A slot for a session of `sender` from `host`, at time `now`,
    /// displacing another if need be; refused when the newcomer would take a
    /// fair share from no one and holds no session of its own that has been
    /// idle long enough to replace.
    pub fn admit(&mut self, sender: Sender, host: Net, payload: T, now: u64) -> Result<Admitted<T>, NoSlot> {
        // A plain-TCP sender proves nothing: it never displaces a GSS session.
        let plain = matches!(sender, Sender::Plain(_));
        let may_displace = |s: &Slot<T>| !plain || matches!(s.sender, Sender::Plain(_));
        let replace_idle = self.caps.replace_idle;
        // Its own session that it may replace: one idle long enough, so that
        // live sessions of one sender do not replace each other in turn.
        let own_idle = |s: &Slot<T>| s.sender == sender && now.saturating_sub(s.payload.last_active()) >= replace_idle;
        let mut displaced = None;
        if count(&self.per_sender, &sender) >= self.caps.per_sender {
            let victim = self.longest_idle(own_idle).ok_or(NoSlot::SenderBusy)?;
            displaced = self.remove(victim).map(|t| (t, Displaced::SenderCap));
        } else if count(&self.per_host, &host) >= self.caps.per_host {
            let on_host = |s: &Slot<T>| s.host == host;
            let (victim, why) = match self.fairest(&sender, |s| on_host(s) && may_displace(s)) {
                Some(victim) => (victim, Displaced::HostCap),
                None => (self.longest_idle(|s| on_host(s) && own_idle(s)).ok_or(NoSlot::Full)?, Displaced::ReplacedByOwn),
            };
            displaced = self.remove(victim).map(|t| (t, why));
        } else if self.slots.len() >= self.caps.total {
            let (victim, why) = match self.fairest(&sender, may_displace) {
                Some(victim) => (victim, Displaced::FairShare),
                None => (self.longest_idle(own_idle).ok_or(NoSlot::Full)?, Displaced::ReplacedByOwn),
            };
            displaced = self.remove(victim).map(|t| (t, why));
        }
        let id = self.next_id;
        self.next_id += 1;
        *self.per_sender.entry(sender.clone()).or_default() += 1;
        *self.per_host.entry(host).or_default() += 1;
        self.slots.insert(id, Slot { sender, host, payload });
        Ok(Admitted { id, displaced })
    }

    /// Of the slots that `which` picks: the longest-idle session of the
    /// sender holding the most, if it holds at least two more than
    /// `newcomer` (so no one is displaced to end up with more than the
    /// displaced, and two senders do not displace each other in turn).
    fn fairest(&self, newcomer: &Sender, which: impl Fn(&Slot<T>) -> bool) -> Option<u64> {
        let busiest = self.busiest(&which)?;
        let held = |sender: &Sender| self.slots.values().filter(|s| which(s) && s.sender == *sender).count();
        if held(&busiest) < held(newcomer) + 2 {
            return None;
        }
        self.longest_idle(|s| which(s) && s.sender == busiest)
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

    /// The clock of the tests that do not look at idle times: every session
    /// has been idle for at least 0, the `replace_idle` of [`slots`].
    const NOW: u64 = 1000;

    fn slots(total: usize, per_sender: usize, per_host: usize) -> Slots<S> {
        Slots::new(Caps { total, per_sender, per_host, replace_idle: 0 })
    }

    fn displaced(a: Result<Admitted<S>, NoSlot>) -> Option<(&'static str, Displaced)> {
        a.expect("admitted").displaced.map(|(s, why)| (s.0, why))
    }

    #[test]
    fn one_principal_holding_every_slot_gives_way_to_a_new_one() {
        let mut s = slots(4, 10, 10);
        for (i, name) in ["a1", "a2", "a3", "a4"].into_iter().enumerate() {
            assert_eq!(displaced(s.admit(p("attacker"), host("10.0.0.1"), S(name, 10 + i as u64), NOW)), None);
        }
        // a2 has been idle longest.
        s.slots.values_mut().find(|x| x.payload.0 == "a2").unwrap().payload.1 = 1;
        assert_eq!(displaced(s.admit(p("node"), host("10.0.0.2"), S("n1", 20), NOW)), Some(("a2", Displaced::FairShare)));
        assert_eq!(displaced(s.admit(p("other"), host("10.0.0.3"), S("o1", 20), NOW)), Some(("a1", Displaced::FairShare)));
        // attacker 2, node 1, other 1: the attacker does not get a slot back,
        // and neither does a sender that holds one already: each new session
        // only replaces its own sender's longest idle.
        assert_eq!(displaced(s.admit(p("attacker"), host("10.0.0.1"), S("a5", 30), NOW)), Some(("a3", Displaced::ReplacedByOwn)));
        assert_eq!(displaced(s.admit(p("node"), host("10.0.0.2"), S("n2", 30), NOW)), Some(("n1", Displaced::ReplacedByOwn)));
        // A third new sender still gets in, at the attacker's expense.
        assert_eq!(displaced(s.admit(p("third"), host("10.0.0.4"), S("t1", 30), NOW)), Some(("a4", Displaced::FairShare)));
        assert_eq!(s.len(), 4);
    }

    #[test]
    fn when_everyone_holds_one_the_newcomer_is_refused() {
        let mut s = slots(2, 10, 10);
        s.admit(p("a"), host("10.0.0.1"), S("a", 1), NOW).unwrap();
        s.admit(p("b"), host("10.0.0.2"), S("b", 2), NOW).unwrap();
        assert!(!s.could_admit_from(&host("10.0.0.3")));
        assert!(s.admit(p("c"), host("10.0.0.3"), S("c", 3), NOW).is_err());
    }

    #[test]
    fn when_everyone_holds_one_a_node_replaces_its_own_dead_session() {
        let mut s = slots(2, 10, 10);
        s.admit(p("a"), host("10.0.0.1"), S("a dead", 1), NOW).unwrap();
        s.admit(p("b"), host("10.0.0.2"), S("b", 2), NOW).unwrap();
        assert!(s.could_admit_from(&host("10.0.0.1")), "its host holds a session: it may be its sender back");
        assert_eq!(displaced(s.admit(p("a"), host("10.0.0.1"), S("a again", 3), NOW)), Some(("a dead", Displaced::ReplacedByOwn)));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn at_the_host_cap_two_senders_do_not_displace_each_other_in_turn() {
        let mut s = slots(100, 10, 3);
        s.admit(p("x"), host("10.0.0.1"), S("x1", 1), NOW).unwrap();
        s.admit(p("x"), host("10.0.0.1"), S("x2", 2), NOW).unwrap();
        s.admit(p("y"), host("10.0.0.1"), S("y1", 3), NOW).unwrap();
        // x holds 2 there, y 1: x giving way would leave y with more.
        assert_eq!(displaced(s.admit(p("y"), host("10.0.0.1"), S("y2", 4), NOW)), Some(("y1", Displaced::ReplacedByOwn)));
        assert!(s.admit(p("z"), host("10.0.0.1"), S("z1", 5), NOW).is_ok_and(|a| a.displaced.is_some_and(|(v, _)| v.0 == "x1")));
        let mut even = slots(100, 10, 2);
        even.admit(p("x"), host("10.0.0.1"), S("x1", 1), NOW).unwrap();
        even.admit(p("y"), host("10.0.0.1"), S("y1", 2), NOW).unwrap();
        assert!(even.admit(p("z"), host("10.0.0.1"), S("z1", 3), NOW).is_err(), "no one holds two more than the newcomer");
    }

    #[test]
    fn plain_senders_never_displace_gss_sessions() {
        let mut s = slots(3, 10, 10);
        for (i, name) in ["g1", "g2", "g3"].into_iter().enumerate() {
            s.admit(p("gss"), host("10.0.0.1"), S(name, i as u64), NOW).unwrap();
        }
        assert!(s.admit(Sender::Plain(host("10.0.0.2")), host("10.0.0.2"), S("plain", 9), NOW).is_err(), "full of GSS sessions");
        let mut on_host = slots(100, 10, 3);
        for (i, name) in ["g1", "g2", "g3"].into_iter().enumerate() {
            on_host.admit(p("gss"), host("10.0.0.1"), S(name, i as u64), NOW).unwrap();
        }
        assert!(on_host.admit(Sender::Plain(host("10.0.0.1")), host("10.0.0.1"), S("plain", 9), NOW).is_err(), "host full of GSS sessions");
        // Among plain senders the fair share still holds.
        let mut mixed = slots(4, 10, 10);
        mixed.admit(p("gss"), host("10.0.0.1"), S("g1", 0), NOW).unwrap();
        mixed.admit(p("gss"), host("10.0.0.1"), S("g2", 0), NOW).unwrap();
        mixed.admit(p("gss"), host("10.0.0.1"), S("g3", 0), NOW).unwrap();
        mixed.admit(Sender::Plain(host("10.0.0.2")), host("10.0.0.2"), S("p1", 5), NOW).unwrap();
        assert!(mixed.admit(Sender::Plain(host("10.0.0.3")), host("10.0.0.3"), S("p2", 9), NOW).is_err());
        assert_eq!(displaced(mixed.admit(p("new"), host("10.0.0.4"), S("n", 9), NOW)), Some(("g1", Displaced::FairShare)));
    }

    #[test]
    fn a_sender_at_its_cap_replaces_its_own_longest_idle_session() {
        let mut s = slots(100, 2, 10);
        s.admit(p("n"), host("10.0.0.1"), S("old", 1), NOW).unwrap();
        s.admit(p("n"), host("10.0.0.1"), S("recent", 5), NOW).unwrap();
        s.admit(p("m"), host("10.0.0.2"), S("m", 0), NOW).unwrap();
        assert_eq!(displaced(s.admit(p("n"), host("10.0.0.1"), S("new", 9), NOW)), Some(("old", Displaced::SenderCap)));
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn a_host_at_its_cap_makes_room_from_its_busiest_sender() {
        let mut s = slots(100, 10, 3);
        s.admit(p("x"), host("10.0.0.1"), S("x1", 1), NOW).unwrap();
        s.admit(p("y"), host("10.0.0.1"), S("y1", 2), NOW).unwrap();
        s.admit(p("y"), host("10.0.0.1"), S("y2", 3), NOW).unwrap();
        assert_eq!(displaced(s.admit(p("z"), host("10.0.0.1"), S("z1", 4), NOW)), Some(("y1", Displaced::HostCap)));
        assert!(s.admit(p("w"), host("10.0.0.9"), S("w1", 4), NOW).unwrap().displaced.is_none(), "other hosts are not affected");
    }

    #[test]
    fn plain_senders_count_by_host() {
        let mut s = slots(2, 1, 10);
        let plain = Sender::Plain(host("10.0.0.1"));
        s.admit(plain.clone(), host("10.0.0.1"), S("p1", 1), NOW).unwrap();
        assert_eq!(displaced(s.admit(plain, host("10.0.0.1"), S("p2", 2), NOW)), Some(("p1", Displaced::SenderCap)));
    }

    #[test]
    fn a_displaced_slot_given_back_later_changes_nothing() {
        let mut s = slots(2, 1, 10);
        let old = s.admit(p("n"), host("10.0.0.1"), S("old", 1), NOW).unwrap();
        let new = s.admit(p("n"), host("10.0.0.1"), S("new", 2), NOW).unwrap();
        s.release(old.id);
        assert_eq!(s.len(), 1);
        s.release(new.id);
        assert!(s.slots.is_empty() && s.per_sender.is_empty() && s.per_host.is_empty());
    }

    /// Caps whose `replace_idle` is 100 (the collector's milliseconds).
    fn slots_replacing_after(total: usize, per_sender: usize, per_host: usize) -> Slots<S> {
        Slots::new(Caps { total, per_sender, per_host, replace_idle: 100 })
    }

    #[test]
    fn at_its_cap_live_sessions_of_one_sender_are_not_replaced_by_a_newcomer_of_it() {
        // A NAT'd site: more live senders of one principal than its cap.
        let mut s = slots_replacing_after(100, 2, 10);
        s.admit(p("site"), host("10.0.0.1"), S("live1", 950), 1000).unwrap();
        s.admit(p("site"), host("10.0.0.1"), S("live2", 990), 1000).unwrap();
        assert_eq!(s.admit(p("site"), host("10.0.0.1"), S("third", 1000), 1000).err(), Some(NoSlot::SenderBusy));
        assert_eq!(s.admit(p("site"), host("10.0.0.1"), S("third", 1049), 1049).err(), Some(NoSlot::SenderBusy), "idle 99 < 100");
        // The third retries: once one session has received nothing for the
        // interval (it died unseen, or its sender went quiet), it gets in.
        assert_eq!(displaced(s.admit(p("site"), host("10.0.0.1"), S("third", 1050), 1050)), Some(("live1", Displaced::SenderCap)));
        // The one it replaced, retrying at once, does not replace anyone live.
        assert_eq!(s.admit(p("site"), host("10.0.0.1"), S("live1 again", 1051), 1051).err(), Some(NoSlot::SenderBusy));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn when_full_a_node_replaces_its_own_session_only_once_it_has_been_idle_for_the_interval() {
        let mut s = slots_replacing_after(2, 10, 10);
        s.admit(p("a"), host("10.0.0.1"), S("a dead", 500), 500).unwrap();
        s.admit(p("b"), host("10.0.0.2"), S("b", 500), 500).unwrap();
        assert_eq!(s.admit(p("a"), host("10.0.0.1"), S("a again", 550), 550).err(), Some(NoSlot::Full));
        assert_eq!(displaced(s.admit(p("a"), host("10.0.0.1"), S("a again", 600), 600)), Some(("a dead", Displaced::ReplacedByOwn)));
        // At the host cap, the same.
        let mut h = slots_replacing_after(100, 10, 2);
        h.admit(p("x"), host("10.0.0.1"), S("x live", 500), 500).unwrap();
        h.admit(p("y"), host("10.0.0.1"), S("y", 500), 500).unwrap();
        assert_eq!(h.admit(p("x"), host("10.0.0.1"), S("x new", 520), 520).err(), Some(NoSlot::Full));
        assert_eq!(displaced(h.admit(p("x"), host("10.0.0.1"), S("x new", 700), 700)), Some(("x live", Displaced::ReplacedByOwn)));
    }

    #[test]
    fn a_sender_holding_idle_slots_still_gives_way_to_a_new_sender_at_once() {
        // The interval applies to a sender's own sessions only: an attacker
        // holding slots, idle or not, makes room for a new sender at once.
        let mut s = slots_replacing_after(3, 10, 10);
        for (i, name) in ["a1", "a2", "a3"].into_iter().enumerate() {
            s.admit(p("attacker"), host("10.0.0.1"), S(name, 1000 + i as u64), 1000).unwrap();
        }
        assert_eq!(displaced(s.admit(p("node"), host("10.0.0.2"), S("n", 1003), 1003)), Some(("a1", Displaced::FairShare)));
        // And the attacker cannot take it back from a live node.
        assert_eq!(s.admit(p("attacker"), host("10.0.0.1"), S("a4", 1004), 1004).err(), Some(NoSlot::Full));
    }
}
