//! Calendar days (proleptic Gregorian, UTC), as waivers expire: `2027-01-31`.
//! Days are compared and printed, never added to, so this is all a date
//! needs to be here (and no date-time crate is built for it).

use serde::{Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// One calendar day. Ordered by time: the fields compare year first.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day {
    year: i32,
    month: u8,
    day: u8,
}

impl Day {
    /// The last day a four-digit year can name: what "today" is taken to be
    /// when the system clock cannot be read (every waiver has expired).
    pub const MAX: Day = Day {
        year: 9999,
        month: 12,
        day: 31,
    };

    /// The day, if it exists (no 2027-02-29).
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Day> {
        let month = u8::try_from(month).ok().filter(|m| (1..=12).contains(m))?;
        let day = u8::try_from(day)
            .ok()
            .filter(|d| (1..=days_in_month(year, month)).contains(d))?;
        Some(Day { year, month, day })
    }

    /// The day `days` after 1970-01-01 (negative: before it), by Howard
    /// Hinnant's `civil_from_days`.
    pub fn from_epoch_days(days: i64) -> Option<Day> {
        let z = days.checked_add(719_468)?;
        let era = z.div_euclid(146_097);
        let day_of_era = z.rem_euclid(146_097);
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let shifted_month = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
        let month = if shifted_month < 10 {
            shifted_month + 3
        } else {
            shifted_month - 9
        };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        Day::from_ymd(i32::try_from(year).ok()?, month as u32, day as u32)
    }
}

/// `now` in UTC to the second, RFC 3339 without the zone letter
/// (`2026-12-01T14:03:07`): callers add `Z`, or milliseconds and `Z`.
pub fn utc_seconds(now: std::time::SystemTime) -> String {
    let seconds = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let day = Day::from_epoch_days((seconds / 86_400) as i64).unwrap_or(Day::MAX);
    let of_day = seconds % 86_400;
    format!(
        "{day}T{:02}:{:02}:{:02}",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

fn is_leap(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl fmt::Debug for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// `YYYY-MM-DD`, as TOML and JSON write days.
impl FromStr for Day {
    type Err = String;

    fn from_str(text: &str) -> Result<Day, String> {
        let invalid = || format!("`{text}` is not a day (expected YYYY-MM-DD)");
        let mut parts = text.split('-');
        let (Some(year), Some(month), Some(day), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        if year.len() != 4 || month.len() != 2 || day.len() != 2 {
            return Err(invalid());
        }
        let number = |part: &str| {
            part.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| part.parse::<u32>().ok())
                .flatten()
        };
        match (number(year), number(month), number(day)) {
            (Some(year), Some(month), Some(day)) => {
                Day::from_ymd(year as i32, month, day).ok_or_else(invalid)
            }
            _ => Err(invalid()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_days_agree_with_the_calendar() {
        let day = |n| Day::from_epoch_days(n).unwrap().to_string();
        assert_eq!(day(0), "1970-01-01");
        assert_eq!(day(-1), "1969-12-31");
        assert_eq!(day(59), "1970-03-01");
        assert_eq!(day(11_016), "2000-02-29");
        // `date -u -d 2026-12-01 +%s` / 86400.
        assert_eq!(day(20_788), "2026-12-01");
        assert_eq!(day(2_932_896), "9999-12-31");
        assert_eq!(Day::from_epoch_days(i64::MAX), None);
    }

    #[test]
    fn only_real_days_parse_and_they_order_by_time() {
        assert_eq!(
            "2028-02-29".parse::<Day>().unwrap().to_string(),
            "2028-02-29"
        );
        for bad in [
            "2027-02-29",
            "1900-02-29",
            "2027-13-01",
            "2027-00-10",
            "2027-1-01",
            "27-01-01",
            "2027-01-01x",
            "+027-01-01",
            "",
        ] {
            assert!(bad.parse::<Day>().is_err(), "{bad}");
        }
        let days: Vec<Day> = ["2026-12-31", "2027-01-01", "2027-01-02"]
            .iter()
            .map(|d| d.parse().unwrap())
            .collect();
        assert!(days.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(days[2] < Day::MAX);
        assert_eq!(serde_json::to_string(&days[0]).unwrap(), "\"2026-12-31\"");
    }
}
