//! `--host`, `--file`, `--since`, `--until`: which files, chunks and lines
//! a search reads.
//!
//! - `--host IP`: a folder of the path is named IP.
//! - `--file NAME`: the file is named NAME, or NAME followed by `.YYYYMMDD`
//!   (a per-service daily file).
//! - `--since`/`--until`: a file whose path has a day (per-service name) is
//!   read when the day is in range, one with `YEAR/MONTH` folders when the
//!   month overlaps the range; within files, a line with a timestamp (either
//!   form, see `linetime`) is kept when its day is in range. Lines without
//!   a timestamp are kept (they continue the line before them).

use crate::linetime::{self, Day, PathDate};
use crate::store::manifest::{stamp_day, Chunk, FLAG_UNSTAMPED};

#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub hosts: Vec<String>,
    pub files: Vec<String>,
    pub since: Option<Day>,
    pub until: Option<Day>,
}

fn day_number(d: Day) -> u64 {
    (u64::from(d.year.max(0) as u32) * 100 + u64::from(d.month)) * 100 + u64::from(d.day)
}

impl Filter {
    pub fn by_time(&self) -> bool {
        self.since.is_some() || self.until.is_some()
    }

    fn in_range(&self, day: u64) -> bool {
        self.since.is_none_or(|s| day >= day_number(s)) && self.until.is_none_or(|u| day <= day_number(u))
    }

    /// Whether the file `rel` is read at all.
    pub fn file(&self, rel: &str) -> bool {
        let mut parts: Vec<&str> = rel.split('/').collect();
        let name = parts.pop().unwrap_or_default();
        if !self.hosts.is_empty() && !parts.iter().any(|p| self.hosts.iter().any(|h| h == p)) {
            return false;
        }
        if !self.files.is_empty() && !self.files.iter().any(|f| name_matches(name, f)) {
            return false;
        }
        if self.by_time() {
            let date = PathDate::of(rel);
            if let Some(day) = date.day {
                return self.in_range(day_number(day));
            }
            if let (Some(y), Some(m)) = (date.year, date.month) {
                let first = (u64::from(y.max(0) as u32) * 100 + u64::from(m)) * 100 + 1;
                let last = first + 30;
                return self.since.is_none_or(|s| last >= day_number(s)) && self.until.is_none_or(|u| first <= day_number(u));
            }
        }
        true
    }

    /// Whether a chunk may hold lines in range.
    pub fn chunk(&self, c: &Chunk) -> bool {
        if !self.by_time() || c.flags & FLAG_UNSTAMPED != 0 || c.first == 0 {
            return true;
        }
        self.since.is_none_or(|s| stamp_day(c.last) >= day_number(s)) && self.until.is_none_or(|u| stamp_day(c.first) <= day_number(u))
    }

    /// Whether a line is in range (`year` for traditional timestamps).
    pub fn line(&self, line: &[u8], year: i32) -> bool {
        match linetime::parse(line, year) {
            Some(t) => self.in_range(day_number(t.day)),
            None => true,
        }
    }
}

fn name_matches(name: &str, wanted: &str) -> bool {
    name == wanted
        || name.strip_prefix(wanted).and_then(|r| r.strip_prefix('.')).is_some_and(|d| d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_files_and_path_dates_select_files() {
        let day = |s| Day::parse(s).ok();
        let f = Filter { hosts: vec!["10.0.0.1".into()], ..Filter::default() };
        assert!(f.file("2026/11/10.0.0.1/auth.log"));
        assert!(!f.file("2026/11/10.0.0.10/auth.log"));
        let f = Filter { files: vec!["auth.log".into()], ..Filter::default() };
        assert!(f.file("2026/11/10.0.0.1/auth.log") && f.file("auth/2026/11/auth.log.20261105"));
        assert!(!f.file("2026/11/10.0.0.1/auth.log.1") && !f.file("2026/11/10.0.0.1/syslog"));
        let f = Filter { since: day("2026-11-05"), until: day("2026-11-06"), ..Filter::default() };
        assert!(f.file("auth/2026/11/auth.log.20261105") && !f.file("auth/2026/11/auth.log.20261107"));
        assert!(f.file("2026/11/h/syslog") && !f.file("2026/10/h/syslog") && !f.file("2026/12/h/syslog"));
        assert!(f.line(b"Nov  5 10:00:00 h x", 2026) && !f.line(b"Nov  7 10:00:00 h x", 2026));
        assert!(f.line(b"2026-11-06T23:59:59+01:00 h x", 2026) && f.line(b"no time here", 2026));
    }
}
