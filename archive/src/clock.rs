//! Today's date (UTC), for the year of traditional timestamps in files
//! whose path has none, and for which months are over.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::linetime::Day;

pub fn today_utc() -> Day {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    civil_from_days((secs / 86_400) as i64)
}

/// The calendar day `days` after 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> Day {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    Day { year, month, day }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_since_the_epoch_become_dates() {
        assert_eq!(civil_from_days(0), Day { year: 1970, month: 1, day: 1 });
        assert_eq!(civil_from_days(20_794), Day { year: 2026, month: 12, day: 7 });
        assert_eq!(civil_from_days(11_016), Day { year: 2000, month: 2, day: 29 });
    }
}
