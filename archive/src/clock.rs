//! Today's date (UTC), for the year of traditional timestamps in files
//! whose path has none, and for which months are over.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::linetime::Day;

pub fn today_utc() -> Day {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    Day::from_number((secs / 86_400) as i64).unwrap_or(Day { year: 1970, month: 1, day: 1 })
}
