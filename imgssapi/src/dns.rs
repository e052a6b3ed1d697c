//! `fromhost`: the peer's name by reverse DNS, as rsyslog derives it (short
//! form when the name is in our own domain, lowercased), or its address.
//!
//! Whoever controls the reverse zone of an address chooses its PTR answer. An
//! answer that reads as an IP address would let a sender pass for another
//! address in `fromhost` (and in the files named after it); rsyslog calls that
//! a malicious PTR record and uses the address instead, and so do we. We also
//! use the address when the answer is not a plain host name (characters other
//! than letters, digits, `-`, `_` and `.`), since `fromhost` ends up in paths.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a looked-up name is reused (rsyslog keeps a DNS cache too).
const CACHE_TTL: Duration = Duration::from_secs(600);
static CACHE: Mutex<Option<HashMap<IpAddr, (String, Instant)>>> = Mutex::new(None);

/// The `fromhost` of a peer. Blocking (it may ask DNS): call it from a
/// blocking thread. With `dns` off (`-x`, as in rsyslog) it is the address.
pub fn fromhost(ip: IpAddr, dns: bool) -> String {
    if !dns {
        return ip.to_string();
    }
    if let Some((name, at)) = CACHE.lock().ok().and_then(|c| c.as_ref()?.get(&ip).cloned()) {
        if at.elapsed() < CACHE_TTL {
            return name;
        }
    }
    let name = match daemon::os::reverse_lookup(ip) {
        Some(name) if usable_ptr_name(&name) => shorten(&name.to_ascii_lowercase(), daemon::os::local_domain().as_deref()),
        Some(name) => {
            tracing::warn!(ip = %ip, ptr = ?name, "malicious PTR record: using the IP address instead of the name");
            ip.to_string()
        }
        None => ip.to_string(),
    };
    if let Ok(mut cache) = CACHE.lock() {
        let map = cache.get_or_insert_with(HashMap::new);
        if map.len() > 100_000 {
            map.clear();
        }
        map.insert(ip, (name.clone(), Instant::now()));
    }
    name
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

    #[test]
    fn short_names_in_our_domain() {
        assert_eq!(shorten("node1.grid.example", Some("grid.example")), "node1");
        assert_eq!(shorten("node1.other.example", Some("grid.example")), "node1.other.example");
        assert_eq!(shorten("localhost", None), "localhost");
        assert_eq!(fromhost("127.0.0.1".parse().unwrap(), false), "127.0.0.1");
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
