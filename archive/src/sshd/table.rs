//! The per-chunk event table: its encoding (what seal stores beside a chunk)
//! and its decoding, which takes any bytes without panicking.
//!
//! Version 1, all numbers unsigned LEB128 varints unless said otherwise:
//!
//! ```text
//! u8 version (1)
//! host:     len, UTF-8 bytes            the IP folder of the chunk's file
//! strings:  count, then count × (len, UTF-8 bytes)   each distinct user, method,
//!                                       remote address and principal once
//! events:   count, then count × event
//! event:    u8 kind (bits 0-3: Kind; bit 4: invalid user)
//!           time: zigzag difference in seconds from the previous event's
//!                 (the first from 0); seconds count from 1970-01-01 as written
//!           pid
//!           then string indexes, by kind:
//!             Accepted, Failed: method, user, remote
//!             Invalid:          user, remote
//!             Authorized:       user, principal
//!             the others:       remote
//! ```
//!
//! Events are in the chunk's line order. About 6 to 10 bytes per event.

use std::collections::HashMap;

use super::classify::{Classified, Kind};
use super::clock;

const VERSION: u8 = 1;
const INVALID_BIT: u8 = 0x10;
/// Times outside years 1 to 9999 are refused (see [`clock::from_secs`]).
const MIN_SECS: i64 = -62_135_596_800;
const MAX_SECS: i64 = 253_402_300_799;

/// Why stored bytes are not a table.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("empty sshd table")]
    Empty,
    #[error("sshd table version {0} is not known (this gsslog reads version {VERSION})")]
    Version(u8),
    #[error("sshd table ends early, in {0}")]
    Truncated(&'static str),
    #[error("sshd table has a bad {0}")]
    Bad(&'static str),
    #[error("sshd table has {0} bytes after its last event")]
    Trailing(usize),
}

/// A no-string marker in [`Event`].
pub const NONE: u32 = u32::MAX;

/// One event; its strings are indexes into the table's strings ([`NONE`] when
/// the kind has no such field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub secs: i64,
    pub pid: u32,
    pub kind: Kind,
    pub invalid: bool,
    pub method: u32,
    pub user: u32,
    pub remote: u32,
    pub principal: u32,
}

/// A decoded table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    pub host: String,
    pub strings: Vec<String>,
    pub events: Vec<Event>,
}

impl Table {
    /// The string at `index`, empty for [`NONE`] (decode checked the rest).
    pub fn string(&self, index: u32) -> &str {
        self.strings.get(index as usize).map_or("", String::as_str)
    }
}

/// Builds one table, event by event.
pub struct Builder {
    host: String,
    strings: Vec<String>,
    index: HashMap<Vec<u8>, u32>,
    events: Vec<u8>,
    count: u64,
    last_secs: i64,
}

impl Builder {
    pub fn new(host: &str) -> Builder {
        Builder { host: host.to_string(), strings: Vec::new(), index: HashMap::new(), events: Vec::new(), count: 0, last_secs: 0 }
    }

    pub fn push(&mut self, e: &Classified<'_>) {
        let secs = clock::to_secs(e.time);
        self.events.push(e.kind as u8 | if e.invalid { INVALID_BIT } else { 0 });
        put(&mut self.events, zigzag(secs - self.last_secs));
        self.last_secs = secs;
        put(&mut self.events, u64::from(e.pid));
        let fields: &[&[u8]] = match e.kind {
            Kind::Accepted | Kind::Failed => &[e.method, e.user, e.remote],
            Kind::Invalid => &[e.user, e.remote],
            Kind::Authorized => &[e.user, e.principal],
            _ => &[e.remote],
        };
        for field in fields {
            let i = self.intern(field);
            put(&mut self.events, u64::from(i));
        }
        self.count += 1;
    }

    fn intern(&mut self, s: &[u8]) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.strings.len() as u32;
        self.strings.push(String::from_utf8_lossy(s).into_owned());
        self.index.insert(s.to_vec(), i);
        i
    }

    /// The encoded table; empty when no event was pushed.
    pub fn finish(self) -> Vec<u8> {
        if self.count == 0 {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(self.events.len() + 64 + self.strings.iter().map(|s| s.len() + 2).sum::<usize>());
        out.push(VERSION);
        put_str(&mut out, &self.host);
        put(&mut out, self.strings.len() as u64);
        for s in &self.strings {
            put_str(&mut out, s);
        }
        put(&mut out, self.count);
        out.extend_from_slice(&self.events);
        out
    }
}

/// Reads a table; any bytes give a table or an error, never a panic, and
/// never an allocation larger than the input allows.
pub fn decode(bytes: &[u8]) -> Result<Table, DecodeError> {
    let (&version, rest) = bytes.split_first().ok_or(DecodeError::Empty)?;
    if version != VERSION {
        return Err(DecodeError::Version(version));
    }
    let mut r = Reader { rest };
    let host = r.string("host")?;
    let count = r.count("string count")?;
    let mut strings = Vec::with_capacity(count);
    for _ in 0..count {
        strings.push(r.string("string")?);
    }
    // Every event takes at least 3 bytes.
    let count = r.varint("event count")?;
    if count > (r.rest.len() / 3) as u64 {
        return Err(DecodeError::Bad("event count"));
    }
    let mut events = Vec::with_capacity(count as usize);
    let mut secs = 0i64;
    let n = strings.len() as u64;
    for _ in 0..count {
        let byte = r.byte("event")?;
        let kind = Kind::from_u8(byte & 0x0f).ok_or(DecodeError::Bad("event kind"))?;
        if byte & !(0x0f | INVALID_BIT) != 0 {
            return Err(DecodeError::Bad("event kind"));
        }
        secs = secs.checked_add(unzigzag(r.varint("time")?)).ok_or(DecodeError::Bad("time"))?;
        if !(MIN_SECS..=MAX_SECS).contains(&secs) {
            return Err(DecodeError::Bad("time"));
        }
        let pid = u32::try_from(r.varint("pid")?).map_err(|_| DecodeError::Bad("pid"))?;
        let mut index = || -> Result<u32, DecodeError> {
            let i = r.varint("string index")?;
            if i >= n {
                return Err(DecodeError::Bad("string index"));
            }
            Ok(i as u32)
        };
        let mut e = Event { secs, pid, kind, invalid: byte & INVALID_BIT != 0, method: NONE, user: NONE, remote: NONE, principal: NONE };
        match kind {
            Kind::Accepted | Kind::Failed => {
                e.method = index()?;
                e.user = index()?;
                e.remote = index()?;
            }
            Kind::Invalid => {
                e.user = index()?;
                e.remote = index()?;
            }
            Kind::Authorized => {
                e.user = index()?;
                e.principal = index()?;
            }
            _ => e.remote = index()?,
        }
        events.push(e);
    }
    if !r.rest.is_empty() {
        return Err(DecodeError::Trailing(r.rest.len()));
    }
    Ok(Table { host, strings, events })
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl Reader<'_> {
    fn byte(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        let (&b, rest) = self.rest.split_first().ok_or(DecodeError::Truncated(what))?;
        self.rest = rest;
        Ok(b)
    }

    fn varint(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte(what)?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(DecodeError::Bad(what));
            }
            n |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(DecodeError::Bad(what))
    }

    /// A count of items that take at least one byte each.
    fn count(&mut self, what: &'static str) -> Result<usize, DecodeError> {
        let n = self.varint(what)?;
        if n > self.rest.len() as u64 {
            return Err(DecodeError::Bad(what));
        }
        Ok(n as usize)
    }

    fn string(&mut self, what: &'static str) -> Result<String, DecodeError> {
        let len = self.count(what)?;
        let (bytes, rest) = self.rest.split_at(len);
        self.rest = rest;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::Bad(what))
    }
}

fn put(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(n: u64) -> i64 {
    (n >> 1) as i64 ^ -((n & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linetime::PathDate;
    use crate::sshd::classify::classify;

    fn table(lines: &[&str]) -> Vec<u8> {
        let date = PathDate::of("2026/12/10.0.0.7/auth.log");
        let mut b = Builder::new("10.0.0.7");
        for line in lines {
            if let Some(e) = classify(line.as_bytes(), &date) {
                b.push(&e);
            }
        }
        b.finish()
    }

    #[test]
    fn a_table_reads_back_as_written() {
        let bytes = table(&[
            "Dec  7 17:29:17 n sshd[11]: Authorized to alice, krb5 principal alice@EX.ORG (krb5_kuserok)",
            "Dec  7 17:29:17 n sshd[11]: Accepted gssapi-with-mic for alice from 10.1.2.3 port 5 ssh2",
            "Dec  7 17:00:00 n sshd[12]: Failed password for invalid user alice from 10.1.2.3 port 5 ssh2",
            "Dec  7 17:00:01 n sshd[13]: Connection closed by 10.1.2.4 port 5 [preauth]",
        ]);
        let t = decode(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.host, "10.0.0.7");
        assert_eq!(t.events.len(), 4);
        let e = t.events[2];
        assert_eq!((e.kind, e.invalid, e.pid), (Kind::Failed, true, 12));
        assert_eq!((t.string(e.method), t.string(e.user), t.string(e.remote)), ("password", "alice", "10.1.2.3"));
        assert_eq!(clock::from_secs(e.secs).map(|t| t.to_string()), Some("2026-12-07 17:00:00".into()));
        assert_eq!(t.string(t.events[0].principal), "alice@EX.ORG");
        assert_eq!(t.events[3].user, NONE);
        // Each string once.
        assert_eq!(t.strings.iter().filter(|s| *s == "alice").count(), 1);
        assert!(bytes.len() <= 110, "{} bytes", bytes.len());
    }

    #[test]
    fn no_events_no_bytes() {
        assert!(table(&["Dec  7 17:29:17 n cron[1]: hello"]).is_empty());
    }

    #[test]
    fn damaged_tables_are_errors() {
        let bytes = table(&["Dec  7 17:29:17 n sshd[11]: Accepted gssapi-with-mic for alice from 10.1.2.3 port 5 ssh2"]);
        assert_eq!(decode(&[]), Err(DecodeError::Empty));
        assert_eq!(decode(&[9]), Err(DecodeError::Version(9)));
        for cut in 1..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer), Err(DecodeError::Trailing(1)));
        // A huge count allocates nothing.
        assert!(decode(&[1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
        assert!(decode(&[1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).is_err());
    }
}
