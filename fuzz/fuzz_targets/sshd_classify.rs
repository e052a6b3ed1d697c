//! The sshd line classifier and the table it feeds (`sshd::extract`), on
//! lines anyone who can log to a node writes.
//!
//! Input: one byte choosing the file's path (a host's file with a YEAR/MONTH
//! folder, a January folder, a per-service copy, a host folder with no
//! year), then the chunk of lines. Every classified line must have the
//! fields its kind has, and the table extract makes must decode to exactly
//! those events.
#![no_main]

use gsslog_archive::linetime::PathDate;
use gsslog_archive::sshd::{self, Kind};
use libfuzzer_sys::fuzz_target;

const PATHS: [&str; 4] = ["2026/12/10.0.0.7/auth.log", "2027/01/fd00::5/auth.log", "auth/2026/12/auth.log.20261207", "10.0.0.7/auth.log"];

fuzz_target!(|data: &[u8]| {
    let Some((&which, chunk)) = data.split_first() else { return };
    let path = PATHS[usize::from(which) % PATHS.len()];
    let date = PathDate::of(path);
    let mut classified = Vec::new();
    for line in chunk.split(|&c| c == b'\n') {
        let Some(e) = sshd::classify(line, &date) else { continue };
        if e.kind.has_remote() {
            assert!(!e.remote.is_empty() && !e.remote.contains(&b' '), "bad remote {:?}", e.remote);
        } else {
            assert!(!e.principal.is_empty());
        }
        if matches!(e.kind, Kind::Accepted | Kind::Failed) {
            assert!(!e.method.is_empty() && !e.method.contains(&b' '));
        }
        classified.push(e);
    }
    let table = sshd::extract(path, chunk);
    if sshd::host_of(path).is_none() || classified.is_empty() {
        assert!(table.is_empty(), "a table for {path}");
        return;
    }
    let decoded = sshd::decode(&table).unwrap_or_else(|e| panic!("extract's own table does not decode: {e}"));
    assert_eq!(decoded.events.len(), classified.len());
    for (d, c) in decoded.events.iter().zip(&classified) {
        assert_eq!((d.kind, d.pid, d.invalid), (c.kind, c.pid, c.invalid));
        // A leap second (:60) counts as the next second.
        assert_eq!(d.secs, sshd::clock::to_secs(c.time));
        let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        assert_eq!(decoded.string(d.user), lossy(c.user));
        assert_eq!(decoded.string(d.method), lossy(c.method));
        assert_eq!(decoded.string(d.remote), lossy(c.remote));
        assert_eq!(decoded.string(d.principal), lossy(c.principal));
    }
});
