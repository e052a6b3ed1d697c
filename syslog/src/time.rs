//! Timestamps as rsyslog keeps them: broken-down fields, the fractional
//! seconds with the precision they arrived with, and the UTC offset.

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Datelike, Local, Offset, TimeZone, Timelike, Utc};

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// A point in time as a syslog message states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    /// The year, e.g. 2026.
    pub year: i32,
    /// 1-12.
    pub month: u8,
    /// 1-31.
    pub day: u8,
    /// 0-23.
    pub hour: u8,
    /// 0-59.
    pub minute: u8,
    /// Seconds (0-59).
    pub second: u8,
    /// Fractional seconds as digits were given, e.g. 123 with precision 3.
    pub secfrac: u32,
    /// How many digits `secfrac` has (0 = none given).
    pub secfrac_precision: u8,
    /// `+`, `-` or `Z`.
    pub offset_mode: u8,
    /// Hours of the UTC offset.
    pub offset_hour: u8,
    /// Minutes of the UTC offset.
    pub offset_minute: u8,
}

impl Timestamp {
    /// The current time in the local time zone, microsecond precision.
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now(), false)
    }

    /// `t` in the local time zone (or UTC), microsecond precision.
    pub fn from_system_time(t: SystemTime, utc: bool) -> Self {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let utc_time = DateTime::<Utc>::from_timestamp(d.as_secs() as i64, d.subsec_nanos()).unwrap_or_default();
        let mut ts = if utc {
            Self::from_chrono(&utc_time, 0)
        } else {
            let local = utc_time.with_timezone(&Local);
            let offset = local.offset().fix().local_minus_utc();
            Self::from_chrono(&local, offset)
        };
        ts.secfrac = d.subsec_micros();
        ts.secfrac_precision = 6;
        ts
    }

    fn from_chrono<Tz: TimeZone>(t: &DateTime<Tz>, offset_secs: i32) -> Self {
        let abs = offset_secs.unsigned_abs();
        Timestamp {
            year: t.year(),
            month: t.month() as u8,
            day: t.day() as u8,
            hour: t.hour() as u8,
            minute: t.minute() as u8,
            second: t.second() as u8,
            secfrac: 0,
            secfrac_precision: 0,
            offset_mode: if offset_secs < 0 { b'-' } else { b'+' },
            offset_hour: (abs / 3600) as u8,
            offset_minute: (abs % 3600 / 60) as u8,
        }
    }

    /// Seconds since the epoch (rsyslog's own conversion: years 1970..2100).
    pub fn unix(&self) -> i64 {
        if !(1970..=2100).contains(&self.year) {
            return 0;
        }
        let days = days_from_civil(self.year, self.month, self.day);
        let mut secs = days * 86400 + i64::from(self.hour) * 3600 + i64::from(self.minute) * 60 + i64::from(self.second);
        let offset = i64::from(self.offset_hour) * 3600 + i64::from(self.offset_minute) * 60;
        if self.offset_mode == b'+' {
            secs -= offset;
        } else if self.offset_mode == b'-' {
            secs += offset;
        }
        secs
    }

    /// The same instant in UTC (for the `date-utc` replacer option).
    pub fn to_utc(&self) -> Self {
        let t = DateTime::<Utc>::from_timestamp(self.unix(), 0).unwrap_or_default();
        let mut u = Self::from_chrono(&t, 0);
        u.secfrac = self.secfrac;
        u.secfrac_precision = self.secfrac_precision;
        u.offset_mode = b'Z';
        u
    }

    /// Day of week, 0 = Sunday.
    pub fn weekday(&self) -> u32 {
        chrono::NaiveDate::from_ymd_opt(self.year, u32::from(self.month), u32::from(self.day))
            .map(|d| d.weekday().num_days_from_sunday())
            .unwrap_or(0)
    }

    /// `2026-11-23T12:14:25.123+01:00`: fractional seconds only when present.
    pub fn write_rfc3339(&self, out: &mut Vec<u8>) {
        self.write_date(out, b'-');
        out.push(b'T');
        self.write_time(out);
        if self.secfrac_precision > 0 {
            out.push(b'.');
            self.write_secfrac(out);
        }
        if self.offset_mode == b'Z' {
            out.push(b'Z');
        } else {
            out.push(self.offset_mode);
            push2(out, self.offset_hour.into());
            out.push(b':');
            push2(out, self.offset_minute.into());
        }
    }

    /// `Nov  3 12:14:25`: the day padded with a space.
    pub fn write_rfc3164(&self, out: &mut Vec<u8>) {
        let m = MONTHS[(usize::from(self.month).max(1) - 1) % 12];
        out.extend_from_slice(m.as_bytes());
        out.push(b' ');
        let tens = self.day / 10 % 10;
        out.push(if tens > 0 { b'0' + tens } else { b' ' });
        out.push(b'0' + self.day % 10);
        out.push(b' ');
        self.write_time(out);
    }

    /// `2026-11-23 12:14:25` without the dashes: `20261123121425`.
    pub fn write_mysql(&self, out: &mut Vec<u8>) {
        push4(out, self.year);
        push2(out, self.month.into());
        push2(out, self.day.into());
        push2(out, self.hour.into());
        push2(out, self.minute.into());
        push2(out, self.second.into());
    }

    /// `YYYY-MM-DD`, with `sep` between the fields.
    pub fn write_date(&self, out: &mut Vec<u8>, sep: u8) {
        push4(out, self.year);
        out.push(sep);
        push2(out, self.month.into());
        out.push(sep);
        push2(out, self.day.into());
    }

    fn write_time(&self, out: &mut Vec<u8>) {
        push2(out, self.hour.into());
        out.push(b':');
        push2(out, self.minute.into());
        out.push(b':');
        push2(out, self.second.into());
    }

    /// The fractional seconds' digits as given (`0` when none were).
    pub fn write_secfrac(&self, out: &mut Vec<u8>) {
        if self.secfrac_precision == 0 {
            out.push(b'0');
            return;
        }
        let digits = (usize::from(self.secfrac_precision) - 1) % 6 + 1;
        let s = format!("{:0width$}", self.secfrac, width = digits);
        out.extend_from_slice(&s.as_bytes()[s.len().saturating_sub(digits)..]);
    }
}

/// The date formats of the property replacer (`date-rfc3339`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateFormat {
    /// No option: as `Rfc3164`.
    Default,
    /// `date-rfc3164`: `Nov  3 01:02:03`.
    Rfc3164,
    /// `date-rfc3164-buggyday`: `Nov 03 01:02:03`.
    Rfc3164BuggyDay,
    /// `date-rfc3339`: `2026-11-23T12:14:25.123+01:00`.
    Rfc3339,
    /// `date-mysql`: `20261123121425`.
    Mysql,
    /// `date-pgsql`: `2026-11-23 12:14:25`.
    Pgsql,
    /// `date-unixtimestamp`: seconds since the epoch.
    Unix,
    /// `date-year`.
    Year,
    /// `date-month`.
    Month,
    /// `date-day`.
    Day,
    /// `date-hour`.
    Hour,
    /// `date-minute`.
    Minute,
    /// `date-second`.
    Second,
    /// `date-subseconds`: the fractional seconds' digits.
    Subseconds,
    /// `date-wday`: the weekday, 0 = Sunday.
    Wday,
    /// `date-tzoffshour`: the hours of the UTC offset.
    TzOffsHour,
}

impl Timestamp {
    /// Writes the time in `format`, converted to UTC first when `utc` is set.
    pub fn write_formatted(&self, format: DateFormat, utc: bool, v: &mut Vec<u8>) {
        let t = if utc { self.to_utc() } else { *self };
        let start = v.len();
        match format {
            DateFormat::Default | DateFormat::Rfc3164 => t.write_rfc3164(v),
            DateFormat::Rfc3164BuggyDay => {
                t.write_rfc3164(v);
                if v[start + 4] == b' ' {
                    v[start + 4] = b'0';
                }
            }
            DateFormat::Rfc3339 => t.write_rfc3339(v),
            DateFormat::Mysql => t.write_mysql(v),
            DateFormat::Pgsql => {
                t.write_date(v, b'-');
                v.extend_from_slice(format!(" {:02}:{:02}:{:02}", t.hour, t.minute, t.second).as_bytes());
            }
            DateFormat::Unix => v.extend_from_slice(t.unix().to_string().as_bytes()),
            DateFormat::Year => push4(v, t.year),
            DateFormat::Month => push2(v, t.month.into()),
            DateFormat::Day => push2(v, t.day.into()),
            DateFormat::Hour => push2(v, t.hour.into()),
            DateFormat::Minute => push2(v, t.minute.into()),
            DateFormat::Second => push2(v, t.second.into()),
            DateFormat::Subseconds => t.write_secfrac(v),
            DateFormat::Wday => v.extend_from_slice(t.weekday().to_string().as_bytes()),
            DateFormat::TzOffsHour => push2(v, t.offset_hour.into()),
        }
    }
}

pub(crate) fn push2(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

pub(crate) fn push4(out: &mut Vec<u8>, v: i32) {
    let v = v.max(0) as u32;
    out.push(b'0' + (v / 1000 % 10) as u8);
    out.push(b'0' + (v / 100 % 10) as u8);
    push2(out, v % 100);
}

fn days_from_civil(y: i32, m: u8, d: u8) -> i64 {
    let (y, m) = (i64::from(y) - i64::from(m <= 2), i64::from(m));
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// A cursor over the bytes being parsed, mirroring rsyslog's pointer-and-length
/// parsing so that edge cases come out the same.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn left(&self) -> usize {
        self.s.len() - self.i
    }
    /// rsyslog's srSLMGParseInt32: digits, possibly none (then 0).
    fn int(&mut self) -> i64 {
        let mut v: i64 = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            if v >= i64::from(i32::MAX / 10 - 1) {
                break;
            }
            v = v * 10 + i64::from(c - b'0');
            self.i += 1;
        }
        v
    }
    /// After the hour: `:mm:ss[.fraction]`, range-checked as rsyslog does.
    /// Returns minute, second, fraction and its number of digits.
    fn clock_after_hour(&mut self, hour: i64) -> Option<(i64, i64, u32, u8)> {
        if !(0..=23).contains(&hour) || !self.eat(b':') {
            return None;
        }
        let minute = self.int();
        if !(0..=59).contains(&minute) || !self.eat(b':') {
            return None;
        }
        let second = self.int();
        if !(0..=60).contains(&second) {
            return None;
        }
        let (secfrac, precision) = if self.eat(b'.') {
            let start = self.i;
            let v = self.int();
            (v as u32, (self.i - start) as u8)
        } else {
            (0, 0)
        };
        Some((minute, second, secfrac, precision))
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
}

/// Parses an RFC 3339 timestamp at the start of `s`, as rsyslog does (it must
/// be followed by a space or the end). Returns it and the bytes consumed,
/// including that space.
pub fn parse_rfc3339(s: &[u8]) -> Option<(Timestamp, usize)> {
    let mut c = Cursor { s, i: 0 };
    let year = c.int();
    if c.left() == 0 || !c.eat(b'-') || !(0..2100).contains(&year) {
        return None;
    }
    let month = c.int();
    if !(1..=12).contains(&month) || !c.eat(b'-') {
        return None;
    }
    let day = c.int();
    if !(1..=31).contains(&day) || !c.eat(b'T') {
        return None;
    }
    let hour = c.int();
    let (minute, second, secfrac, precision) = c.clock_after_hour(hour)?;
    let (mode, oh, om) = match c.peek()? {
        b'Z' => {
            c.i += 1;
            (b'Z', 0, 0)
        }
        m @ (b'+' | b'-') => {
            c.i += 1;
            let oh = c.int();
            if !(0..=23).contains(&oh) || !c.eat(b':') {
                return None;
            }
            let om = c.int();
            if !(0..=59).contains(&om) {
                return None;
            }
            (m, oh, om)
        }
        _ => return None,
    };
    if c.left() > 0 && !c.eat(b' ') {
        return None;
    }
    Some((
        Timestamp {
            year: year as i32,
            month: month as u8,
            day: day as u8,
            hour: hour as u8,
            minute: minute as u8,
            second: second as u8,
            secfrac,
            secfrac_precision: precision,
            offset_mode: mode,
            offset_hour: oh as u8,
            offset_minute: om as u8,
        },
        c.i,
    ))
}

/// Parses an RFC 3164 timestamp (`Mmm dd hh:mm:ss`, with rsyslog's tolerances:
/// a leading year, a one-digit day, a year instead of the hour, fractional
/// seconds, a trailing colon). Fields it lacks (year, offset) come from `base`,
/// the reception time. Returns it and the bytes consumed, including the space.
pub fn parse_rfc3164(s: &[u8], base: &Timestamp) -> Option<(Timestamp, usize)> {
    if s.len() < 3 {
        return None;
    }
    let mut c = Cursor { s, i: 0 };
    let mut year = 0;
    if c.peek().is_some_and(|b| b.is_ascii_digit()) {
        year = c.int();
        if !(1970..=2100).contains(&year) || c.peek() != Some(b' ') {
            return None;
        }
        c.i += 1;
    }
    let name = s.get(c.i..c.i + 3)?;
    let month = MONTHS.iter().position(|m| m.as_bytes().eq_ignore_ascii_case(name))? as i64 + 1;
    c.i += 3;
    if !c.eat(b' ') {
        return None;
    }
    c.eat(b' ');
    let day = c.int();
    if !(1..=31).contains(&day) || !c.eat(b' ') {
        return None;
    }
    let mut hour = c.int();
    if year == 0 && hour > 1970 && hour < 2100 {
        year = hour;
        if !c.eat(b' ') {
            return None;
        }
        hour = c.int();
    }
    let (minute, second, secfrac, precision) = c.clock_after_hour(hour)?;
    c.eat(b':');
    if c.left() > 0 && !c.eat(b' ') {
        return None;
    }
    let mut t = *base;
    if year > 0 {
        t.year = year as i32;
    }
    t.month = month as u8;
    t.day = day as u8;
    t.hour = hour as u8;
    t.minute = minute as u8;
    t.second = second as u8;
    t.secfrac = secfrac;
    t.secfrac_precision = precision;
    Some((t, c.i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Timestamp {
        parse_rfc3339(b"2026-11-23T10:00:00.000001+01:00").unwrap().0
    }

    fn s3339(t: &Timestamp) -> String {
        let mut v = Vec::new();
        t.write_rfc3339(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn rfc3339_round_trip_keeps_precision() {
        for s in ["2026-11-23T12:14:25+00:00", "2026-11-23T12:14:25.123Z", "2003-08-24T05:14:15.000003-07:00"] {
            let (t, n) = parse_rfc3339(s.as_bytes()).unwrap();
            assert_eq!(n, s.len());
            assert_eq!(s3339(&t), s);
        }
        assert!(parse_rfc3339(b"2026-11-23T12:14:25").is_none(), "offset is mandatory");
        assert!(parse_rfc3339(b"2026-11-23T12:14:25Zx").is_none());
    }

    #[test]
    fn rfc3164_takes_year_and_offset_from_reception() {
        let (t, n) = parse_rfc3164(b"Nov  3 12:14:25 host", &base()).unwrap();
        assert_eq!(n, 16);
        assert_eq!(s3339(&t), "2026-11-03T12:14:25+01:00");
        let (t, _) = parse_rfc3164(b"nov 23 2025 12:14:25: x", &base()).unwrap();
        assert_eq!(t.year, 2025);
        let (t, _) = parse_rfc3164(b"Nov 23 12:14:25.250 x", &base()).unwrap();
        assert_eq!(s3339(&t), "2026-11-23T12:14:25.250+01:00");
        assert!(parse_rfc3164(b"Nox 23 12:14:25 x", &base()).is_none());
        assert!(parse_rfc3164(b"Nov 23 12:14:25x", &base()).is_none());
        let mut v = Vec::new();
        parse_rfc3164(b"Nov 3 01:02:03", &base()).unwrap().0.write_rfc3164(&mut v);
        assert_eq!(v, b"Nov  3 01:02:03");
    }

    #[test]
    fn unix_time() {
        assert_eq!(parse_rfc3339(b"1970-01-01T00:00:00Z").unwrap().0.unix(), 0);
        assert_eq!(parse_rfc3339(b"2026-11-23T13:00:00+01:00").unwrap().0.unix(), 1_795_435_200);
    }
}
