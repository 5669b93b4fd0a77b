//! When to retry a request and how long to wait: exponential backoff with
//! jitter, or the registry's own `Retry-After` (capped).

use rand_core::{OsRng, RngCore as _};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Statuses that say "try again later" rather than "this is wrong".
pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

#[derive(Clone, Debug)]
pub(crate) struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// The delay before attempt `attempt + 1` (`attempt` counts from 1).
    /// "Full jitter" between half and all of the exponential delay keeps
    /// many clients hitting one registry from retrying in lockstep.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(20);
        let ceiling = self
            .initial_backoff
            .saturating_mul(1u32 << exponent)
            .min(self.max_backoff);
        let half = ceiling / 2;
        // Uniform enough for jitter: the modulo bias of a 64-bit draw over a
        // range of at most a few thousand milliseconds is negligible.
        let jitter = OsRng.next_u64() % (half.as_millis().max(1) as u64 + 1);
        (half + Duration::from_millis(jitter)).min(self.max_backoff)
    }

    /// The delay a `Retry-After` value asks for, capped; `None` if unreadable.
    pub fn retry_after(&self, value: &str, now: SystemTime) -> Option<Duration> {
        parse_retry_after(value, now).map(|delay| delay.min(self.max_retry_after))
    }
}

/// `Retry-After` is either delta-seconds or an HTTP-date (RFC 9110 10.2.3).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parses the IMF-fixdate form (`Sun, 06 Nov 1994 08:49:37 GMT`), the only
/// one servers are allowed to send.
fn parse_http_date(value: &str) -> Option<SystemTime> {
    let mut parts = value.split_whitespace();
    let _weekday = parts.next()?;
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut clock = parts
        .next()?
        .split(':')
        .map(|part| part.parse::<u64>().ok());
    let (hour, minute, second) = (clock.next()??, clock.next()??, clock.next()??);
    if parts.next()? != "GMT" || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day as i64);
    let seconds = days.checked_mul(86_400)? + (hour * 3600 + minute * 60 + second) as i64;
    let seconds = u64::try_from(seconds).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(seconds))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm), to avoid a date crate for one header.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(30),
        }
    }

    #[test]
    fn retryable_statuses_are_the_transient_ones() {
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(is_retryable_status(status), "{status}");
        }
        for status in [200, 400, 401, 403, 404, 409, 501] {
            assert!(!is_retryable_status(status), "{status}");
        }
    }

    #[test]
    fn backoff_grows_and_stays_capped() {
        let policy = policy();
        let first = policy.backoff(1);
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        let third = policy.backoff(3);
        assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
        assert!(policy.backoff(30) <= Duration::from_secs(2));
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_and_is_capped() {
        let policy = policy();
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(policy.retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            policy.retry_after("3600", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            policy.retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            policy.retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(policy.retry_after("soon", now), None);
        assert_eq!(
            policy.retry_after("Sun, 06 Foo 1994 08:49:47 GMT", now),
            None
        );
    }
}
