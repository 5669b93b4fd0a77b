//! What the test proxy ([`super::proxy`]) does wrong, and how often: a seeded
//! fault plan (kinds x rates), standing "lies" about chosen objects, and the
//! per-kind counts of what was injected.
//!
//! Decisions are keyed, not sequenced: whether attempt `n` of a request fails
//! is a hash of `(seed, normalised request, n)`. A concurrent client sends its
//! requests in a different order each run, but each request's own attempts
//! come in order, so a seed gives the same faults to the same requests every
//! run (upload session ids and `_state` are normalised away).
//!
//! One request never fails more than [`FaultPlan::max_in_a_row`] attempts in a
//! row, so a client that retries (or a test that reruns) always gets through.

use std::collections::HashMap;
use std::time::Duration;

/// One way to misbehave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// Answered 500 without reaching the registry.
    Status500,
    Status502,
    Status503,
    /// 429 with `Retry-After: 0`, without reaching the registry.
    TooManyRequests,
    /// Forwarded (the registry did the work), then the connection closed
    /// without an answer.
    Reset,
    /// A manifest or blob GET: full `Content-Length`, half the body, closed.
    CutBody,
    /// Forwarded after a delay ([`FaultPlan::slow`]).
    Slow,
    /// A manifest or blob GET answered with other bytes under the original
    /// `Docker-Content-Digest` (a blob with a flipped byte, a manifest with a
    /// space appended: still valid JSON, another digest).
    WrongDigest,
}

impl FaultKind {
    pub const ALL: [FaultKind; 8] = [
        FaultKind::Status500,
        FaultKind::Status502,
        FaultKind::Status503,
        FaultKind::TooManyRequests,
        FaultKind::Reset,
        FaultKind::CutBody,
        FaultKind::Slow,
        FaultKind::WrongDigest,
    ];

    /// Whether this kind can be done to a request: the body faults need a
    /// manifest or blob read.
    fn applies_to(self, method: &str, path: &str) -> bool {
        match self {
            FaultKind::CutBody | FaultKind::WrongDigest => is_content_read(method, path),
            _ => true,
        }
    }
}

/// A manifest or blob GET (not an upload session).
pub fn is_content_read(method: &str, path: &str) -> bool {
    method == "GET"
        && (path.contains("/manifests/")
            || (path.contains("/blobs/") && !path.contains("/blobs/uploads")))
}

/// Which faults, how often, from which seed.
#[derive(Clone, Debug)]
pub struct FaultPlan {
    pub seed: u64,
    /// Per kind, faults per 10,000 requests it applies to.
    pub rates: Vec<(FaultKind, u32)>,
    /// Consecutive faulty attempts one request can get.
    pub max_in_a_row: u32,
    /// The delay of [`FaultKind::Slow`].
    pub slow: Duration,
}

impl FaultPlan {
    /// No faults: a plain counting proxy.
    pub fn none() -> Self {
        FaultPlan {
            seed: 0,
            rates: Vec::new(),
            max_in_a_row: 0,
            slow: Duration::ZERO,
        }
    }

    /// About `percent` % of requests fail, spread evenly over `kinds` (the
    /// body faults only over manifest and blob reads).
    pub fn spread(seed: u64, percent: u32, kinds: &[FaultKind]) -> Self {
        let each = percent * 100 / kinds.len().max(1) as u32;
        FaultPlan {
            seed,
            rates: kinds.iter().map(|kind| (*kind, each)).collect(),
            max_in_a_row: 2,
            slow: Duration::from_millis(200),
        }
    }

    /// The fault for attempt `attempt` (from 0) of the request `key`.
    fn roll(&self, key: &str, method: &str, path: &str, attempt: u64) -> Option<FaultKind> {
        let draw =
            mix(self.seed ^ fnv1a(key.as_bytes()) ^ attempt.wrapping_mul(0x9e37_79b9_7f4a_7c15))
                % 10_000;
        let mut ceiling = 0u64;
        for (kind, rate) in &self.rates {
            if !kind.applies_to(method, path) {
                continue;
            }
            ceiling += u64::from(*rate);
            if draw < ceiling {
                return Some(*kind);
            }
        }
        None
    }
}

/// A standing lie about every GET whose path ends with a digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lie {
    /// Other bytes (a flipped byte for a blob, a trailing space for a
    /// manifest) under the original digest header.
    WrongBytes,
    /// Full `Content-Length`, half the body, then the connection closes.
    Truncated,
    /// `Content-Length` of 64 GiB, then a body that never gets there.
    AbsurdSize,
    /// A manifest served with the `Content-Type` of the other kind (an index
    /// type for an image manifest, and the other way round).
    ContradictingType,
    /// A manifest served as `text/html`.
    NotAManifestType,
}

/// Faults injected, per kind, and lies told.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub by_kind: HashMap<FaultKind, u64>,
    pub lies: u64,
}

impl FaultCounts {
    pub fn total(&self) -> u64 {
        self.by_kind.values().sum()
    }

    pub fn get(&self, kind: FaultKind) -> u64 {
        self.by_kind.get(&kind).copied().unwrap_or(0)
    }

    pub fn add(&mut self, other: &FaultCounts) {
        for (kind, count) in &other.by_kind {
            *self.by_kind.entry(*kind).or_default() += count;
        }
        self.lies += other.lies;
    }
}

impl std::fmt::Display for FaultCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} faults (", self.total())?;
        for (i, kind) in FaultKind::ALL.iter().enumerate() {
            let separator = if i == 0 { "" } else { ", " };
            write!(f, "{separator}{kind:?} {}", self.get(*kind))?;
        }
        write!(f, "), {} lies", self.lies)
    }
}

/// The proxy's fault state: the plan, each request's attempts and streak,
/// the standing lies, and the counts.
#[derive(Debug)]
pub struct Faults {
    pub plan: FaultPlan,
    /// Per normalised request: attempts seen, and faults in a row.
    attempts: HashMap<String, (u64, u32)>,
    pub lies: Vec<(String, Lie)>,
    pub counts: FaultCounts,
}

impl Faults {
    pub fn new(plan: FaultPlan) -> Self {
        Faults {
            plan,
            attempts: HashMap::new(),
            lies: Vec::new(),
            counts: FaultCounts::default(),
        }
    }

    /// What to do to this request: a standing lie first, else the plan's
    /// roll, bounded by the streak limit. Counts what it decides.
    pub fn decide(&mut self, method: &str, path_and_query: &str) -> Decision {
        let path = path_and_query.split('?').next().unwrap_or(path_and_query);
        if method == "GET"
            && let Some((_, lie)) = self.lies.iter().find(|(digest, _)| path.ends_with(digest))
        {
            self.counts.lies += 1;
            return Decision::Lie(*lie);
        }
        let key = format!("{method} {}", normalise(path_and_query));
        let (attempt, streak) = self.attempts.entry(key.clone()).or_default();
        let roll = self.plan.roll(&key, method, path, *attempt);
        *attempt += 1;
        match roll {
            Some(kind) if *streak < self.plan.max_in_a_row => {
                *streak += 1;
                *self.counts.by_kind.entry(kind).or_default() += 1;
                Decision::Fault(kind)
            }
            _ => {
                *streak = 0;
                Decision::Pass
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Pass,
    Fault(FaultKind),
    Lie(Lie),
}

/// The request without what differs between runs: upload session ids and
/// query parameters other than the digest, mount source and paging.
fn normalise(path_and_query: &str) -> String {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let path = match path.split_once("/blobs/uploads/") {
        Some((repository, session)) if !session.is_empty() => {
            format!("{repository}/blobs/uploads/<session>")
        }
        _ => path.to_string(),
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            matches!(name, "digest" | "mount" | "from" | "n" | "last")
        })
        .collect();
    if kept.is_empty() {
        path
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// splitmix64's finaliser: spreads a key's bits over the whole word.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[test]
fn upload_sessions_and_state_are_normalised_away() {
    assert_eq!(
        normalise("/v2/prod/a/blobs/uploads/5f3c?_state=xyz&digest=sha256%3Aab"),
        "/v2/prod/a/blobs/uploads/<session>?digest=sha256%3Aab"
    );
    assert_eq!(
        normalise("/v2/prod/a/blobs/uploads/?mount=sha256:ab&from=dev/a"),
        "/v2/prod/a/blobs/uploads/?mount=sha256:ab&from=dev/a"
    );
}

#[test]
fn a_seed_gives_the_same_faults_in_any_order_and_streaks_are_bounded() {
    let plan = FaultPlan::spread(7, 50, &FaultKind::ALL);
    let requests: Vec<String> = (0..200)
        .map(|i| format!("/v2/prod/s{i}/manifests/v1"))
        .collect();
    let run = |order: &mut dyn Iterator<Item = &String>| {
        let mut faults = Faults::new(plan.clone());
        let mut decided: Vec<(String, Decision)> = order
            .map(|path| (path.clone(), faults.decide("GET", path)))
            .collect();
        decided.sort_by(|a, b| a.0.cmp(&b.0));
        (decided, faults.counts)
    };
    let (forward, counts) = run(&mut requests.iter());
    let (backward, _) = run(&mut requests.iter().rev());
    assert_eq!(forward, backward);
    assert!((60..=140).contains(&counts.total()), "{counts}");
    let mut faults = Faults::new(plan);
    let streak = (0..10)
        .map(|_| faults.decide("PUT", "/v2/x/manifests/v1"))
        .take_while(|decision| *decision != Decision::Pass)
        .count();
    assert!(streak <= 2);
}
