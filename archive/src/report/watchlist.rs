//! Address lists for the `watchlist` view: `NAME=FILE`, one IP address or
//! CIDR block per line (v4 or v6), `#` to the end of a line is a comment,
//! blank lines are skipped; a line with anything else after the address (as
//! in some exports: `1.2.3.4 2026-12-01`) counts by its first word.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Why a list could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("--watchlist '{0}' is not NAME=FILE")]
    Argument(String),
    #[error("{}: {source}", file.display())]
    Read { file: PathBuf, source: std::io::Error },
    #[error("{}:{line}: '{text}' is not an IP address or CIDR block", file.display())]
    Entry { file: PathBuf, line: usize, text: String },
}

/// One named list: address ranges as 128-bit numbers (v4 as v4-mapped v6),
/// sorted and merged.
pub struct List {
    pub name: String,
    ranges: Vec<(u128, u128)>,
}

impl List {
    /// Reads `NAME=FILE`.
    pub fn load(argument: &str) -> Result<List, ListError> {
        let (name, file) = argument.split_once('=').ok_or_else(|| ListError::Argument(argument.to_string()))?;
        if name.is_empty() || file.is_empty() {
            return Err(ListError::Argument(argument.to_string()));
        }
        let file = Path::new(file);
        let text = std::fs::read(file).map_err(|source| ListError::Read { file: file.to_path_buf(), source })?;
        let text = String::from_utf8_lossy(&text);
        List::parse(name, &text).map_err(|(line, text)| ListError::Entry { file: file.to_path_buf(), line, text })
    }

    /// The list `name` from its text; an error is (line number, entry).
    pub fn parse(name: &str, text: &str) -> Result<List, (usize, String)> {
        let mut ranges = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("");
            let Some(entry) = line.split_whitespace().next() else { continue };
            ranges.push(range(entry).ok_or_else(|| (n + 1, entry.to_string()))?);
        }
        ranges.sort_unstable();
        let mut merged: Vec<(u128, u128)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        Ok(List { name: name.to_string(), ranges: merged })
    }

    /// Whether `addr` (an address as sshd wrote it) is in the list.
    pub fn contains(&self, addr: &str) -> bool {
        let Ok(ip) = addr.parse::<IpAddr>() else { return false };
        let n = number(ip);
        let i = self.ranges.partition_point(|&(lo, _)| lo <= n);
        i > 0 && self.ranges[i - 1].1 >= n
    }
}

/// An address as a 128-bit number; v4 (and v4-mapped v6) in ::ffff:0:0/96.
fn number(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(v4.to_ipv6_mapped()),
            None => u128::from(v6),
        },
    }
}

/// `ADDR` or `ADDR/BITS`: the first and last address covered.
fn range(entry: &str) -> Option<(u128, u128)> {
    let (addr, bits) = match entry.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u32>().ok()?)),
        None => (entry, None),
    };
    let ip = addr.parse::<IpAddr>().ok()?;
    let width = if ip.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(width);
    if bits > width {
        return None;
    }
    let host_bits = width - bits;
    let mask = if host_bits >= 128 { u128::MAX } else { (1u128 << host_bits) - 1 };
    let lo = number(ip) & !mask;
    Some((lo, lo | mask))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_blocks_of_both_families() {
        let list = List::parse("tor", "# exits\n192.0.2.1\n198.51.100.0/24 # a block\n\n2001:db8::/32\n203.0.113.9 2026-12-01\n")
            .unwrap_or_else(|e| panic!("{e:?}"));
        for yes in ["192.0.2.1", "198.51.100.0", "198.51.100.255", "2001:db8::1", "203.0.113.9", "::ffff:192.0.2.1"] {
            assert!(list.contains(yes), "{yes}");
        }
        for no in ["192.0.2.2", "198.51.101.0", "2001:db9::1", "host.example", ""] {
            assert!(!list.contains(no), "{no}");
        }
        let all = List::parse("all", "0.0.0.0/0\n::/0\n").unwrap_or_else(|e| panic!("{e:?}"));
        assert!(all.contains("1.2.3.4") && all.contains("fe80::1"));
    }

    #[test]
    fn a_bad_entry_names_its_line() {
        assert_eq!(List::parse("x", "1.2.3.4\nnot-an-ip\n").err(), Some((2, "not-an-ip".to_string())));
        assert_eq!(List::parse("x", "1.2.3.4/33").err(), Some((1, "1.2.3.4/33".to_string())));
    }
}
