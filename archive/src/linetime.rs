//! The day and time a line was written, read from the line itself, and the
//! dates a file's path tells (the `YEAR/MONTH` folders, a per-service
//! file's `YYYYMMDD`). Shared by `grep --since/--until` and the reports.
//!
//! Two timestamp forms start a line in the collector's tree:
//! - `RSYSLOG_FileFormat`: `2026-12-07T17:29:17.123456+01:00 host tag: msg`
//!   (RFC 3339, fraction and zone optional);
//! - the traditional form: `Dec  7 17:29:17 host tag: msg`, without a year:
//!   the year comes from the path, and failing that from the caller.
//!
//! Times are compared as written (the sender's wall clock); the zone offset
//! is not applied, so that a day means the day printed in the line.

use std::fmt;

/// A calendar day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

/// A line's time, to the second, as written in the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LineTime {
    pub day: Day,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

/// A `--since`/`--until` value that is not `YYYY-MM-DD`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("'{0}' is not a day written YYYY-MM-DD")]
pub struct BadDay(pub String);

impl Day {
    /// Reads `YYYY-MM-DD`, as given on the command line.
    pub fn parse(text: &str) -> Result<Day, BadDay> {
        let bad = || BadDay(text.to_string());
        let b = text.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad());
        }
        let year = digits(&b[0..4]).ok_or_else(bad)? as i32;
        let month = digits(&b[5..7]).ok_or_else(bad)? as u8;
        let day = digits(&b[8..10]).ok_or_else(bad)? as u8;
        Day::new(year, month, day).ok_or_else(bad)
    }

    /// A day that exists in the calendar, or `None`.
    pub fn new(year: i32, month: u8, day: u8) -> Option<Day> {
        (1..=12).contains(&month).then_some(())?;
        (1..=days_in_month(year, month)).contains(&day).then_some(())?;
        Some(Day { year, month, day })
    }

    /// Days from 1970-01-01 (H. Hinnant's `days_from_civil`).
    pub fn number(self) -> i64 {
        let (m, dd) = (i64::from(self.month), i64::from(self.day));
        let y = i64::from(self.year) - i64::from(m <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + dd - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The day `n` days from 1970-01-01 (H. Hinnant's `civil_from_days`);
    /// `None` outside the years 1 to 9999.
    pub fn from_number(n: i64) -> Option<Day> {
        // 0001-01-01 and 9999-12-31.
        if !(-719_162..=2_932_896).contains(&n) {
            return None;
        }
        let z = n + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Day::new(year, month, day)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl fmt::Display for LineTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:02}:{:02}:{:02}", self.day, self.hour, self.minute, self.second)
    }
}

/// What a file's path (relative to ROOT) says about when its lines were
/// written: a `YEAR/MONTH` pair of folders, and a per-service file name that
/// ends in `YYYYMMDD` (`auth.log.20261207`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PathDate {
    pub year: Option<i32>,
    pub month: Option<u8>,
    /// The day of a per-service daily file.
    pub day: Option<Day>,
}

impl PathDate {
    /// Reads the dates in `relpath` (components separated by `/`).
    pub fn of(relpath: &str) -> PathDate {
        let mut date = PathDate::default();
        let parts: Vec<&str> = relpath.split('/').collect();
        if let Some((_, dirs)) = parts.split_last() {
            for pair in dirs.windows(2) {
                let (y, m) = (pair[0].as_bytes(), pair[1].as_bytes());
                if y.len() == 4 && m.len() == 2 {
                    if let (Some(y), Some(m)) = (digits(y), digits(m)) {
                        if (1..=12).contains(&m) {
                            date.year = Some(y as i32);
                            date.month = Some(m as u8);
                        }
                    }
                }
            }
        }
        if let Some(name) = parts.last() {
            let b = name.as_bytes();
            if b.len() >= 8 {
                let tail = &b[b.len() - 8..];
                let boundary = b.len() == 8 || !b[b.len() - 9].is_ascii_digit();
                if boundary {
                    if let (Some(y), Some(m), Some(d)) = (digits(&tail[0..4]), digits(&tail[4..6]), digits(&tail[6..8])) {
                        date.day = Day::new(y as i32, m as u8, d as u8);
                    }
                }
            }
        }
        date
    }

    /// The year to give a traditional timestamp found in this file.
    pub fn year(&self) -> Option<i32> {
        self.day.map(|d| d.year).or(self.year)
    }
}

/// The time at the start of `line`, in either form; `year` is used for the
/// traditional form, which has none.
pub fn parse(line: &[u8], year: i32) -> Option<LineTime> {
    match line.first()? {
        b'0'..=b'9' => parse_rfc3339(line),
        _ => parse_traditional(line, year),
    }
}

fn parse_rfc3339(b: &[u8]) -> Option<LineTime> {
    // YYYY-MM-DDTHH:MM:SS
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let day = Day::new(digits(&b[0..4])? as i32, digits(&b[5..7])? as u8, digits(&b[8..10])? as u8)?;
    time_of_day(day, &b[11..19])
}

const MONTHS: [&[u8; 3]; 12] = [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];

fn parse_traditional(b: &[u8], year: i32) -> Option<LineTime> {
    // Mmm dd hh:mm:ss  (dd space-padded: "Dec  7")
    if b.len() < 15 || b[3] != b' ' || b[6] != b' ' {
        return None;
    }
    let month = MONTHS.iter().position(|m| &b[0..3] == *m)? as u8 + 1;
    let day = match (b[4], b[5]) {
        (b' ', d) => digits(&[d])?,
        (d1, d2) => digits(&[d1, d2])?,
    } as u8;
    time_of_day(Day::new(year, month, day)?, &b[7..15])
}

/// `HH:MM:SS`
fn time_of_day(day: Day, b: &[u8]) -> Option<LineTime> {
    if b[2] != b':' || b[5] != b':' {
        return None;
    }
    let (hour, minute, second) = (digits(&b[0..2])? as u8, digits(&b[3..5])? as u8, digits(&b[6..8])? as u8);
    // 60: a leap second, as RFC 3339 allows.
    (hour < 24 && minute < 60 && second <= 60).then_some(LineTime { day, hour, minute, second })
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
}

/// The days of `month` (1 to 12) in `year`.
pub fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(y: i32, mo: u8, d: u8, h: u8, mi: u8, s: u8) -> LineTime {
        LineTime { day: Day { year: y, month: mo, day: d }, hour: h, minute: mi, second: s }
    }

    #[test]
    fn both_forms_are_read() {
        assert_eq!(parse(b"2026-12-07T17:29:17.123456+01:00 n1 sshd[1]: x", 1999), Some(t(2026, 12, 7, 17, 29, 17)));
        assert_eq!(parse(b"2026-02-28T00:00:00Z n1", 1999), Some(t(2026, 2, 28, 0, 0, 0)));
        assert_eq!(parse(b"Dec  7 17:29:17 n1 sshd[1]: x", 2026), Some(t(2026, 12, 7, 17, 29, 17)));
        assert_eq!(parse(b"Dec 17 07:09:01 n1 cron", 2025), Some(t(2025, 12, 17, 7, 9, 1)));
    }

    #[test]
    fn what_is_not_a_time_is_none() {
        for line in [
            &b""[..],
            b"Dex  7 17:29:17 n1",
            b"Dec 32 17:29:17 n1",
            b"Feb 29 10:00:00 n1",
            b"Dec  7 24:00:00 n1",
            b"2026-13-07T17:29:17 n1",
            b"2026-12-07 17:29:17 n1",
            b"2026-12-07T17:29",
            b"-- MARK --",
        ] {
            assert_eq!(parse(line, 2026), None, "{}", String::from_utf8_lossy(line));
        }
        assert_eq!(parse(b"Feb 29 10:00:00 n1", 2028), Some(t(2028, 2, 29, 10, 0, 0)));
    }

    #[test]
    fn day_numbers_and_back() {
        assert_eq!(Day { year: 1970, month: 1, day: 1 }.number(), 0);
        assert_eq!(Day { year: 2000, month: 3, day: 1 }.number(), 11_017);
        assert_eq!(Day::from_number(20_794), Some(Day { year: 2026, month: 12, day: 7 }));
        assert_eq!(Day::from_number(11_016), Some(Day { year: 2000, month: 2, day: 29 }));
        for n in (-719_162..=2_932_896).step_by(997) {
            let d = Day::from_number(n).unwrap_or_else(|| panic!("{n}"));
            assert_eq!(d.number(), n);
        }
        assert_eq!(Day::from_number(2_932_897), None);
        assert_eq!(Day::from_number(-719_163), None);
    }

    #[test]
    fn days_on_the_command_line() {
        assert_eq!(Day::parse("2026-12-07"), Ok(Day { year: 2026, month: 12, day: 7 }));
        assert_eq!(Day::parse("2026-12-07").map(|d| d.to_string()), Ok("2026-12-07".to_string()));
        for bad in ["2026-12-7", "2026/12/07", "2026-02-30", "yesterday", ""] {
            assert_eq!(Day::parse(bad), Err(BadDay(bad.to_string())));
        }
    }

    #[test]
    fn paths_tell_year_month_and_service_day() {
        let d = PathDate::of("2026/11/10.0.0.7/auth.log");
        assert_eq!((d.year, d.month, d.day), (Some(2026), Some(11), None));
        let d = PathDate::of("auth/2026/11/auth.log.20261130");
        assert_eq!(d.day, Some(Day { year: 2026, month: 11, day: 30 }));
        assert_eq!(d.year(), Some(2026));
        let d = PathDate::of("pbs/2026/12/log.20261201");
        assert_eq!(d.day, Some(Day { year: 2026, month: 12, day: 1 }));
        assert_eq!(PathDate::of("10.0.0.7/syslog"), PathDate::default());
        // Nine digits are not a date; a folder pair needs a month 01-12.
        assert_eq!(PathDate::of("x/log.120261130").day, None);
        assert_eq!(PathDate::of("2026/13/x").month, None);
    }
}
