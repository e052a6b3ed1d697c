//! `fromhost`: the peer's name by reverse DNS, as rsyslog derives it (short
//! form when the name is in our own domain, lowercased), or its address.
//!
//! Whoever controls the reverse zone of an address chooses its PTR answer, so
//! a PTR name is used only when it is **forward-confirmed** (as OpenSSH's
//! `UseDNS` and Postfix do): the name's own A/AAAA records must contain the
//! address. Otherwise the holder of 10.0.0.5 could name it `nodeb` and have
//! its lines filed under nodeb's name. An answer that reads as an IP address
//! would let a sender pass for another address; rsyslog calls that a
//! malicious PTR record and uses the address instead, and so do we. We also
//! use the address when the answer is not a plain host name (characters
//! other than letters, digits, `-`, `_` and `.`), since `fromhost` ends up in
//! paths.
//!
//! The lookups run on a pool of their own ([`LOOKUP_THREADS`] threads, at most
//! [`QUEUED_LOOKUPS`] waiting, [`crate::lookups`]), shared with the host
//! binding's forward lookups and never the blocking pool that runs GSS
//! handshakes: unresponsive DNS servers cost a session at most
//! [`LOOKUP_WAIT`] (it then gets the address), and never delay a handshake.
//! Sessions from one address that come while its lookup is in flight wait
//! for that one lookup. Every answer, names and failures alike, is cached
//! for [`CACHE_TTL`]; past [`MAX_CACHED`] addresses the least recently used
//! answer is forgotten.

use std::net::{IpAddr, ToSocketAddrs};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use crate::lookups::{Lookups, NoAnswer, Pool, Rules};

/// How long an answer (a confirmed name, or the address for want of one)
/// is reused (rsyslog keeps a DNS cache too).
const CACHE_TTL: Duration = Duration::from_secs(600);
/// Most addresses in the cache; past that the least recently used answer goes.
pub const MAX_CACHED: usize = 100_000;
/// Threads that ask DNS for `fromhost`.
pub const LOOKUP_THREADS: usize = 4;
/// Lookups waiting for a thread; past that, a session gets its address.
pub const QUEUED_LOOKUPS: usize = 256;
/// How long a session waits for its name; then it gets its address (the
/// answer, when it comes, is cached for the next session).
pub const LOOKUP_WAIT: Duration = Duration::from_secs(3);

/// Reverse and forward lookups: the system resolver, or a test's.
pub trait Resolver: Send + Sync + 'static {
    /// The name a PTR record gives for `ip`, or `None`.
    fn reverse(&self, ip: IpAddr) -> Option<String>;
    /// The addresses `name` resolves to.
    fn forward(&self, name: &str) -> Result<Vec<IpAddr>, String>;
}

/// The system resolver (`getnameinfo`, `getaddrinfo`).
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn reverse(&self, ip: IpAddr) -> Option<String> {
        daemon::os::reverse_lookup(ip)
    }

    fn forward(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        forward_lookup(name)
    }
}

/// The addresses `name` resolves to (A and AAAA), IPv4-mapped ones as IPv4.
/// Blocking.
pub fn forward_lookup(name: &str) -> Result<Vec<IpAddr>, String> {
    match (name, 0).to_socket_addrs() {
        Ok(addrs) => {
            let mut ips: Vec<IpAddr> = addrs.map(|a| canonical(a.ip())).collect();
            ips.sort();
            ips.dedup();
            if ips.is_empty() {
                Err(format!("{name} resolves to no address"))
            } else {
                Ok(ips)
            }
        }
        Err(e) => Err(format!("{name} does not resolve: {e}")),
    }
}

/// IPv4-mapped IPv6 addresses as IPv4, so that either form compares equal.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The collector's DNS threads: `fromhost` and the host binding's forward lookups.
pub(crate) static POOL: LazyLock<Arc<Pool>> = LazyLock::new(|| Arc::new(Pool::new("dns", LOOKUP_THREADS, QUEUED_LOOKUPS)));

/// The collector's reverse lookups, with the system resolver.
static SYSTEM: LazyLock<ReverseDns> = LazyLock::new(|| ReverseDns::new(Arc::new(SystemResolver), POOL.clone(), LOOKUP_WAIT));

/// The `fromhost` of a peer. With `dns` off (`-x`, as in rsyslog) it is the
/// address.
pub async fn fromhost(ip: IpAddr, dns: bool) -> String {
    if !dns {
        return ip.to_string();
    }
    SYSTEM.fromhost(ip).await
}

/// Cached, forward-confirmed reverse lookups on a bounded pool of threads.
pub struct ReverseDns {
    lookups: Lookups<IpAddr, String>,
}

impl ReverseDns {
    /// Lookups on `pool`, each session waiting at most `wait`.
    pub fn new(resolver: Arc<dyn Resolver>, pool: Arc<Pool>, wait: Duration) -> ReverseDns {
        let lookup = move |ip: &IpAddr| confirmed_name(resolver.as_ref(), *ip, daemon::os::local_domain().as_deref());
        let rules = Rules { lookup: Arc::new(lookup), ttl: |_| CACHE_TTL, max_cached: MAX_CACHED, wait };
        ReverseDns { lookups: Lookups::new(pool, rules) }
    }

    /// The `fromhost` of `ip`: a cached answer, or a lookup on the pool; the
    /// address when the pool is busy or the answer does not come in time.
    pub async fn fromhost(&self, ip: IpAddr) -> String {
        match self.lookups.get(ip).await {
            Ok(name) => name,
            Err(NoAnswer::Busy) => {
                tracing::debug!(%ip, "reverse DNS busy: fromhost is the address");
                ip.to_string()
            }
            Err(NoAnswer::TimedOut) => {
                tracing::debug!(%ip, "reverse DNS did not answer in time: fromhost is the address");
                ip.to_string()
            }
        }
    }
}

/// The name `ip` is known by, if its PTR answer is a plain host name whose
/// forward lookup contains `ip`; else the address. Blocking.
fn confirmed_name(resolver: &dyn Resolver, ip: IpAddr, local_domain: Option<&str>) -> String {
    let Some(name) = resolver.reverse(ip) else { return ip.to_string() };
    if !usable_ptr_name(&name) {
        tracing::warn!(%ip, ptr = ?name, "malicious PTR record: using the IP address instead of the name");
        return ip.to_string();
    }
    let name = name.to_ascii_lowercase();
    match resolver.forward(&name) {
        Ok(addresses) if addresses.contains(&canonical(ip)) => shorten(&name, local_domain),
        Ok(addresses) => {
            tracing::warn!(%ip, ptr = name, ?addresses, "PTR name not confirmed: its forward lookup does not give the address; using the address");
            ip.to_string()
        }
        Err(why) => {
            tracing::warn!(%ip, ptr = name, error = why, "PTR name not confirmed: its forward lookup failed; using the address");
            ip.to_string()
        }
    }
}

/// Whether a PTR answer may be used as a host name: a plain host name, and
/// not something the resolver would read as a numeric address.
fn usable_ptr_name(name: &str) -> bool {
    let plain = name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    plain && !name.is_empty() && !looks_like_ip_address(name)
}

/// True for an IPv6 address (with or without a `%zone`) and for every IPv4
/// form `inet_aton` takes: one to four dot-separated numbers, each decimal,
/// octal (leading 0) or hexadecimal (0x), such as `10.1`, `0x7f.1` or
/// `2130706433`. A trailing dot changes nothing. Out-of-range numbers count
/// as addresses too: refusing a few odd names is safer than letting one by.
fn looks_like_ip_address(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    let unzoned = name.split_once('%').map_or(name, |(addr, _zone)| addr);
    if unzoned.parse::<std::net::Ipv6Addr>().is_ok() {
        return true;
    }
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() <= 4 && parts.iter().all(|p| is_c_number(p))
}

/// A number as C's `strtoul(.., 0)` and `inet_aton` read it.
fn is_c_number(s: &str) -> bool {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn shorten(name: &str, local_domain: Option<&str>) -> String {
    match (name.split_once('.'), local_domain) {
        (Some((host, domain)), Some(local)) if domain.eq_ignore_ascii_case(local) => host.to_string(),
        _ => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    /// PTR and A records of a test's own, and how often each kind was asked.
    #[derive(Default)]
    struct Zone {
        ptr: HashMap<IpAddr, String>,
        a: HashMap<String, Vec<IpAddr>>,
        reverse_asked: AtomicUsize,
        /// Reverse lookups wait for this before answering (a stuck server).
        stall: Option<Mutex<std::sync::mpsc::Receiver<()>>>,
    }

    impl Resolver for Zone {
        fn reverse(&self, ip: IpAddr) -> Option<String> {
            self.reverse_asked.fetch_add(1, Ordering::SeqCst);
            if let Some(stall) = &self.stall {
                let _ = stall.lock().unwrap().recv();
            }
            self.ptr.get(&ip).cloned()
        }
        fn forward(&self, name: &str) -> Result<Vec<IpAddr>, String> {
            self.a.get(name).cloned().ok_or_else(|| format!("{name} does not resolve"))
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn zone() -> Zone {
        let mut z = Zone::default();
        z.ptr.insert(ip("10.0.0.5"), "NodeB.grid.example".into()); // lies: nodeb is 10.0.0.6
        z.ptr.insert(ip("10.0.0.6"), "nodeb.grid.example".into());
        z.ptr.insert(ip("10.0.0.7"), "gone.grid.example".into()); // no A record
        z.ptr.insert(ip("10.0.0.8"), "10.0.0.6".into());
        z.ptr.insert(ip("::ffff:10.0.0.9"), "nine.grid.example".into());
        z.a.insert("nodeb.grid.example".into(), vec![ip("10.0.0.6")]);
        z.a.insert("nine.grid.example".into(), vec![ip("10.0.0.9")]);
        z
    }

    #[test]
    fn short_names_in_our_domain() {
        assert_eq!(shorten("node1.grid.example", Some("grid.example")), "node1");
        assert_eq!(shorten("node1.other.example", Some("grid.example")), "node1.other.example");
        assert_eq!(shorten("localhost", None), "localhost");
    }

    #[tokio::test]
    async fn dns_off_is_the_address() {
        assert_eq!(fromhost(ip("127.0.0.1"), false).await, "127.0.0.1");
    }

    #[test]
    fn a_ptr_name_is_used_only_when_its_forward_lookup_gives_the_address() {
        let z = zone();
        let name = |a: &str| confirmed_name(&z, ip(a), Some("grid.example"));
        assert_eq!(name("10.0.0.6"), "nodeb", "confirmed: the short name");
        assert_eq!(name("10.0.0.5"), "10.0.0.5", "a PTR naming another host's name is not believed");
        assert_eq!(name("10.0.0.7"), "10.0.0.7", "a PTR name that does not resolve is not believed");
        assert_eq!(name("10.0.0.8"), "10.0.0.8", "a PTR answer that reads as an address is not used");
        assert_eq!(name("10.0.0.1"), "10.0.0.1", "no PTR record");
        assert_eq!(confirmed_name(&z, ip("::ffff:10.0.0.9"), None), "nine.grid.example", "IPv4-mapped peers compare as IPv4");
    }

    #[tokio::test]
    async fn answers_and_failures_are_cached() {
        let z = Arc::new(zone());
        let dns = ReverseDns::new(z.clone(), Arc::new(Pool::new("test-dns", 1, 4)), Duration::from_secs(30));
        for _ in 0..3 {
            assert_eq!(dns.fromhost(ip("10.0.0.6")).await, "nodeb.grid.example");
            assert_eq!(dns.fromhost(ip("10.0.0.1")).await, "10.0.0.1");
        }
        assert_eq!(z.reverse_asked.load(Ordering::SeqCst), 2, "one query per address, the failed one too");
    }

    #[tokio::test]
    async fn a_stuck_dns_server_costs_a_session_its_name_never_more_than_the_pool() {
        let (release, stalled) = std::sync::mpsc::channel();
        let z = Arc::new(Zone { stall: Some(Mutex::new(stalled)), ..zone() });
        // One thread, one waiting place: the first lookup takes the thread,
        // the second waits, the third finds the pool full and gets its address.
        let dns = Arc::new(ReverseDns::new(z.clone(), Arc::new(Pool::new("test-dns", 1, 1)), Duration::from_millis(100)));
        assert_eq!(dns.fromhost(ip("10.0.0.6")).await, "10.0.0.6", "no answer in time: the address");
        while z.reverse_asked.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(dns.fromhost(ip("::ffff:10.0.0.9")).await, "::ffff:10.0.0.9", "queued, no answer in time");
        assert_eq!(dns.fromhost(ip("10.0.0.1")).await, "10.0.0.1", "pool full: the address at once");
        assert_eq!(z.reverse_asked.load(Ordering::SeqCst), 1, "the third was never started");
        for _ in 0..2 {
            release.send(()).unwrap();
        }
        // The late answers are cached for the next sessions.
        while z.reverse_asked.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        let mut named = String::new();
        for _ in 0..1000 {
            named = dns.fromhost(ip("10.0.0.6")).await;
            if named != "10.0.0.6" {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(named, "nodeb.grid.example");
    }

    #[test]
    fn ptr_answers_that_read_as_addresses_are_not_names() {
        for malicious in [
            "10.0.0.1", "10.0.0.1.", "192.168.1", "10.1", "2130706433", "0x7f.0.0.1", "0X7F000001", "0177.0.0.1",
            "::1", "fe80::1%eth0", "2001:db8::5", "::ffff:10.0.0.1", "999.1.1.1",
        ] {
            assert!(!usable_ptr_name(malicious), "{malicious} must not be used as fromhost");
        }
        for odd in ["", "node1/../../etc", "node 1", "node1\n", "évil.example"] {
            assert!(!usable_ptr_name(odd), "{odd:?} is not a plain host name");
        }
        for good in ["node1", "node1.grid.example", "10-0-0-1.pool.example", "1.2.3.4.in-addr.example", "host_x", "3com", "0xdeadbeef.example"] {
            assert!(usable_ptr_name(good), "{good} is a host name");
        }
    }
}
