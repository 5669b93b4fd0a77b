//! When to retry a request and how long to wait: exponential backoff with
//! jitter, or the registry's own `Retry-After` (capped).

use rand_core::{OsRng, RngCore as _};
use std::time::{Duration, SystemTime};

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
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

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
