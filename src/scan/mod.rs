//! The vulnerability gate of DD-REGISTRY-001 (zero critical, zero high):
//! `quay` reads scan results (IO), `report` is the parsed scan, `gate` is the
//! pure decision from scans, policy, waivers and the day.

pub mod gate;
pub mod quay;
pub mod report;

#[cfg(test)]
mod gate_tests;

pub use report::{ImageScan, PlatformScan, ScanStatus, Vulnerability};

use std::time::{SystemTime, UNIX_EPOCH};

/// Today's date in UTC as `YYYY-MM-DD`, the form of `waivers.expires`.
/// Read by the commands and passed to the gate, never read inside it.
pub fn today_utc(now: SystemTime) -> String {
    let days = now
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() / 86_400)
        .unwrap_or(0) as i64;
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's algorithm), to avoid a date crate for one conversion.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn today_is_the_utc_calendar_date() {
        assert_eq!(today_utc(UNIX_EPOCH), "1970-01-01");
        // Sun, 06 Nov 1994 08:49:37 GMT
        let at = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(today_utc(at), "1994-11-06");
        // 2024-02-29 23:59:59 UTC, a leap day
        let leap = UNIX_EPOCH + Duration::from_secs(1_709_251_199);
        assert_eq!(today_utc(leap), "2024-02-29");
        let next = UNIX_EPOCH + Duration::from_secs(1_709_251_200);
        assert_eq!(today_utc(next), "2024-03-01");
    }
}
