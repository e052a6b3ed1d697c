//! A sender's address as the caps count it: its *host* (an IPv4 address, or
//! an IPv6 /64, which one machine usually holds whole) and its *subnet* (an
//! IPv4 /24, an IPv6 /48: what one site, or one attacker, usually holds).
//! The prefix lengths are configurable ([`Prefixes`]).

use std::net::IpAddr;

/// The prefix lengths that group addresses into hosts and subnets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefixes {
    /// `$InputGSSServerSubnetPrefixIPv4`: bits of an IPv4 subnet.
    pub ipv4_subnet: u8,
    /// `$InputGSSServerHostPrefixIPv6`: bits of an IPv6 host.
    pub ipv6_host: u8,
    /// `$InputGSSServerSubnetPrefixIPv6`: bits of an IPv6 subnet.
    pub ipv6_subnet: u8,
}

impl Default for Prefixes {
    fn default() -> Self {
        Prefixes { ipv4_subnet: 24, ipv6_host: 64, ipv6_subnet: 48 }
    }
}

/// An address with every bit past `bits` cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Net {
    addr: IpAddr,
    bits: u8,
}

impl Net {
    /// The network of `bits` bits that holds `ip` (an IPv4-mapped IPv6
    /// address counts as its IPv4 address).
    pub fn of(ip: IpAddr, v4_bits: u8, v6_bits: u8) -> Net {
        match canonical(ip) {
            IpAddr::V4(v4) => {
                let bits = v4_bits.min(32);
                let mask = if bits == 0 { 0 } else { u32::MAX << (32 - u32::from(bits)) };
                Net { addr: IpAddr::V4((u32::from(v4) & mask).into()), bits }
            }
            IpAddr::V6(v6) => {
                let bits = v6_bits.min(128);
                let mask = if bits == 0 { 0 } else { u128::MAX << (128 - u32::from(bits)) };
                Net { addr: IpAddr::V6((u128::from(v6) & mask).into()), bits }
            }
        }
    }
}

impl std::fmt::Display for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.addr {
            IpAddr::V4(_) if self.bits == 32 => write!(f, "{}", self.addr),
            _ => write!(f, "{}/{}", self.addr, self.bits),
        }
    }
}

/// Whether `ip` is in `net/bits` (an IPv4-mapped IPv6 address is in the
/// IPv4 networks of its IPv4 address).
pub(crate) fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - u32::from(bits.min(32))) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - u32::from(bits.min(128))) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V4(_)) => a.to_ipv4_mapped().is_some_and(|v4| in_net(IpAddr::V4(v4), net, bits)),
        _ => false,
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Where a connection comes from, as the caps count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source {
    pub host: Net,
    pub subnet: Net,
}

impl Source {
    pub fn of(ip: IpAddr, prefixes: &Prefixes) -> Source {
        Source {
            host: Net::of(ip, 32, prefixes.ipv6_host),
            subnet: Net::of(ip, prefixes.ipv4_subnet, prefixes.ipv6_subnet),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(s: &str) -> Source {
        Source::of(s.parse().unwrap(), &Prefixes::default())
    }

    #[test]
    fn ipv4_hosts_are_addresses_and_subnets_are_24s() {
        assert_eq!(source("10.1.2.3").host, source("::ffff:10.1.2.3").host, "a v4-mapped address is the same host");
        assert_ne!(source("10.1.2.3").host, source("10.1.2.4").host);
        assert_eq!(source("10.1.2.3").subnet, source("10.1.2.200").subnet);
        assert_ne!(source("10.1.2.3").subnet, source("10.1.3.3").subnet);
        assert_eq!(source("10.1.2.3").subnet.to_string(), "10.1.2.0/24");
        assert_eq!(source("10.1.2.3").host.to_string(), "10.1.2.3");
    }

    #[test]
    fn ipv6_hosts_are_64s_and_subnets_are_48s() {
        assert_eq!(source("2001:db8:1:2::1").host, source("2001:db8:1:2:ffff::9").host);
        assert_ne!(source("2001:db8:1:2::1").host, source("2001:db8:1:3::1").host);
        assert_eq!(source("2001:db8:1:2::1").subnet, source("2001:db8:1:ff::1").subnet, "one /56 is in one /48");
        assert_ne!(source("2001:db8:1::1").subnet, source("2001:db8:2::1").subnet);
    }

    #[test]
    fn prefixes_are_configurable() {
        let p = Prefixes { ipv4_subnet: 16, ipv6_host: 128, ipv6_subnet: 56 };
        let s = |a: &str| Source::of(a.parse().unwrap(), &p);
        assert_eq!(s("10.1.2.3").subnet, s("10.1.200.3").subnet);
        assert_ne!(s("2001:db8::1").host, s("2001:db8::2").host);
        assert_ne!(s("2001:db8:0:100::1").subnet, s("2001:db8:0:200::1").subnet);
    }
}
