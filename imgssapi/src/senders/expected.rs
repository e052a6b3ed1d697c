//! `$InputGSSServerExpectedSenders FILE`: the senders the collector expects
//! to hear from, one per line: an address, a network (`ADDR/BITS`) or a
//! host principal (`host/node1.example.org@REALM`, or without the realm to
//! match it in any realm). `#` starts a comment; blank lines are skipped.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// One line of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// One address: a sender that is expected even before it was ever seen.
    Address(IpAddr),
    /// Every address of a network.
    Network(IpAddr, u8),
    /// A principal, with its realm or without (then any realm).
    Principal(String),
}

/// The list, as read from its file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpectedSenders {
    pub path: PathBuf,
    pub entries: Vec<Entry>,
}

/// Why the list could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("cannot read the expected senders file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: '{entry}' is not an address, ADDRESS/BITS or a principal")]
    Entry { path: PathBuf, line: usize, entry: String },
}

impl ExpectedSenders {
    /// Reads and checks the file at `path`; every bad line is an error (the
    /// caller keeps the list it had).
    pub fn load(path: &Path) -> Result<ExpectedSenders, ListError> {
        let text = std::fs::read_to_string(path).map_err(|source| ListError::Read { path: path.to_path_buf(), source })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<ExpectedSenders, ListError> {
        let mut entries = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let entry = line.split('#').next().unwrap_or("").trim();
            if entry.is_empty() {
                continue;
            }
            let bad = || ListError::Entry { path: path.to_path_buf(), line: n + 1, entry: entry.to_string() };
            entries.push(parse_entry(entry).ok_or_else(bad)?);
        }
        Ok(ExpectedSenders { path: path.to_path_buf(), entries })
    }

    /// Whether a sender at `ip`, authenticated as `principal` (if any), is on the list.
    pub fn expects(&self, ip: IpAddr, principal: Option<&str>) -> bool {
        self.entries.iter().any(|e| match e {
            Entry::Address(a) => crate::source::in_net(ip, *a, if a.is_ipv4() { 32 } else { 128 }),
            Entry::Network(net, bits) => crate::source::in_net(ip, *net, *bits),
            Entry::Principal(p) => principal.is_some_and(|have| principal_matches(p, have)),
        })
    }

    /// The single addresses on the list: senders expected even if never seen.
    pub fn addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.entries.iter().filter_map(|e| match e {
            Entry::Address(a) => Some(*a),
            _ => None,
        })
    }

    /// The principals on the list, as written.
    pub fn principals(&self) -> impl Iterator<Item = &str> + '_ {
        self.entries.iter().filter_map(|e| match e {
            Entry::Principal(p) => Some(p.as_str()),
            _ => None,
        })
    }
}

/// `want` without a realm matches `have` in any realm.
pub fn principal_matches(want: &str, have: &str) -> bool {
    if want.contains('@') {
        want == have
    } else {
        have.split_once('@').map_or(have, |(name, _)| name) == want
    }
}

fn parse_entry(entry: &str) -> Option<Entry> {
    if entry.contains(char::is_whitespace) {
        return None;
    }
    if let Some(ip) = daemon::directives::parse_ip(entry) {
        return Some(Entry::Address(ip));
    }
    if let Some((addr, bits)) = entry.split_once('/') {
        if let Some(ip) = daemon::directives::parse_ip(addr) {
            let max = if ip.is_ipv4() { 32 } else { 128 };
            return bits.parse::<u8>().ok().filter(|b| *b <= max).map(|b| Entry::Network(ip, b));
        }
    }
    // A principal has a name part; host principals are `host/NAME[@REALM]`.
    (entry.contains('/') || entry.contains('@')).then(|| Entry::Principal(entry.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> ExpectedSenders {
        ExpectedSenders::parse(Path::new("expected"), text).unwrap()
    }

    #[test]
    fn addresses_networks_and_principals() {
        let l = list("# the grid\n10.0.0.5\n192.168.1.0/24  # a rack\n\nhost/n1.grid@GRID.TEST\nhost/n2.grid\n::1\n");
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(l.expects(ip("10.0.0.5"), None));
        assert!(!l.expects(ip("10.0.0.6"), None));
        assert!(l.expects(ip("192.168.1.77"), None));
        assert!(l.expects(ip("::ffff:192.168.1.77"), None));
        assert!(l.expects(ip("::1"), None));
        assert!(l.expects(ip("10.9.9.9"), Some("host/n1.grid@GRID.TEST")));
        assert!(!l.expects(ip("10.9.9.9"), Some("host/n1.grid@OTHER.TEST")));
        assert!(l.expects(ip("10.9.9.9"), Some("host/n2.grid@ANY.TEST")));
        assert!(!l.expects(ip("10.9.9.9"), Some("host/n3.grid@GRID.TEST")));
        assert_eq!(l.addresses().count(), 2);
        assert_eq!(l.principals().collect::<Vec<_>>(), ["host/n1.grid@GRID.TEST", "host/n2.grid"]);
    }

    #[test]
    fn a_bad_line_names_its_file_and_line() {
        for bad in ["node1", "10.0.0.0/33", "10.0.0.1 10.0.0.2", "10.0.0.0/x"] {
            let e = ExpectedSenders::parse(Path::new("exp.list"), &format!("10.0.0.1\n{bad}\n")).unwrap_err();
            assert_eq!(e.to_string(), format!("exp.list:2: '{bad}' is not an address, ADDRESS/BITS or a principal"));
        }
    }
}
