//! The events a report reads: every stored table and every live tail (run
//! through [`crate::sshd::extract`] as seal would), decoded one table at a
//! time, with their strings interned once for the whole report. A table
//! that does not decode is reported and skipped; the rest of the report
//! stands.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::io;
use std::net::IpAddr;

use super::Source;
use crate::sshd::{self, Kind, NONE};

/// One event, its strings as ids in [`Strings`] ([`NONE`] where the kind has
/// no such field).
#[derive(Clone, Copy, Debug)]
pub struct Ev {
    pub secs: i64,
    pub host: u32,
    pub pid: u32,
    pub kind: Kind,
    pub invalid: bool,
    pub method: u32,
    pub user: u32,
    pub remote: u32,
    pub principal: u32,
}

/// Every string of a report, once.
#[derive(Default)]
pub struct Strings {
    ids: HashMap<String, u32>,
    all: Vec<String>,
}

impl Strings {
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.all.len() as u32;
        self.all.push(s.to_string());
        self.ids.insert(s.to_string(), id);
        id
    }

    /// The string `id`; empty for [`NONE`].
    pub fn get(&self, id: u32) -> &str {
        self.all.get(id as usize).map_or("", String::as_str)
    }

    /// Ranks of `ids` in [`Strings::cmp_addr`] order, so that a sort
    /// compares numbers rather than parsing addresses at every step.
    pub fn addr_ranks(&self, ids: impl Iterator<Item = u32>) -> HashMap<u32, u32> {
        let mut unique: Vec<u32> = ids.collect();
        unique.sort_unstable();
        unique.dedup();
        unique.sort_by(|&a, &b| self.cmp_addr(a, b));
        unique.into_iter().enumerate().map(|(rank, id)| (id, rank as u32)).collect()
    }

    /// Orders two ids as addresses where both are IP addresses (numerically,
    /// v4 before v6), else as bytes.
    pub fn cmp_addr(&self, a: u32, b: u32) -> Ordering {
        let (a, b) = (self.get(a), self.get(b));
        match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            (Err(_), Err(_)) => a.cmp(b),
        }
    }
}

/// Gives every event of the archive to a report's tallies, one table at a
/// time, so that a report holds its counts, never the month's events.
pub struct Scan {
    pub strings: Strings,
    /// Tables that did not decode (named in a warning each).
    pub damaged: usize,
}

impl Scan {
    /// Reads every stored table, then every live tail, calling `visit` with
    /// each event.
    pub fn run(source: &dyn Source, visit: &mut dyn FnMut(&Ev, &Strings)) -> io::Result<Scan> {
        let mut scan = Scan { strings: Strings::default(), damaged: 0 };
        source.for_each_table(&mut |relpath, bytes| {
            scan.add(relpath, bytes, visit);
            Ok(())
        })?;
        source.for_each_tail(&mut |relpath, lines| {
            let table = sshd::extract(relpath, lines);
            scan.add(relpath, &table, visit);
            Ok(())
        })?;
        Ok(scan)
    }

    fn add(&mut self, relpath: &str, bytes: &[u8], visit: &mut dyn FnMut(&Ev, &Strings)) {
        if bytes.is_empty() {
            return;
        }
        let table = match sshd::decode(bytes) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("{relpath}: skipping a damaged sshd table: {e}");
                self.damaged += 1;
                return;
            }
        };
        let host = self.strings.intern(&table.host);
        let ids: Vec<u32> = table.strings.iter().map(|s| self.strings.intern(s)).collect();
        let id = |i: u32| if i == NONE { NONE } else { ids.get(i as usize).copied().unwrap_or(NONE) };
        for e in &table.events {
            let ev = Ev {
                secs: e.secs,
                host,
                pid: e.pid,
                kind: e.kind,
                invalid: e.invalid,
                method: id(e.method),
                user: id(e.user),
                remote: id(e.remote),
                principal: id(e.principal),
            };
            visit(&ev, &self.strings);
        }
    }
}
