//! quayside through a proxy that enforces quay.io's rate limits
//! (`support::rate_limits`: per class token buckets, 429 beyond them) in
//! front of a real registry: a signed apply of 10 services x 2 releases
//! completes in one run, and pacing keeps the 429s it receives few, against
//! the same apply with pacing switched off (`QUAYSIDE_PACING=off`); a plan
//! through the proxy is right.

use crate::quayside::{Outcome, Quayside};
use crate::support::client::anonymous_connector;
use crate::support::promotion::run_async;
use crate::support::proxy::Proxy;
use crate::support::rate_limits::{ClassCounts, RateLimits};
use crate::support::registry::TestRegistry;
use crate::support::releases::scratch_dir;
use crate::support::seeded::{Release, push_images, write_file};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const SERVICES: usize = 10;
const RELEASES: usize = 2;

struct Limited {
    _registry: TestRegistry,
    proxy: Proxy,
    dir: tempfile::TempDir,
    releases: Vec<Release>,
}

impl Limited {
    /// Images pushed straight to the registry; `releases.toml` names the
    /// proxy as source and target (one registry: blobs are mounted).
    async fn start(limits: RateLimits) -> Self {
        let registry = TestRegistry::start();
        let connector = anonymous_connector();
        let releases = push_images(&connector, &registry.host(), SERVICES, RELEASES).await;
        let proxy = Proxy::rate_limited(&registry.host(), limits).await;
        let dir = scratch_dir();
        write_file(dir.path(), &proxy.host(), &proxy.host(), &releases);
        Limited {
            _registry: registry,
            proxy,
            dir,
            releases,
        }
    }

    /// Runs `args` with a fresh bucket and counts; what the proxy counted.
    async fn run(&self, args: &[&str], pacing: bool) -> Measured {
        self.proxy.reset_rate_limits();
        let mut quayside = Quayside::new(self.dir.path()).args(args);
        if !pacing {
            quayside = quayside.env("QUAYSIDE_PACING", "off");
        }
        let started = Instant::now();
        let outcome = run_async(quayside).await;
        Measured {
            outcome,
            wall: started.elapsed(),
            counts: self.proxy.class_counts(),
        }
    }

    /// The least time the admitted requests of each class take through the
    /// limits (the slowest class decides).
    fn floor(&self, counts: &BTreeMap<&'static str, ClassCounts>) -> f64 {
        let limits = self.proxy.rate_limits().expect("a rate-limited proxy");
        counts
            .iter()
            .filter_map(|(class, counts)| {
                let limit = limits.limit(class)?;
                Some(limit.floor_seconds(counts.requests - counts.throttled))
            })
            .fold(0.0, f64::max)
    }
}

struct Measured {
    outcome: Outcome,
    wall: Duration,
    counts: BTreeMap<&'static str, ClassCounts>,
}

impl Measured {
    fn throttled(&self) -> u64 {
        self.counts.values().map(|counts| counts.throttled).sum()
    }

    fn throttled_in(&self, class: &str) -> u64 {
        self.counts.get(class).map_or(0, |counts| counts.throttled)
    }
}

impl std::fmt::Display for Measured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {} in {:.2} s;",
            self.outcome.code,
            self.wall.as_secs_f64()
        )?;
        for (class, counts) in &self.counts {
            write!(
                f,
                " {class} {}/{} throttled",
                counts.throttled, counts.requests
            )?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paced_signed_apply_through_quay_io_limits_succeeds_with_few_429s() {
    paced_apply_succeeds_with_few_429s(RateLimits::quay_io()).await;
}

/// With `RateLimit-*` headers (as Docker Hub sends) quayside paces by the
/// announced rates instead of learning them from 429s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paced_signed_apply_under_announced_limits_succeeds_with_few_429s() {
    let mut limits = RateLimits::quay_io();
    limits.headers = true;
    paced_apply_succeeds_with_few_429s(limits).await;
}

async fn paced_apply_succeeds_with_few_429s(limits: RateLimits) {
    let limited = Limited::start(limits).await;
    let plan = limited.run(&["plan", "--detailed-exitcode"], true).await;
    eprintln!("plan: {plan}");
    assert_eq!(plan.outcome.code, 2, "plan: {:?}", plan.outcome);
    for release in &limited.releases {
        assert!(
            plan.outcome.stdout.contains(&release.digest[7..19]),
            "the plan names {} {}: {}",
            release.service,
            release.digest,
            plan.outcome.stdout
        );
    }
    let apply = limited.run(&["apply"], true).await;
    eprintln!("paced apply: {apply}");
    let floor = limited.floor(&apply.counts);
    eprintln!(
        "paced apply: {:.2} s against a floor of {floor:.2} s ({:.2} x)",
        apply.wall.as_secs_f64(),
        apply.wall.as_secs_f64() / floor
    );
    // A first contact with a class costs the 429s of the requests then in
    // flight (slow start: 2, one more per success), each later cut a few
    // more; the unpaced apply below gets about 200 and fails.
    assert!(plan.throttled() <= 6, "plan: {plan}");
    assert_eq!(apply.outcome.code, 0, "apply: {:?}", apply.outcome);
    for class in ["tags", "manifests", "blobs"] {
        assert!(apply.throttled_in(class) <= 20, "{class}: {apply}");
    }

    let again = limited.run(&["plan", "--detailed-exitcode"], true).await;
    assert_eq!(
        again.outcome.code, 0,
        "plan after apply: {:?}",
        again.outcome
    );
    let verify = limited.run(&["verify"], true).await;
    assert_eq!(verify.outcome.code, 0, "verify: {:?}", verify.outcome);
}

/// The same apply without pacing: the baseline the bound above is set
/// against (computed, not guessed: the test asserts it is much higher).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_pacing_the_same_apply_receives_many_more_429s() {
    let paced = Limited::start(RateLimits::quay_io()).await;
    let unpaced = Limited::start(RateLimits::quay_io()).await;
    let with = paced.run(&["apply"], true).await;
    let without = unpaced.run(&["apply"], false).await;
    eprintln!("paced: {with}\nunpaced: {without}");
    assert_eq!(with.outcome.code, 0, "paced apply: {:?}", with.outcome);
    assert!(
        without.throttled() >= 5 * with.throttled().max(1),
        "paced: {with}\nunpaced: {without}"
    );
    assert!(
        with.throttled_in("manifests") * 5 <= without.throttled_in("manifests"),
        "paced: {with}\nunpaced: {without}"
    );
}
