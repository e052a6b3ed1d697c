//! Writes the lines into the collector's tree as the seed server.conf lays
//! it out: `YEAR/MONTH/IP/{syslog,auth.log,kern.log}`, every auth line again
//! in `auth/YEAR/MONTH/auth.log.YYYYMMDD` and every pbs_mom line in
//! `pbs/YEAR/MONTH/log.YYYYMMDD`, each file in time order. Files are only
//! ever appended to, so a later run for more days continues the month.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::events::{Dest, Line};
use crate::world::PLANTED;

/// The two timestamp forms of the collector's files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Stamp {
    /// RSYSLOG_FileFormat: `2026-11-07T17:29:17.123456+01:00`.
    File,
    /// RSYSLOG_TraditionalFileFormat: `Nov  7 17:29:17`.
    Traditional,
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

pub struct Tree {
    root: PathBuf,
    year: i32,
    month: u8,
    stamp: Stamp,
    /// Bytes waiting per file (relative path), written by `flush`.
    pending: BTreeMap<String, Vec<u8>>,
    pending_bytes: usize,
    pub bytes: u64,
    pub lines: u64,
    /// Lines holding each planted token, per file.
    pub planted: HashMap<(&'static str, String), u64>,
}

/// Flush when this much is buffered.
const FLUSH_AT: usize = 256 << 20;

impl Tree {
    pub fn new(root: &Path, year: i32, month: u8, stamp: Stamp) -> Tree {
        Tree { root: root.to_path_buf(), year, month, stamp, pending: BTreeMap::new(), pending_bytes: 0, bytes: 0, lines: 0, planted: HashMap::new() }
    }

    fn stamp(&self, day: u8, hour: u8, at: u64, out: &mut Vec<u8>) {
        let (s, us) = (at / 1_000_000, at % 1_000_000);
        let (min, sec) = (s / 60, s % 60);
        let _ = match self.stamp {
            Stamp::File => write!(out, "{:04}-{:02}-{day:02}T{hour:02}:{min:02}:{sec:02}.{us:06}+01:00", self.year, self.month),
            Stamp::Traditional => write!(out, "{} {day:>2} {hour:02}:{min:02}:{sec:02}", MONTHS[usize::from(self.month - 1)]),
        };
    }

    fn append(&mut self, relpath: &str, line: &[u8]) {
        for token in PLANTED {
            if memfind(line, token.as_bytes()) {
                *self.planted.entry((token, relpath.to_string())).or_default() += 1;
            }
        }
        self.bytes += line.len() as u64;
        self.lines += 1;
        self.pending_bytes += line.len();
        match self.pending.get_mut(relpath) {
            Some(buf) => buf.extend_from_slice(line),
            None => {
                self.pending.insert(relpath.to_string(), line.to_vec());
            }
        }
    }

    /// One hour of the month: every host's lines (each host's already in
    /// time order), then the per-service files' copies, merged by time.
    pub fn hour(&mut self, day: u8, hour: u8, hosts: Vec<(&str, Vec<Line>)>) -> anyhow::Result<()> {
        let (y, m) = (self.year, self.month);
        let mut auth: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut pbs: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut buf = Vec::with_capacity(512);
        for (ip, lines) in hosts {
            let folder = format!("{y:04}/{m:02}/{ip}");
            let files = [format!("{folder}/syslog"), format!("{folder}/auth.log"), format!("{folder}/kern.log")];
            for line in lines {
                buf.clear();
                self.stamp(day, hour, line.at, &mut buf);
                buf.push(b' ');
                buf.extend_from_slice(line.text.as_bytes());
                buf.push(b'\n');
                let file = match line.dest {
                    Dest::Syslog => &files[0],
                    Dest::Auth => &files[1],
                    Dest::Kern => &files[2],
                };
                self.append(file, &buf);
                if line.dest == Dest::Auth {
                    auth.push((line.at, buf.clone()));
                }
                if line.pbs {
                    pbs.push((line.at, buf.clone()));
                }
            }
        }
        for (lines, path) in [(auth, format!("auth/{y:04}/{m:02}/auth.log.{y:04}{m:02}{day:02}")), (pbs, format!("pbs/{y:04}/{m:02}/log.{y:04}{m:02}{day:02}"))] {
            let mut lines = lines;
            lines.sort_by_key(|(at, _)| *at);
            for (_, line) in lines {
                self.append(&path, &line);
            }
        }
        if self.pending_bytes >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> anyhow::Result<()> {
        for (relpath, bytes) in std::mem::take(&mut self.pending) {
            let path = self.root.join(&relpath);
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            let mut file = OpenOptions::new().create(true).append(true).open(&path).with_context(|| format!("opening {}", path.display()))?;
            file.write_all(&bytes).with_context(|| format!("writing {}", path.display()))?;
        }
        self.pending_bytes = 0;
        Ok(())
    }
}

fn memfind(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
