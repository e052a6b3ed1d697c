//! A line's time as a count of seconds, and back: what the tables store and
//! the reports bucket by. The seconds count the wall clock as written in the
//! line (no zone applied), from 1970-01-01 00:00:00.

use crate::linetime::{Day, LineTime};

const SECS_PER_DAY: i64 = 86_400;

/// Seconds from 1970-01-01 00:00:00 to `t`, as written.
pub fn to_secs(t: LineTime) -> i64 {
    day_number(t.day) * SECS_PER_DAY + i64::from(t.hour) * 3600 + i64::from(t.minute) * 60 + i64::from(t.second)
}

/// The time `secs` seconds after 1970-01-01 00:00:00; `None` outside the
/// years 1 to 9999.
pub fn from_secs(secs: i64) -> Option<LineTime> {
    let day = from_day_number(secs.div_euclid(SECS_PER_DAY))?;
    let rest = secs.rem_euclid(SECS_PER_DAY);
    Some(LineTime { day, hour: (rest / 3600) as u8, minute: (rest / 60 % 60) as u8, second: (rest % 60) as u8 })
}

/// The day number (days from 1970-01-01) of `secs`.
pub fn day_of(secs: i64) -> i64 {
    secs.div_euclid(SECS_PER_DAY)
}

/// Days from 1970-01-01.
pub fn day_number(d: Day) -> i64 {
    d.number()
}

/// The day `n` days from 1970-01-01; `None` outside the years 1 to 9999.
pub fn from_day_number(n: i64) -> Option<Day> {
    Day::from_number(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_back() {
        let t = LineTime { day: Day { year: 2026, month: 12, day: 7 }, hour: 17, minute: 29, second: 17 };
        assert_eq!(to_secs(t), 1_796_664_557);
        assert_eq!(from_secs(to_secs(t)), Some(t));
        assert_eq!(from_secs(i64::MIN), None);
        assert_eq!(from_secs(i64::MAX), None);
    }
}
