//! Rate limits for the test proxy ([`super::proxy`]), modelled on quay.io's
//! nginx (Quay's `conf/nginx/rate-limiting.conf.jnj` and
//! `server-base.conf.jnj`, `limit_req … nodelay`): per client address and
//! request class, a token bucket of `rate` requests per second that holds
//! `burst + 1` (nginx admits a request while its excess is at most `burst`).
//! Beyond it the proxy answers 429, with `Retry-After` (seconds until a
//! token is back, rounded up) unless switched off — quay.io's nginx sends
//! none — and, when switched on, `RateLimit-Limit: R;w=1`,
//! `RateLimit-Remaining`, `RateLimit-Reset` on every answer of a limited
//! class (Docker Hub sends such headers).
//!
//! One difference from nginx: there `manifests/` and `blobs/` share one
//! 50 r/s zone (with different bursts); here each class has its own bucket,
//! as issue 18 states the limits.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::Instant;

/// One class's limit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClassLimit {
    pub class: &'static str,
    /// Requests per second.
    pub rate: f64,
    /// Requests beyond the rate that nginx admits at once.
    pub burst: u32,
}

impl ClassLimit {
    /// What the bucket holds when full.
    pub fn capacity(&self) -> f64 {
        f64::from(self.burst) + 1.0
    }

    /// The least time `requests` requests of this class can take through
    /// the limit, starting with a full bucket.
    pub fn floor_seconds(&self, requests: u64) -> f64 {
        (requests as f64 - self.capacity()).max(0.0) / self.rate
    }
}

/// What the proxy enforces and says.
#[derive(Clone, Debug)]
pub struct RateLimits {
    pub classes: Vec<ClassLimit>,
    /// 429s carry `Retry-After`.
    pub retry_after: bool,
    /// Answers of limited classes carry `RateLimit-*` headers.
    pub headers: bool,
}

impl RateLimits {
    /// quay.io's limits for HTTP/1.1 clients, with `Retry-After` and
    /// without `RateLimit-*` headers.
    pub fn quay_io() -> Self {
        RateLimits {
            classes: vec![
                ClassLimit {
                    class: "tags",
                    rate: 5.0,
                    burst: 2,
                },
                ClassLimit {
                    class: "manifests",
                    rate: 50.0,
                    burst: 10,
                },
                ClassLimit {
                    class: "blobs",
                    rate: 50.0,
                    burst: 50,
                },
                ClassLimit {
                    class: "api",
                    rate: 5.0,
                    burst: 25,
                },
            ],
            retry_after: true,
            headers: false,
        }
    }

    pub fn limit(&self, class: &str) -> Option<&ClassLimit> {
        self.classes.iter().find(|limit| limit.class == class)
    }
}

/// The class nginx's locations give a request path: `/api/…`, and under
/// `/v2/<name>/…` the `tags/`, `manifests/` or `blobs/` segment (nginx's
/// regular expressions are unanchored; the last such segment decides, as a
/// repository name may hold one too).
pub fn class_of(path: &str) -> Option<&'static str> {
    if path.starts_with("/api/") {
        return Some("api");
    }
    let rest = path.strip_prefix("/v2/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    let last = segments.len().saturating_sub(1);
    segments[..last]
        .iter()
        .enumerate()
        .rev()
        .find_map(|(index, segment)| match *segment {
            "tags" if index > 0 => Some("tags"),
            "manifests" if index > 0 => Some("manifests"),
            "blobs" if index > 0 => Some("blobs"),
            _ => None,
        })
}

/// Requests of one class seen by the proxy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassCounts {
    /// Every request of the class, the throttled ones included.
    pub requests: u64,
    /// Answered 429 by the proxy.
    pub throttled: u64,
}

/// The proxy's answer to a request of a limited class.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub admitted: bool,
    /// Headers to add to the answer (a 429's or the registry's).
    pub headers: Vec<(&'static str, String)>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets and counts behind [`RateLimits`].
pub struct Limiter {
    pub limits: RateLimits,
    buckets: HashMap<(IpAddr, &'static str), Bucket>,
    counts: BTreeMap<&'static str, ClassCounts>,
}

impl Limiter {
    pub fn new(limits: RateLimits) -> Self {
        Limiter {
            limits,
            buckets: HashMap::new(),
            counts: BTreeMap::new(),
        }
    }

    /// Takes a token for a request from `client` to `path` at `now`; `None`
    /// for a path no limit covers.
    pub fn check(&mut self, client: IpAddr, path: &str, now: Instant) -> Option<Verdict> {
        let class = class_of(path)?;
        let limit = *self.limits.limit(class)?;
        let bucket = self.buckets.entry((client, class)).or_insert(Bucket {
            tokens: limit.capacity(),
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limit.rate).min(limit.capacity());
        bucket.at = now;
        let admitted = bucket.tokens >= 1.0;
        if admitted {
            bucket.tokens -= 1.0;
        }
        let tokens = bucket.tokens;
        let counts = self.counts.entry(class).or_default();
        counts.requests += 1;
        let mut headers = Vec::new();
        if !admitted {
            counts.throttled += 1;
            if self.limits.retry_after {
                let wait = ((1.0 - tokens) / limit.rate).ceil().max(1.0);
                headers.push(("retry-after", format!("{wait}")));
            }
        }
        if self.limits.headers {
            let reset = ((limit.capacity() - tokens) / limit.rate).ceil();
            headers.push(("ratelimit-limit", format!("{};w=1", limit.rate)));
            headers.push(("ratelimit-remaining", format!("{}", tokens.floor())));
            headers.push(("ratelimit-reset", format!("{reset}")));
        }
        Some(Verdict { admitted, headers })
    }

    pub fn counts(&self) -> BTreeMap<&'static str, ClassCounts> {
        self.counts.clone()
    }

    pub fn reset(&mut self) {
        self.counts.clear();
        self.buckets.clear();
    }

    /// `class requests throttled rate burst floor_s` lines, for the bench.
    pub fn report(&self) -> String {
        let mut out = String::from("class\trequests\tthrottled\trate\tburst\tfloor_s\n");
        for limit in &self.limits.classes {
            let counts = self.counts.get(limit.class).copied().unwrap_or_default();
            out.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\t{:.3}\n",
                limit.class,
                counts.requests,
                counts.throttled,
                limit.rate,
                limit.burst,
                limit.floor_seconds(counts.requests - counts.throttled)
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn classes_are_the_nginx_locations() {
        assert_eq!(class_of("/v2/prod/gateway/tags/list"), Some("tags"));
        assert_eq!(class_of("/v2/prod/gateway/manifests/v1"), Some("manifests"));
        assert_eq!(class_of("/v2/prod/gateway/blobs/uploads/"), Some("blobs"));
        assert_eq!(
            class_of("/api/v1/repository/prod/gateway/tag/"),
            Some("api")
        );
        assert_eq!(class_of("/v2/"), None);
        assert_eq!(class_of("/v2/auth"), None);
    }

    #[test]
    fn a_full_bucket_admits_burst_plus_one_then_one_per_interval() {
        let mut limiter = Limiter::new(RateLimits::quay_io());
        let t0 = Instant::now();
        let tags = "/v2/prod/a/tags/list";
        let admitted: Vec<bool> = (0..4)
            .map(|_| limiter.check(LOOPBACK, tags, t0).unwrap().admitted)
            .collect();
        assert_eq!(admitted, [true, true, true, false]);
        let refused = limiter.check(LOOPBACK, tags, t0).unwrap();
        assert_eq!(refused.headers, [("retry-after", "1".to_string())]);
        assert!(
            limiter
                .check(LOOPBACK, tags, t0 + Duration::from_millis(200))
                .unwrap()
                .admitted
        );
        assert_eq!(
            limiter.counts()["tags"],
            ClassCounts {
                requests: 6,
                throttled: 2
            }
        );
        assert_eq!(limiter.check(LOOPBACK, "/v2/", t0), None);
    }

    #[test]
    fn rate_limit_headers_say_the_rate_and_what_remains() {
        let mut limits = RateLimits::quay_io();
        limits.headers = true;
        limits.retry_after = false;
        let mut limiter = Limiter::new(limits);
        let verdict = limiter
            .check(LOOPBACK, "/v2/p/a/manifests/v1", Instant::now())
            .unwrap();
        assert_eq!(
            verdict.headers,
            [
                ("ratelimit-limit", "50;w=1".to_string()),
                ("ratelimit-remaining", "10".to_string()),
                ("ratelimit-reset", "1".to_string()),
            ]
        );
    }

    #[test]
    fn the_floor_is_what_the_bucket_cannot_hold_at_the_rate() {
        let tags = RateLimits::quay_io().limit("tags").copied().unwrap();
        assert_eq!(tags.floor_seconds(2), 0.0);
        assert!((tags.floor_seconds(13) - 2.0).abs() < 1e-9);
    }
}
