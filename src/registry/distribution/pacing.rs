//! Pacing: how fast one registry host may be sent requests of each class
//! (tag lists, manifests, blobs, the registry's REST API, token requests).
//!
//! Registries limit request rates per class (quay.io's nginx: `tags/` 5 r/s,
//! `manifests/` and `blobs/` 50 r/s, `/api/` 5 r/s, per client address) and
//! answer 429 beyond them. A client that keeps its concurrency limit full
//! would spend its time in 429s and backoffs, so each class learns a rate:
//!
//! - unpaced until the registry says something, but at first with few
//!   requests in flight: [`INITIAL_WINDOW`], one more per success (a slow
//!   start, as TCP's), so that a first contact with a small burst allowance
//!   (quay.io's tag lists: 3) meets one or two 429s rather than one per
//!   request in flight; a class that is never throttled costs a few round
//!   trips;
//! - `RateLimit-Limit: N;w=W` (IETF draft, Docker Hub) gives the rate,
//!   paced at [`ANNOUNCED_MARGIN`] of it (`RateLimit-Remaining` is not
//!   used as a credit: requests in flight have already spent some of it);
//!   a limit without a window only pauses the class when nothing remains,
//!   until `RateLimit-Reset`;
//! - a 429 cuts the class's rate to [`DECREASE`] of what the registry let
//!   through in the last second; the request itself waits its `Retry-After`
//!   (the transport's retry loop). A `Retry-After` of [`CLASS_PAUSE`] or
//!   more says a quota is spent, not a bucket briefly empty: then the whole
//!   class waits. (Pausing the class for quay.io-like one-second answers
//!   made an apply through quay.io's limits slower than not pacing at all:
//!   each 429 left a 50 r/s bucket idle for most of a second.)
//! - every success adds [`INCREASE_PER_SUCCESS`] r/s, so a rate cut too far
//!   recovers by about a tenth per second.
//!
//! Pure logic: every method takes the current time, so the tests drive it
//! with a fake clock.

use reqwest::header::HeaderMap;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// What a request asks of the registry, as its rate limits group requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RequestClass {
    Tags,
    Manifests,
    Blobs,
    /// The registry's own REST API (`/api/`, Quay's `/api/v1`).
    Api,
    /// A bearer token request to the registry's realm.
    Auth,
    /// Anything else (`/v2/`, `/v2/_catalog`).
    Other,
}

impl RequestClass {
    const ALL: [RequestClass; 6] = [
        RequestClass::Tags,
        RequestClass::Manifests,
        RequestClass::Blobs,
        RequestClass::Api,
        RequestClass::Auth,
        RequestClass::Other,
    ];

    /// The class of a request to `path`; `token` for a token request (its
    /// realm's path is the registry's choice, e.g. Quay's `/v2/auth`).
    pub fn of(path: &str, token: bool) -> Self {
        if token {
            return RequestClass::Auth;
        }
        if path.starts_with("/api/") {
            return RequestClass::Api;
        }
        // `/v2/<name>/<kind>/…`: the repository name may hold slashes, the
        // kind is the last of these segments.
        let Some(rest) = path.strip_prefix("/v2/") else {
            return RequestClass::Other;
        };
        let segments: Vec<&str> = rest.split('/').collect();
        let kind = segments
            .iter()
            .enumerate()
            .rev()
            .skip(1)
            .find(|(index, segment)| {
                *index > 0 && matches!(**segment, "tags" | "manifests" | "blobs")
            })
            .map(|(_, segment)| *segment);
        match kind {
            Some("tags") => RequestClass::Tags,
            Some("manifests") => RequestClass::Manifests,
            Some("blobs") => RequestClass::Blobs,
            _ => RequestClass::Other,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            RequestClass::Tags => "tags",
            RequestClass::Manifests => "manifests",
            RequestClass::Blobs => "blobs",
            RequestClass::Api => "api",
            RequestClass::Auth => "auth",
            RequestClass::Other => "other",
        }
    }

    fn index(self) -> usize {
        RequestClass::ALL
            .iter()
            .position(|class| *class == self)
            .unwrap_or(0)
    }
}

/// A `Retry-After` this long pauses the whole class.
pub(crate) const CLASS_PAUSE: Duration = Duration::from_secs(5);
/// Requests of a class in flight at first contact.
pub(crate) const INITIAL_WINDOW: u32 = 2;
/// Past this window the host's concurrency limit alone bounds a class.
const MAX_WINDOW: u32 = 64;
/// Share of the rate the registry let through that a 429 leaves the class.
pub(crate) const DECREASE: f64 = 0.8;
/// Requests per second a success adds to a learnt rate.
pub(crate) const INCREASE_PER_SUCCESS: f64 = 0.1;
/// Share of an announced rate quayside paces at: arrival times at the
/// registry jitter, and a bucket drained to zero answers the next one 429.
pub(crate) const ANNOUNCED_MARGIN: f64 = 0.95;
/// The shortest window a throughput is measured over: the burst a bucket
/// lets through at once would otherwise read as a huge rate.
const MIN_WINDOW: Duration = Duration::from_millis(250);
/// How far back the answers a throughput is measured from go.
const MEASURE_WINDOW: Duration = Duration::from_secs(1);
/// No class is paced slower than this (one request per two seconds).
const MIN_RATE: f64 = 0.5;
/// No learnt rate grows beyond this (requests per second).
const MAX_RATE: f64 = 10_000.0;

/// What `RateLimit-*` headers announced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Announced {
    /// Requests per second (`RateLimit-Limit: N;w=W`), when a window is given.
    pub rate: Option<f64>,
    pub remaining: Option<u64>,
    /// `RateLimit-Reset`: when the quota is back.
    pub reset: Option<Duration>,
}

/// Reads `RateLimit-Limit`, `-Remaining` and `-Reset` (case-insensitive
/// names; `N` or `N;w=W`, other parameters ignored). `None` without any.
pub(crate) fn announced(headers: &HeaderMap) -> Option<Announced> {
    let value = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let limit = value("ratelimit-limit");
    let remaining = value("ratelimit-remaining");
    let reset = value("ratelimit-reset");
    if limit.is_none() && remaining.is_none() && reset.is_none() {
        return None;
    }
    let rate = limit.and_then(|limit| {
        let mut parts = limit.split(';').map(str::trim);
        let quota: f64 = parts.next()?.parse().ok()?;
        let window: f64 = parts
            .find_map(|part| part.strip_prefix("w="))?
            .parse()
            .ok()?;
        (quota > 0.0 && window > 0.0).then(|| quota / window)
    });
    let leading_number = |value: &str| value.split(';').next()?.trim().parse::<u64>().ok();
    Some(Announced {
        rate,
        remaining: remaining.and_then(leading_number),
        reset: reset.and_then(leading_number).map(Duration::from_secs),
    })
}

/// One class's learnt state.
#[derive(Clone, Debug)]
struct ClassPace {
    /// Requests per second; `None`: not paced.
    rate: Option<f64>,
    /// Whether `rate` came from the registry's headers (then successes do
    /// not raise it).
    announced: bool,
    /// Requests in flight at most (slow start); `None` once grown past
    /// [`MAX_WINDOW`] or once a rate is known.
    window: Option<u32>,
    in_flight: u32,
    /// When the next paced request may start.
    next_start: Option<Instant>,
    /// No request of the class starts before this.
    paused_until: Option<Instant>,
    /// When the requests answered in the last [`MEASURE_WINDOW`] were
    /// answered: the rate the registry let through.
    answers: VecDeque<Instant>,
    /// When the rate was last cut: a 429 for a request given its slot
    /// before then was sent at the old rate and does not cut it again.
    cut_at: Option<Instant>,
}

impl ClassPace {
    const fn new() -> Self {
        ClassPace {
            rate: None,
            announced: false,
            window: Some(INITIAL_WINDOW),
            in_flight: 0,
            next_start: None,
            paused_until: None,
            answers: VecDeque::new(),
            cut_at: None,
        }
    }
}

/// The pacing state of one registry host, one entry per [`RequestClass`].
#[derive(Clone, Debug)]
pub(crate) struct Pacing {
    classes: [ClassPace; 6],
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing {
            classes: [const { ClassPace::new() }; 6],
        }
    }
}

impl Pacing {
    /// When a request of `class` may start, reserving that slot and counting
    /// it in flight until [`Pacing::release`]; `None` while the class has
    /// its window of requests in flight.
    pub fn reserve(&mut self, class: RequestClass, now: Instant) -> Option<Instant> {
        let pace = &mut self.classes[class.index()];
        if pace.window.is_some_and(|window| pace.in_flight >= window) {
            return None;
        }
        pace.in_flight += 1;
        let mut start = now.max(pace.paused_until.unwrap_or(now));
        if let Some(rate) = pace.rate {
            start = start.max(pace.next_start.unwrap_or(start));
            pace.next_start = Some(start + Duration::from_secs_f64(1.0 / rate));
        }
        Some(start)
    }

    /// A reserved request of `class` is over (answered, failed or dropped).
    pub fn release(&mut self, class: RequestClass) {
        let pace = &mut self.classes[class.index()];
        pace.in_flight = pace.in_flight.saturating_sub(1);
    }

    /// Whether `class` is paused at `now` (a 429 arrived while a request
    /// waited for its slot: it must reserve again).
    pub fn is_paused(&self, class: RequestClass, now: Instant) -> bool {
        self.classes[class.index()]
            .paused_until
            .is_some_and(|until| until > now)
    }

    /// The registry answered a request of `class` with anything but 429.
    pub fn on_answer(&mut self, class: RequestClass, headers: &HeaderMap, now: Instant) {
        let pace = &mut self.classes[class.index()];
        pace.answers.push_back(now);
        while pace
            .answers
            .front()
            .is_some_and(|first| now.saturating_duration_since(*first) > MEASURE_WINDOW)
        {
            pace.answers.pop_front();
        }
        pace.window = pace
            .window
            .map(|window| window + 1)
            .filter(|window| *window <= MAX_WINDOW);
        if let Some(announced) = announced(headers) {
            pace.follow(announced, now);
        } else if !pace.announced
            && let Some(rate) = pace.rate
        {
            pace.rate = Some((rate + INCREASE_PER_SUCCESS).min(MAX_RATE));
        }
    }

    /// The registry answered a request of `class` given its slot at `sent` with 429,
    /// asking to wait `retry_after` (already capped by the retry policy).
    pub fn on_throttled(
        &mut self,
        class: RequestClass,
        headers: &HeaderMap,
        retry_after: Option<Duration>,
        sent: Instant,
        now: Instant,
    ) {
        let pace = &mut self.classes[class.index()];
        // From now on the rate paces the class, the host's limit bounds it.
        pace.window = None;
        let announced = announced(headers);
        let stale = pace.cut_at.is_some_and(|cut_at| sent < cut_at);
        if let Some(announced) = announced.filter(|announced| announced.rate.is_some()) {
            pace.follow(announced, now);
        } else if stale {
            // Sent at the old rate, before the cut: already accounted for.
        } else {
            // Measured from the first answer: a class idle before it was
            // not being limited.
            let window = pace
                .answers
                .front()
                .map_or(Duration::ZERO, |first| {
                    now.saturating_duration_since(*first)
                })
                .max(MIN_WINDOW);
            let let_through = pace.answers.len() as f64 / window.as_secs_f64();
            let current = pace.rate.map_or(let_through, |rate| rate.min(let_through));
            pace.rate = Some((current * DECREASE).max(MIN_RATE));
            pace.announced = false;
            pace.cut_at = Some(now);
        }
        let pause = retry_after
            .or(announced.and_then(|announced| announced.reset))
            .filter(|pause| *pause >= CLASS_PAUSE);
        if let Some(pause) = pause {
            let until = now + pause;
            pace.paused_until = Some(pace.paused_until.map_or(until, |old| old.max(until)));
        }
        if stale {
            return;
        }
        // The registry's bucket is empty now: the next request waits a full
        // interval (after the pause, if any). The answers of the last second
        // stay: a window restarted at each cut would measure a few answers
        // over a short time, and the rate would collapse.
        let resume = pace.paused_until.unwrap_or(now).max(now);
        if let Some(rate) = pace.rate {
            pace.next_start = Some(resume + Duration::from_secs_f64(1.0 / rate));
        }
    }

    /// The rate `class` is paced at, if any (for logs and tests).
    pub fn rate(&self, class: RequestClass) -> Option<f64> {
        self.classes[class.index()].rate
    }
}

impl ClassPace {
    fn follow(&mut self, announced: Announced, now: Instant) {
        if let Some(rate) = announced.rate {
            self.rate = Some((rate * ANNOUNCED_MARGIN).max(MIN_RATE));
            self.announced = true;
        } else if announced.remaining == Some(0)
            && let Some(reset) = announced.reset
        {
            self.paused_until = Some(now + reset);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn at(start: Instant, millis: u64) -> Instant {
        start + Duration::from_millis(millis)
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn classes_follow_the_path_kind_whatever_the_repository_name() {
        let cases = [
            ("/v2/prod/gateway/tags/list", RequestClass::Tags),
            ("/v2/org/team/app/manifests/v1.0.0", RequestClass::Manifests),
            ("/v2/prod/gateway/blobs/uploads/", RequestClass::Blobs),
            ("/v2/prod/gateway/blobs/sha256:ab", RequestClass::Blobs),
            ("/v2/tags/manifests/latest", RequestClass::Manifests),
            ("/v2/prod/blobs/tags/list", RequestClass::Tags),
            ("/api/v1/repository/prod/gateway/tag/", RequestClass::Api),
            ("/v2/", RequestClass::Other),
            ("/v2/_catalog", RequestClass::Other),
            ("/token", RequestClass::Other),
        ];
        for (path, class) in cases {
            assert_eq!(RequestClass::of(path, false), class, "{path}");
        }
        assert_eq!(RequestClass::of("/v2/auth", true), RequestClass::Auth);
    }

    /// One request of `class` reserved at `now`, answered (without
    /// headers) at `answered`: when it started.
    fn answered(
        pacing: &mut Pacing,
        class: RequestClass,
        now: Instant,
        answered: Instant,
    ) -> Instant {
        let start = pacing.reserve(class, now).expect("a free slot");
        pacing.on_answer(class, &HeaderMap::new(), answered);
        pacing.release(class);
        start
    }

    #[test]
    fn an_unthrottled_class_is_not_paced() {
        let t0 = Instant::now();
        let mut pacing = Pacing::default();
        for _ in 0..100 {
            assert_eq!(answered(&mut pacing, RequestClass::Manifests, t0, t0), t0);
        }
        assert_eq!(pacing.rate(RequestClass::Manifests), None);
    }

    #[test]
    fn a_first_contact_starts_with_few_requests_in_flight_and_one_more_per_success() {
        let t0 = Instant::now();
        let mut pacing = Pacing::default();
        let class = RequestClass::Tags;
        for _ in 0..INITIAL_WINDOW {
            assert_eq!(pacing.reserve(class, t0), Some(t0));
        }
        assert_eq!(pacing.reserve(class, t0), None);
        pacing.on_answer(class, &HeaderMap::new(), t0);
        pacing.release(class);
        // One answered and released: the window grew by one, two are free.
        assert_eq!(pacing.reserve(class, t0), Some(t0));
        assert_eq!(pacing.reserve(class, t0), Some(t0));
        assert_eq!(pacing.reserve(class, t0), None);
        // After a 429 the learnt rate paces the class, not the window.
        pacing.on_throttled(class, &HeaderMap::new(), None, t0, t0);
        for _ in 0..100 {
            assert!(pacing.reserve(class, t0).is_some());
        }
    }

    #[test]
    fn a_429_cuts_the_rate_and_a_long_retry_after_pauses_the_class() {
        let t0 = Instant::now();
        let mut pacing = Pacing::default();
        let class = RequestClass::Manifests;
        // 11 requests got through in 20 ms (a burst), then a 429 asking for
        // one second: the rate is cut, the class is not paused.
        for _ in 0..11 {
            answered(&mut pacing, class, t0, at(t0, 20));
        }
        let one_second = Some(Duration::from_secs(1));
        pacing.on_throttled(class, &HeaderMap::new(), one_second, t0, at(t0, 20));
        // 11 in the minimum window of 250 ms: 44 r/s, cut to 35.2.
        let rate = pacing.rate(class).unwrap();
        assert!((rate - 11.0 / 0.25 * DECREASE).abs() < 1e-9, "{rate}");
        assert!(!pacing.is_paused(class, at(t0, 20)));
        // The next requests start one interval apart from the 429 on.
        let interval = Duration::from_secs_f64(1.0 / rate);
        let first = pacing.reserve(class, at(t0, 20)).unwrap();
        let second = pacing.reserve(class, at(t0, 20)).unwrap();
        assert_eq!(first, at(t0, 20) + interval);
        assert_eq!(second, first + interval);
        // 429s for requests given their slot before the cut do not cut again.
        pacing.on_throttled(class, &HeaderMap::new(), one_second, t0, at(t0, 21));
        assert_eq!(pacing.rate(class), Some(rate));
        // A quota spent (Retry-After of CLASS_PAUSE) pauses the class.
        pacing.on_throttled(
            class,
            &HeaderMap::new(),
            Some(CLASS_PAUSE),
            at(t0, 30),
            at(t0, 40),
        );
        assert!(pacing.is_paused(class, at(t0, 40) + CLASS_PAUSE - Duration::from_millis(1)));
        assert!(!pacing.is_paused(class, at(t0, 40) + CLASS_PAUSE));
        // Other classes are not affected.
        assert_eq!(
            pacing.reserve(RequestClass::Blobs, at(t0, 30)),
            Some(at(t0, 30))
        );
    }

    #[test]
    fn successes_restore_a_learnt_rate_slowly_and_429s_cut_it_to_what_got_through_lately() {
        let t0 = Instant::now();
        let mut pacing = Pacing::default();
        let class = RequestClass::Tags;
        pacing.on_throttled(class, &HeaderMap::new(), None, t0, t0);
        assert_eq!(pacing.rate(class), Some(MIN_RATE));
        // One answer every 400 ms (2.5 r/s), 45 of them.
        for k in 1..=45 {
            pacing.on_answer(class, &HeaderMap::new(), at(t0, 400 * k));
        }
        let restored = pacing.rate(class).unwrap();
        assert!((restored - (MIN_RATE + 4.5)).abs() < 1e-9, "{restored}");
        // A 429 measures the last second: 3 answers in the 800 ms from the
        // first of them, 3.75 r/s, below the rate paced at.
        pacing.on_throttled(
            class,
            &HeaderMap::new(),
            None,
            at(t0, 17_900),
            at(t0, 18_000),
        );
        let cut = pacing.rate(class).unwrap();
        assert!((cut - 3.0 / 0.8 * DECREASE).abs() < 1e-9, "{cut}");
    }

    #[test]
    fn announced_limits_set_the_rate() {
        let t0 = Instant::now();
        let mut pacing = Pacing::default();
        let class = RequestClass::Blobs;
        let answer = headers(&[
            ("ratelimit-limit", "50;w=1"),
            ("ratelimit-remaining", "2"),
            ("ratelimit-reset", "1"),
        ]);
        pacing.on_answer(class, &answer, t0);
        let announced = 50.0 * ANNOUNCED_MARGIN;
        assert_eq!(pacing.rate(class), Some(announced));
        // One per interval, whatever remains.
        let mut starts = Vec::new();
        for _ in 0..4 {
            starts.push(pacing.reserve(class, t0).unwrap());
            pacing.on_answer(class, &HeaderMap::new(), t0);
            pacing.release(class);
        }
        let interval = Duration::from_secs_f64(1.0 / announced);
        assert_eq!(
            starts,
            [t0, t0 + interval, t0 + 2 * interval, t0 + 3 * interval]
        );
        // Successes do not raise an announced rate.
        assert_eq!(pacing.rate(class), Some(announced));
    }

    #[test]
    fn a_quota_without_a_window_pauses_the_class_only_once_it_is_used_up() {
        let t0 = Instant::now();
        let mut pacing = Pacing::default();
        let left = headers(&[("ratelimit-remaining", "3"), ("ratelimit-reset", "60")]);
        pacing.on_answer(RequestClass::Manifests, &left, t0);
        assert!(!pacing.is_paused(RequestClass::Manifests, t0));
        let none_left = headers(&[("ratelimit-remaining", "0"), ("ratelimit-reset", "60")]);
        pacing.on_answer(RequestClass::Manifests, &none_left, t0);
        assert_eq!(
            pacing.reserve(RequestClass::Manifests, t0),
            Some(t0 + Duration::from_secs(60))
        );
    }

    #[test]
    fn rate_limit_headers_are_read_in_both_forms() {
        let docker_hub = headers(&[
            ("ratelimit-limit", "100;w=21600"),
            ("ratelimit-remaining", "76;w=21600"),
        ]);
        let read = announced(&docker_hub).unwrap();
        assert!((read.rate.unwrap() - 100.0 / 21600.0).abs() < 1e-12);
        assert_eq!(read.remaining, Some(76));
        assert_eq!(read.reset, None);
        let bare = headers(&[("ratelimit-limit", "10"), ("ratelimit-reset", "7")]);
        let read = announced(&bare).unwrap();
        assert_eq!(read.rate, None);
        assert_eq!(read.reset, Some(Duration::from_secs(7)));
        assert_eq!(
            announced(&headers(&[("ratelimit-limit", "x;w=0")]))
                .unwrap()
                .rate,
            None
        );
        assert_eq!(announced(&HeaderMap::new()), None);
    }
}
