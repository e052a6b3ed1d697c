//! sshd activity, as the grid's grok patterns classified it.
//!
//! The interface with sealing (owned here, called by `seal`): for every chunk
//! of complete lines that `seal` stores, it calls [`extract`] with the file's
//! path relative to ROOT and stores the returned bytes beside the chunk, as
//! they are; `report` reads them back through [`crate::report::Source`] and
//! decodes them here ([`decode`]), and runs [`extract`] itself over the live
//! (unsealed) tails. An empty result means "nothing sshd in this chunk" and
//! need not be stored.
//!
//! **Each message counts once.** The collector writes every auth line twice:
//! into the host's `YEAR/MONTH/IP/auth.log` and into the per-service daily
//! `auth/YEAR/MONTH/auth.log.YYYYMMDD` of all hosts. Only files with an IP
//! address among their folders count (the nearest such folder is the host);
//! files under no IP folder, the per-service copies among them, give no
//! events. The host copy is the one to keep: the report's host is the IP
//! folder (the address the collector saw, which the sender cannot choose),
//! and the per-service copy does not have it, only the name the sender
//! wrote in the line.
//!
//! Files: `classify.rs` (which lines are which event), `table.rs` (the
//! stored encoding), `clock.rs` (times as seconds).

pub mod classify;
pub mod clock;
pub mod table;

use std::net::IpAddr;

pub use classify::{classify, Classified, Kind};
pub use table::{decode, DecodeError, Event, Table, NONE};

use crate::linetime::PathDate;

/// The sshd events of `chunk` (complete lines of the file `relpath`,
/// relative to ROOT), encoded for storing beside the chunk.
pub fn extract(relpath: &str, chunk: &[u8]) -> Vec<u8> {
    let Some(host) = host_of(relpath) else {
        return Vec::new();
    };
    let date = PathDate::of(relpath);
    let mut table = table::Builder::new(host);
    for line in chunk.split(|&c| c == b'\n') {
        if let Some(event) = classify(line, &date) {
            table.push(&event);
        }
    }
    table.finish()
}

/// The host of a file: the nearest folder of `relpath` that is an IP
/// address (v4 or v6, as the collector's `%fromhost-ip%` writes it).
pub fn host_of(relpath: &str) -> Option<&str> {
    let (_, folders) = relpath.rsplit_once('/').map(|(dirs, name)| (name, dirs))?;
    folders.rsplit('/').find(|part| part.parse::<IpAddr>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_is_the_ip_folder() {
        assert_eq!(host_of("2026/12/10.0.0.7/auth.log"), Some("10.0.0.7"));
        assert_eq!(host_of("2026/12/::1/auth.log"), Some("::1"));
        assert_eq!(host_of("2026/12/10.0.0.7/x/auth.log"), Some("10.0.0.7"));
        assert_eq!(host_of("auth/2026/12/auth.log.20261207"), None);
        assert_eq!(host_of("10.0.0.7"), None);
        assert_eq!(host_of("2026/12/node7/auth.log"), None);
    }

    #[test]
    fn per_service_copies_give_nothing() {
        let line = b"Dec  7 17:29:17 n sshd[1]: Invalid user a from 1.2.3.4\n";
        assert!(!extract("2026/12/10.0.0.7/auth.log", line).is_empty());
        assert!(extract("auth/2026/12/auth.log.20261207", line).is_empty());
    }
}
