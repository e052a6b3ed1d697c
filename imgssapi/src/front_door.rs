//! The front door's places, as a state machine without I/O: who holds one,
//! and whom a newcomer displaces when there is no room.
//!
//! Every connection that has not authenticated holds a place. Caps: overall,
//! per host and per subnet ([`crate::source`]). A newcomer at its host's cap
//! takes the place of its own host's oldest connection that has not sent a
//! complete token; at its subnet's cap, that of the host in the subnet
//! holding the most such places, when it holds more than the newcomer's
//! host (else again its own host's). It is refused only when there is none:
//! otherwise a neighbour without credentials, reconnecting as soon as a
//! place frees, would keep a host's real client out for good. A real
//! client sends its AP-REQ at once, so it is not the one displaced. When
//! the front door is full overall, room is made as MIT's
//! KDC makes it (`kill_lru_tcp_or_rpc_connection`): a connection that has not
//! yet sent a complete token is closed for the newcomer, so that a flood of
//! slow or silent connections cannot keep a real client out. Which one is
//! fair: the oldest place of the subnet, and in it of the host, holding the
//! most places, when that subnet holds more than the newcomer's; where all
//! hold as many, that is the oldest place (MIT's rule); otherwise the
//! newcomer is refused. A connection
//! that has sent its whole first token is never displaced: it is only waiting
//! for the collector.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use crate::source::{Net, Prefixes, Source};

/// The budget of connections that are not sessions yet: GSS connections
/// before their handshake completes, plain TCP connections before their first
/// byte. Shared by every listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrontDoorLimits {
    /// `$InputGSSServerMaxHandshakes`: such connections at once, overall.
    pub max_handshakes: usize,
    /// `$InputGSSServerMaxHandshakesPerHost`: such connections at once from
    /// one IPv4 address (or one IPv6 /64).
    pub max_handshakes_per_host: usize,
    /// `$InputGSSServerMaxHandshakesPerSubnet`: such connections at once from
    /// one IPv4 /24 (or one IPv6 /48).
    pub max_handshakes_per_subnet: usize,
    /// How addresses group into hosts and subnets, for these caps and the
    /// session caps.
    pub prefixes: Prefixes,
    /// `$InputGSSServerFirstByteTimeout`: from accept to the first byte.
    pub first_byte_timeout: Duration,
    /// `$InputGSSServerHandshakeTimeout`: from accept to an authenticated session.
    pub handshake_timeout: Duration,
}

impl Default for FrontDoorLimits {
    fn default() -> Self {
        FrontDoorLimits {
            max_handshakes: 256,
            max_handshakes_per_host: 16,
            max_handshakes_per_subnet: 128,
            prefixes: Prefixes::default(),
            first_byte_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// Deadlines of the front door, counted from accept.
#[derive(Clone, Copy)]
pub struct Deadlines {
    /// When the first byte is due.
    pub first_byte: Instant,
    /// What it was counted with, for the error that names it.
    pub first_byte_timeout: Duration,
    /// When the handshake is to be complete.
    pub handshake: Instant,
    pub handshake_timeout: Duration,
}

/// The shortest deadline under pressure.
const SHORTEST_UNDER_PRESSURE: Duration = Duration::from_secs(1);

impl Deadlines {
    /// The deadlines of a connection accepted at `accepted`; a quarter of
    /// each (at least a second) when the front door was at least half full
    /// (`under_pressure`), so that slow connections give way sooner.
    pub fn from(accepted: Instant, limits: &FrontDoorLimits, under_pressure: bool) -> Deadlines {
        let shorten = |t: Duration| if under_pressure { (t / 4).max(SHORTEST_UNDER_PRESSURE).min(t) } else { t };
        let (first_byte_timeout, handshake_timeout) = (shorten(limits.first_byte_timeout), shorten(limits.handshake_timeout));
        Deadlines {
            first_byte: accepted + first_byte_timeout,
            first_byte_timeout,
            handshake: accepted + handshake_timeout,
            handshake_timeout,
        }
    }
}

/// The caps of [`FrontDoor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub total: usize,
    pub per_host: usize,
    pub per_subnet: usize,
}

/// Why a newcomer gets no place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoPlace {
    /// Full, and every place is held by a connection that sent its token.
    Full,
    /// The newcomer's host has its share.
    HostFull,
    /// The newcomer's subnet has its share.
    SubnetFull,
}

/// A newcomer's place, and the connection displaced to make room for it.
#[derive(Debug)]
pub struct Admitted<T> {
    pub id: u64,
    pub displaced: Option<T>,
}

struct Place<T> {
    source: Source,
    token_received: bool,
    payload: T,
}

/// The places; ids grow with age, so the map's order is oldest first.
pub struct FrontDoor<T> {
    caps: Caps,
    next_id: u64,
    places: BTreeMap<u64, Place<T>>,
    per_host: HashMap<Net, usize>,
    per_subnet: HashMap<Net, usize>,
}

impl<T> FrontDoor<T> {
    pub fn new(caps: Caps) -> Self {
        FrontDoor { caps, next_id: 0, places: BTreeMap::new(), per_host: HashMap::new(), per_subnet: HashMap::new() }
    }

    /// Places held now.
    pub fn len(&self) -> usize {
        self.places.len()
    }

    /// A place for a connection from `source`, displacing another if need be.
    pub fn enter(&mut self, source: Source, payload: T) -> Result<Admitted<T>, NoPlace> {
        let mut displaced = None;
        if count(&self.per_host, &source.host) >= self.caps.per_host {
            let victim = self.oldest_of_host(&source.host).ok_or(NoPlace::HostFull)?;
            displaced = self.remove(victim);
        } else if count(&self.per_subnet, &source.subnet) >= self.caps.per_subnet {
            let victim = self.fairest_in_subnet(&source).ok_or(NoPlace::SubnetFull)?;
            displaced = self.remove(victim);
        } else if self.places.len() >= self.caps.total {
            let victim = self.fairest_overall(&source).ok_or(NoPlace::Full)?;
            displaced = self.remove(victim);
        }
        let id = self.next_id;
        self.next_id += 1;
        *self.per_host.entry(source.host).or_default() += 1;
        *self.per_subnet.entry(source.subnet).or_default() += 1;
        self.places.insert(id, Place { source, token_received: false, payload });
        Ok(Admitted { id, displaced })
    }

    /// The connection of place `id` has sent its whole first token: it is
    /// no longer displaced for newcomers.
    pub fn token_received(&mut self, id: u64) {
        if let Some(p) = self.places.get_mut(&id) {
            p.token_received = true;
        }
    }

    /// Gives place `id` back (nothing if it was displaced already).
    pub fn leave(&mut self, id: u64) {
        self.remove(id);
    }

    fn remove(&mut self, id: u64) -> Option<T> {
        let place = self.places.remove(&id)?;
        decrement(&mut self.per_host, &place.source.host);
        decrement(&mut self.per_subnet, &place.source.subnet);
        Some(place.payload)
    }

    fn displaceable(&self) -> impl Iterator<Item = (&u64, &Place<T>)> {
        self.places.iter().filter(|(_, p)| !p.token_received)
    }

    /// The oldest displaceable place of `host`.
    fn oldest_of_host(&self, host: &Net) -> Option<u64> {
        self.displaceable().find(|(_, p)| p.source.host == *host).map(|(id, _)| *id)
    }

    /// When the newcomer's subnet is at its cap: the oldest displaceable
    /// place of the host in it holding the most, if that host holds more
    /// than the newcomer's; otherwise the oldest of the newcomer's own host
    /// (a host competing with itself).
    fn fairest_in_subnet(&self, source: &Source) -> Option<u64> {
        let in_subnet = self.displaceable().filter(|(_, p)| p.source.subnet == source.subnet);
        let busiest = biggest(in_subnet.map(|(id, p)| (p.source.host, *id)));
        match busiest {
            Some((_, held, oldest)) if held > count(&self.per_host, &source.host) => Some(oldest),
            _ => self.oldest_of_host(&source.host),
        }
    }

    /// When full: the oldest displaceable place of the subnet holding the
    /// most (of those, the one with the oldest place: with every subnet
    /// holding one, that is MIT's oldest place of all), and within it of the
    /// host holding the most, if that subnet holds more than the newcomer's.
    fn fairest_overall(&self, source: &Source) -> Option<u64> {
        let (subnet, held, _) = biggest(self.displaceable().map(|(id, p)| (p.source.subnet, *id)))?;
        if held <= count(&self.per_subnet, &source.subnet) {
            return None;
        }
        let in_subnet = self.displaceable().filter(|(_, p)| p.source.subnet == subnet);
        biggest(in_subnet.map(|(id, p)| (p.source.host, *id))).map(|(_, _, oldest)| oldest)
    }
}

fn count(counts: &HashMap<Net, usize>, net: &Net) -> usize {
    counts.get(net).copied().unwrap_or(0)
}

fn decrement(counts: &mut HashMap<Net, usize>, net: &Net) {
    if let Some(n) = counts.get_mut(net) {
        *n -= 1;
        if *n == 0 {
            counts.remove(net);
        }
    }
}

/// Of `(network, place)` pairs in the places' order (oldest first): the
/// network that occurs most often, how often, and its oldest place. Ties go
/// to the network with the oldest place.
fn biggest(places: impl Iterator<Item = (Net, u64)>) -> Option<(Net, usize, u64)> {
    let mut counts: HashMap<Net, (usize, u64)> = HashMap::new();
    for (net, id) in places {
        counts.entry(net).or_insert((0, id)).0 += 1;
    }
    counts.into_iter().map(|(net, (n, oldest))| (net, n, oldest)).max_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Prefixes;

    fn src(s: &str) -> Source {
        Source::of(s.parse().unwrap(), &Prefixes::default())
    }

    fn door(total: usize, per_host: usize, per_subnet: usize) -> FrontDoor<&'static str> {
        FrontDoor::new(Caps { total, per_host, per_subnet })
    }

    #[test]
    fn a_host_over_its_share_is_refused_and_its_places_come_back() {
        let mut d = door(10, 2, 10);
        let a = d.enter(src("10.0.0.1"), "a").unwrap();
        let b = d.enter(src("10.0.0.1"), "b").unwrap();
        d.token_received(a.id);
        d.token_received(b.id);
        assert_eq!(d.enter(src("10.0.0.1"), "c").err(), Some(NoPlace::HostFull));
        assert!(d.enter(src("10.0.0.2"), "other").is_ok());
        d.leave(a.id);
        assert!(d.enter(src("10.0.0.1"), "again").is_ok());
    }

    #[test]
    fn at_its_hosts_cap_a_newcomer_displaces_the_hosts_oldest_silent_place() {
        // An attacker on the shipper's host holds the host's places with
        // silent connections: the shipper still gets in, in place of the
        // oldest of them, and a place that sent its token stays.
        let mut d = door(10, 3, 10);
        let sent = d.enter(src("10.0.0.1"), "sent").unwrap();
        d.token_received(sent.id);
        d.enter(src("10.0.0.1"), "silent-1").unwrap();
        d.enter(src("10.0.0.1"), "silent-2").unwrap();
        d.enter(src("10.0.0.2"), "other host").unwrap();
        assert_eq!(d.enter(src("10.0.0.1"), "shipper").unwrap().displaced, Some("silent-1"));
        assert_eq!(d.len(), 4);
    }

    #[test]
    fn at_its_subnets_cap_a_newcomer_displaces_the_busiest_hosts_oldest_silent_place() {
        let mut d = door(100, 10, 4);
        d.enter(src("10.0.1.9"), "neighbour").unwrap();
        let sent = d.enter(src("10.0.1.1"), "flood sent").unwrap();
        d.token_received(sent.id);
        d.enter(src("10.0.1.1"), "flood-1").unwrap();
        d.enter(src("10.0.1.1"), "flood-2").unwrap();
        // The subnet is full: the flooding host holds the most silent places.
        assert_eq!(d.enter(src("10.0.1.5"), "shipper").unwrap().displaced, Some("flood-1"));
        // The shipper's host holds one, the flood's one silent place no more:
        // a second newcomer from the shipper's host takes its own host's.
        assert_eq!(d.enter(src("10.0.1.5"), "shipper again").unwrap().displaced, Some("shipper"));
        assert_eq!(d.len(), 4);
    }

    #[test]
    fn when_full_the_newcomer_displaces_the_oldest_place_of_the_biggest_subnet() {
        let mut d = door(4, 10, 10);
        d.enter(src("10.0.0.1"), "small-subnet").unwrap();
        d.enter(src("10.0.1.1"), "flood-1").unwrap();
        d.enter(src("10.0.1.2"), "flood-2").unwrap();
        d.enter(src("10.0.1.3"), "flood-3").unwrap();
        // The oldest place overall is the small subnet's; the flood's subnet
        // holds three, the newcomer's none: the flood's oldest goes.
        let newcomer = d.enter(src("10.0.9.9"), "newcomer").unwrap();
        assert_eq!(newcomer.displaced, Some("flood-1"));
        assert_eq!(d.len(), 4);
        // The flood cannot take it back: its subnet holds two, no other more.
        assert_eq!(d.enter(src("10.0.1.4"), "flood-4").err(), Some(NoPlace::Full));
        // A subnet holding fewer than the flood's still gets in at its expense.
        assert_eq!(d.enter(src("10.0.0.2"), "small-subnet-2").unwrap().displaced, Some("flood-2"));
    }

    #[test]
    fn within_the_biggest_subnet_the_busiest_host_gives_way() {
        let mut d = door(4, 10, 10);
        d.enter(src("10.0.1.1"), "one-a").unwrap();
        d.enter(src("10.0.1.2"), "two-a").unwrap();
        d.enter(src("10.0.1.2"), "two-b").unwrap();
        d.enter(src("10.0.1.2"), "two-c").unwrap();
        assert_eq!(d.enter(src("10.0.5.5"), "newcomer").unwrap().displaced, Some("two-a"));
    }

    #[test]
    fn when_no_subnet_holds_more_the_oldest_place_goes_as_in_mits_kdc() {
        let mut d = door(3, 10, 10);
        d.enter(src("10.0.1.1"), "first").unwrap();
        d.enter(src("10.0.2.1"), "second").unwrap();
        d.enter(src("10.0.3.1"), "third").unwrap();
        assert_eq!(d.enter(src("10.0.4.1"), "fourth").unwrap().displaced, Some("first"));
        assert_eq!(d.enter(src("10.0.5.1"), "fifth").unwrap().displaced, Some("second"));
    }

    #[test]
    fn a_connection_that_sent_its_token_is_never_displaced() {
        let mut d = door(2, 10, 10);
        let waiting = d.enter(src("10.0.1.1"), "token sent").unwrap();
        d.token_received(waiting.id);
        d.enter(src("10.0.2.1"), "silent").unwrap();
        assert_eq!(d.enter(src("10.0.3.1"), "newcomer").unwrap().displaced, Some("silent"));
        let mut all_sent = door(1, 10, 10);
        let only = all_sent.enter(src("10.0.1.1"), "token sent").unwrap();
        all_sent.token_received(only.id);
        assert_eq!(all_sent.enter(src("10.0.2.1"), "newcomer").err(), Some(NoPlace::Full));
    }

    #[test]
    fn a_full_subnet_refuses_its_newcomers_and_no_one_else() {
        let mut d = door(100, 10, 3);
        for (ip, name) in [("10.0.1.1", "a-1"), ("10.0.1.1", "a-2"), ("10.0.1.2", "b-1")] {
            let a = d.enter(src(ip), name).unwrap();
            d.token_received(a.id);
        }
        assert_eq!(d.enter(src("10.0.1.3"), "c-1").err(), Some(NoPlace::SubnetFull));
        assert!(d.enter(src("10.0.2.1"), "other subnet").unwrap().displaced.is_none());
    }

    #[test]
    fn a_displaced_place_given_back_later_changes_nothing() {
        let mut d = door(1, 10, 10);
        let old = d.enter(src("10.0.1.1"), "old").unwrap();
        let new = d.enter(src("10.0.2.1"), "new").unwrap();
        assert_eq!(new.displaced, Some("old"));
        d.leave(old.id);
        assert_eq!(d.len(), 1);
        d.leave(new.id);
        assert_eq!(d.len(), 0);
        assert!(d.per_host.is_empty() && d.per_subnet.is_empty(), "no counts left behind");
    }
}
