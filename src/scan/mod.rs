//! The vulnerability gate of DD-REGISTRY-001 (zero critical, zero high):
//! `quay` reads scan results (IO), `report` is the parsed scan, `gate` is the
//! pure decision from scans, policy, waivers and the day.

pub mod gate;
pub mod quay;
pub mod report;

#[cfg(test)]
mod gate_tests;

pub use report::{ImageScan, PlatformScan, ScanStatus, Vulnerability};

use crate::day::Day;
use std::time::{SystemTime, UNIX_EPOCH};

/// The UTC calendar day of `now`, against which `waivers.expires` is judged.
/// Read by the commands and passed to the gate, never read inside it.
pub fn today_utc(now: SystemTime) -> Day {
    let days = now
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() / 86_400)
        .unwrap_or(0);
    i64::try_from(days)
        .ok()
        .and_then(Day::from_epoch_days)
        .unwrap_or(Day::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn today_is_the_utc_calendar_date() {
        assert_eq!(today_utc(UNIX_EPOCH).to_string(), "1970-01-01");
        // Sun, 06 Nov 1994 08:49:37 GMT
        let at = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(today_utc(at).to_string(), "1994-11-06");
        // 2024-02-29 23:59:59 UTC, a leap day
        let leap = UNIX_EPOCH + Duration::from_secs(1_709_251_199);
        assert_eq!(today_utc(leap).to_string(), "2024-02-29");
        let next = UNIX_EPOCH + Duration::from_secs(1_709_251_200);
        assert_eq!(today_utc(next).to_string(), "2024-03-01");
    }
}
