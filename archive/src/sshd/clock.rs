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

/// Days from 1970-01-01 (H. Hinnant's `days_from_civil`).
pub fn day_number(d: Day) -> i64 {
    let (m, dd) = (i64::from(d.month), i64::from(d.day));
    let y = i64::from(d.year) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The day `n` days from 1970-01-01; `None` outside the years 1 to 9999.
pub fn from_day_number(n: i64) -> Option<Day> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_back() {
        let t = LineTime { day: Day { year: 2026, month: 12, day: 7 }, hour: 17, minute: 29, second: 17 };
        assert_eq!(to_secs(t), 1_796_664_557);
        assert_eq!(from_secs(to_secs(t)), Some(t));
        assert_eq!(day_number(Day { year: 1970, month: 1, day: 1 }), 0);
        assert_eq!(day_number(Day { year: 2000, month: 3, day: 1 }), 11_017);
        for n in (-719_162..=2_932_896).step_by(997) {
            let d = from_day_number(n).unwrap_or_else(|| panic!("{n}"));
            assert_eq!(day_number(d), n);
        }
        assert_eq!(from_day_number(2_932_897), None);
        assert_eq!(from_secs(i64::MIN), None);
        assert_eq!(from_secs(i64::MAX), None);
    }
}
