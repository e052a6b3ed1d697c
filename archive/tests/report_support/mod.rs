//! What the report tests share: a generated collector tree (sshd lines of
//! every kind among other lines, in both timestamp forms, with the
//! per-service copies the collector writes), an in-memory archive of it
//! (part sealed in chunks of complete lines through `sshd::extract`, as
//! seal does, the rest live tails), and running `gsslog report sshd`.
#![allow(dead_code)]

use std::io;

use clap::Parser;
use gsslog_archive::cli::{Cli, Command, Report, ReportArgs};
use gsslog_archive::report::{self, Source};
use gsslog_archive::sshd;

/// A small deterministic generator (no seed files to keep).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407))
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Skewed: low indexes far more often.
    pub fn skewed(&mut self, n: usize) -> usize {
        let a = self.below(n);
        self.below(a + 1)
    }
}

pub const HOSTS: [&str; 3] = ["10.0.0.7", "10.0.0.12", "fd00::5"];
const REMOTES: [&str; 12] = [
    "198.51.100.7",
    "198.51.100.9",
    "203.0.113.50",
    "203.0.113.200",
    "192.0.2.1",
    "2001:db8::7",
    "2001:db8:1::99",
    "10.20.0.3",
    "10.20.0.4",
    "45.33.1.1",
    "185.220.101.4",
    "185.220.101.200",
];
const ATTACK_USERS: [&str; 8] = ["root", "admin", "oracle", "test", "a,b", "x\"y", "bob from 9.9.9.9", ""];
const USERS: [&str; 4] = ["alice", "bob", "carol", "dave"];
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// The tree: (relpath, bytes), relpaths in byte order.
pub struct Tree {
    pub files: Vec<(String, Vec<u8>)>,
}

fn stamp(rfc3339: bool, month: u32, day: u32, secs: u32) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if rfc3339 {
        format!("2026-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{:06}+01:00", secs % 997)
    } else {
        format!("{} {day:>2} {h:02}:{m:02}:{s:02}", MONTHS[month as usize - 1])
    }
}

/// Generates a tree over November 25 to December 6, 2026. Host 0 writes
/// RFC3339 stamps, the others traditional ones.
pub fn tree(seed: u64, events_per_day: usize) -> Tree {
    let mut rng = Rng::new(seed);
    let mut files: std::collections::BTreeMap<String, Vec<u8>> = Default::default();
    let days: Vec<(u32, u32)> = (25..=30).map(|d| (11, d)).chain((1..=6).map(|d| (12, d))).collect();
    let mut pid = 1000u32;
    for (month, day) in days {
        for (h, host) in HOSTS.iter().enumerate() {
            let rfc = h == 0;
            let name = ["n07", "n12", "n05"][h];
            let mut lines: Vec<(u32, String)> = Vec::new();
            let mut secs = rng.below(600) as u32;
            for _ in 0..events_per_day {
                secs += rng.below(3600 * 24 / events_per_day * 2) as u32;
                if secs >= 86_400 {
                    break;
                }
                // Pids repeat now and then, as on a real host.
                pid = if rng.below(20) == 0 { 1000 + rng.below(20) as u32 } else { pid + 1 + rng.below(50) as u32 };
                let remote = REMOTES[rng.skewed(REMOTES.len())];
                let port = 1024 + rng.below(60000);
                let user = USERS[rng.below(USERS.len())];
                let bad = ATTACK_USERS[rng.skewed(ATTACK_USERS.len())];
                let t = |s: u32| stamp(rfc, month, day, s.min(86_399));
                let sshd = |s: u32, msg: String| (s, format!("{} {name} sshd[{pid}]: {msg}", t(s)));
                match rng.below(14) {
                    0 | 1 => {
                        lines.push(sshd(secs, format!("Authorized to {user}, krb5 principal {user}@EXAMPLE.ORG (krb5_kuserok)")));
                        lines.push(sshd(secs + rng.below(2) as u32, format!("Accepted gssapi-with-mic for {user} from {remote} port {port} ssh2")));
                        lines.push((secs + 1, format!("{} {name} sshd[{pid}]: pam_unix(sshd:session): session opened for user {user}(uid=1000) by (uid=0)", t(secs + 1))));
                    }
                    2 => lines.push(sshd(secs, format!("Accepted publickey for {user} from {remote} port {port} ssh2: RSA SHA256:abc{port}"))),
                    3 => lines.push(sshd(secs, format!("Accepted password for {user} from {remote} port {port} ssh2"))),
                    4 | 5 => lines.push(sshd(secs, format!("Failed password for {user} from {remote} port {port} ssh2"))),
                    6 | 7 => {
                        lines.push(sshd(secs, format!("Invalid user {bad} from {remote} port {port}")));
                        lines.push(sshd(secs + 2, format!("Failed password for invalid user {bad} from {remote} port {port} ssh2")));
                        lines.push(sshd(secs + 3, format!("Connection closed by invalid user {bad} {remote} port {port} [preauth]")));
                    }
                    8 => lines.push(sshd(secs, format!("Invalid user {bad} from {remote}"))),
                    9 => lines.push(sshd(secs, format!("Did not receive identification string from {remote}{}", if rng.below(2) == 0 { format!(" port {port}") } else { String::new() }))),
                    10 => {
                        if rng.below(2) == 0 {
                            lines.push(sshd(secs, format!("Received disconnect from {remote} port {port}:11: Bye Bye [preauth]")));
                        } else {
                            lines.push(sshd(secs, format!("Received disconnect from {remote}: 11: Bye Bye [preauth]")));
                        }
                    }
                    11 => lines.push(sshd(secs, format!("Connection closed by {remote} port {port} [preauth]"))),
                    12 => lines.push(sshd(secs, format!("refused connect from scanner.example ({remote})"))),
                    _ => {
                        // Lines that are not sshd events.
                        lines.push((secs, format!("{} {name} CRON[{pid}]: pam_unix(cron:session): session opened for user root", t(secs))));
                        lines.push(sshd(secs, format!("Connection closed by {remote} port {port}")));
                        lines.push((secs, format!("{} {name} su[{pid}]: Accepted password for {user} from {remote} port {port} ssh2", t(secs))));
                    }
                }
            }
            lines.sort_by_key(|l| l.0);
            let text: String = lines.iter().map(|(_, l)| format!("{l}\n")).collect();
            files.entry(format!("2026/{month:02}/{host}/auth.log")).or_default().extend_from_slice(text.as_bytes());
            // The per-service copy of the day: every host's auth lines again.
            files.entry(format!("auth/2026/{month:02}/auth.log.2026{month:02}{day:02}")).or_default().extend_from_slice(text.as_bytes());
            let noise = format!("{} {name} systemd[1]: Started Session 1 of user alice.\n", t0(rfc, month, day));
            files.entry(format!("2026/{month:02}/{host}/syslog")).or_default().extend_from_slice(noise.as_bytes());
        }
    }
    Tree { files: files.into_iter().collect() }
}

fn t0(rfc: bool, month: u32, day: u32) -> String {
    stamp(rfc, month, day, 0)
}

/// The tree as an archive: each file's first `sealed` share of lines
/// sealed in chunks of 1 to 7 lines (one table per chunk), the rest a
/// live tail.
pub struct MemSource {
    pub tables: Vec<(String, Vec<u8>)>,
    pub tails: Vec<(String, Vec<u8>)>,
}

impl MemSource {
    pub fn new(tree: &Tree, sealed_percent: usize, seed: u64) -> MemSource {
        let mut rng = Rng::new(seed);
        let (mut tables, mut tails) = (Vec::new(), Vec::new());
        for (path, bytes) in &tree.files {
            let lines: Vec<&[u8]> = bytes.split_inclusive(|&c| c == b'\n').collect();
            let sealed = lines.len() * sealed_percent / 100;
            let mut i = 0;
            while i < sealed {
                let n = (1 + rng.below(7)).min(sealed - i);
                let chunk: Vec<u8> = lines[i..i + n].concat();
                let table = sshd::extract(path, &chunk);
                if !table.is_empty() {
                    tables.push((path.clone(), table));
                }
                i += n;
            }
            tails.push((path.clone(), lines[sealed..].concat()));
        }
        MemSource { tables, tails }
    }
}

impl Source for MemSource {
    fn for_each_table(&self, each: &mut dyn FnMut(&str, &[u8]) -> io::Result<()>) -> io::Result<()> {
        self.tables.iter().try_for_each(|(p, t)| each(p, t))
    }

    fn for_each_tail(&self, each: &mut dyn FnMut(&str, &[u8]) -> io::Result<()>) -> io::Result<()> {
        self.tails.iter().try_for_each(|(p, t)| each(p, t))
    }
}

/// Runs `gsslog report sshd ARGS...` (the root is added) over `source`.
pub fn report(source: &dyn Source, args: &[&str]) -> Result<String, report::ReportError> {
    let mut argv = vec!["gsslog", "report", "sshd"];
    argv.extend_from_slice(args);
    argv.push("/var/log/hosts");
    let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    let Command::Report(ReportArgs { report: Report::Sshd(sshd) }) = cli.command else { panic!("not a report") };
    let mut out = Vec::new();
    report::run(&sshd, source, &mut out)?;
    Ok(String::from_utf8(out).unwrap_or_else(|e| panic!("report is not UTF-8: {e}")))
}

/// Reads CSV as RFC 4180 writes it: (header, rows).
pub fn parse_csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(field.is_empty() && record.is_empty() && !quoted, "CSV does not end with a newline");
    let mut records = records.into_iter();
    let header = records.next().unwrap_or_default();
    (header, records.collect())
}
