//! Crash safety of `quayside apply` (SPEC section 5): SIGKILL it right after
//! the registry answered its N-th request, for N spread over a whole run,
//! while a watcher polls the target; then apply again. The rerun must
//! complete, `verify` must pass, and no declared tag may ever have been
//! visible unsigned or at a wrong digest.

use crate::support::promotion::{Promotion, ServiceReleases};
use crate::support::watcher::{Report, Watched, Watcher};
use quayside::digest::Digest;
use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

struct Scenario {
    promotion: Promotion,
    /// `(service, [(tag, digest)])`, the same for every target path.
    releases: Vec<(String, Vec<(String, Digest)>)>,
}

impl Scenario {
    /// gateway: rc and final of one two-platform image; datastorage: a
    /// two-platform image; notifier: a single-platform image.
    async fn start() -> Self {
        let promotion = Promotion::start().await;
        let gateway = promotion.push_two_platform("gateway", "gateway 1").await;
        let datastorage = promotion
            .push_two_platform("datastorage", "datastorage 1")
            .await;
        let notifier = promotion.push_single("notifier", "notifier 1").await;
        let releases = vec![
            (
                "gateway".to_string(),
                vec![
                    ("v1.0.0-rc1".to_string(), gateway.digest().clone()),
                    ("v1.0.0".to_string(), gateway.digest().clone()),
                ],
            ),
            (
                "datastorage".to_string(),
                vec![("v0.3.0".to_string(), datastorage.digest().clone())],
            ),
            (
                "notifier".to_string(),
                vec![("v2.0.0".to_string(), notifier)],
            ),
        ];
        Scenario {
            promotion,
            releases,
        }
    }

    /// Points `releases.toml` at a fresh target path.
    fn target(&self, path: &str) {
        let services: Vec<ServiceReleases> = self
            .releases
            .iter()
            .map(|(name, releases)| ServiceReleases {
                name: name.clone(),
                releases: releases.clone(),
            })
            .collect();
        self.promotion.write_releases(path, &services);
    }

    fn watch(&self, path: &str) -> Watcher {
        let watched = self
            .releases
            .iter()
            .map(|(service, releases)| Watched {
                repository: self.promotion.direct_location(path, service),
                identity: self.promotion.identity(path, service),
                releases: releases.clone(),
            })
            .collect();
        Watcher::start(
            self.promotion.connector.clone(),
            self.promotion.demo_public_key(),
            watched,
        )
    }

    /// Runs apply and SIGKILLs it once the registry has answered request
    /// `kill_after`. Returns whether it died by that signal.
    async fn apply_killed_after(&self, kill_after: u64) -> bool {
        let pid = Arc::new(AtomicU32::new(0));
        let armed = pid.clone();
        self.promotion.proxy.reset();
        self.promotion.proxy.arm(kill_after, move || {
            // The child exists before it can send a request, but its PID is
            // stored just after spawning: wait for it.
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut target = armed.load(Ordering::SeqCst);
            while target == 0 && Instant::now() < deadline {
                std::thread::yield_now();
                target = armed.load(Ordering::SeqCst);
            }
            if let Ok(target) = libc::pid_t::try_from(target)
                && target > 0
            {
                // Our own child, not yet reaped, so the PID cannot be reused.
                // SAFETY: kill(2) has no memory-safety preconditions.
                unsafe { libc::kill(target, libc::SIGKILL) };
            }
        });
        let mut command =
            tokio::process::Command::from(self.promotion.quayside().args(["apply"]).into_command());
        command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("quayside apply starts");
        pid.store(child.id().expect("a running child"), Ordering::SeqCst);
        let status = child.wait().await.expect("wait for apply");
        self.promotion.proxy.disarm();
        status.signal() == Some(libc::SIGKILL)
    }

    /// The registry's log lines about failed requests, for failure messages.
    fn registry_errors(&self) -> String {
        self.promotion
            .registry
            .log()
            .lines()
            .filter(|line| line.contains("level=error") || line.contains("\" 4"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Applies to a fresh target undisturbed; returns the requests it made.
    async fn undisturbed_requests(&self) -> u64 {
        self.target("baseline");
        self.promotion.proxy.reset();
        let apply = self.promotion.run(["apply"]).await;
        assert_eq!(apply.code, 0, "{apply:?}");
        self.promotion.proxy.counts().total
    }

    /// Kills apply after `kill_after` requests on a fresh target, applies
    /// again, verifies; the watcher's report covers both runs.
    async fn crash_and_recover(&self, kill_after: u64) -> (bool, Report) {
        let path = format!("crash{kill_after}");
        self.target(&path);
        let watcher = self.watch(&path);
        let killed = self.apply_killed_after(kill_after).await;
        let rerun = self.promotion.run(["apply"]).await;
        assert_eq!(
            rerun.code,
            0,
            "apply after a kill at request {kill_after}: {rerun:?}\nregistry errors:\n{}",
            self.registry_errors()
        );
        let verify = self.promotion.run(["verify"]).await;
        assert_eq!(
            verify.code, 0,
            "verify after a kill at request {kill_after}: {verify:?}"
        );
        (killed, watcher.stop().await)
    }
}

/// `points` kill points spread evenly over a run of `total` requests,
/// first and last request included.
fn spread(total: u64, points: u64) -> Vec<u64> {
    let mut at: Vec<u64> = (0..points)
        .map(|i| 1 + i * (total - 1) / (points - 1))
        .collect();
    at.dedup();
    at
}

async fn crash_at_spread_points(points: u64) {
    let started = Instant::now();
    let scenario = Scenario::start().await;
    let total = scenario.undisturbed_requests().await;
    assert!(
        total >= points,
        "an undisturbed apply made only {total} requests"
    );
    let mut killed = 0;
    let mut tags_seen = 0;
    let mut polls = 0;
    let mut violations = Vec::new();
    for kill_after in spread(total, points) {
        let (was_killed, report) = scenario.crash_and_recover(kill_after).await;
        killed += u64::from(was_killed);
        tags_seen += report.tags_seen;
        polls += report.polls;
        violations.extend(
            report
                .violations
                .into_iter()
                .map(|v| format!("kill after request {kill_after}: {v}")),
        );
    }
    eprintln!(
        "crash test: {total} requests per undisturbed apply; {killed} kills; watcher: {polls} polls, {tags_seen} tags seen in place; {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(violations.is_empty(), "{violations:#?}");
    // The last kill point is the last request: the process may exit first.
    assert!(
        killed + 1 >= points,
        "only {killed} of {points} runs were killed"
    );
    assert!(tags_seen > 0, "the watcher never saw a tag in place");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apply_killed_at_ten_points_recovers_and_never_shows_an_unsigned_tag() {
    crash_at_spread_points(10).await;
}

/// Every request of a run, one kill each: `cargo test --test all
/// apply_killed_at_every -- --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "kills apply at every request of a run; about a minute or more"]
async fn apply_killed_at_every_request_recovers_and_never_shows_an_unsigned_tag() {
    let scenario = Scenario::start().await;
    let total = scenario.undisturbed_requests().await;
    crash_at_spread_points_of(&scenario, total).await;
}

async fn crash_at_spread_points_of(scenario: &Scenario, total: u64) {
    let mut violations = Vec::new();
    let mut killed = 0;
    for kill_after in 1..=total {
        let (was_killed, report) = scenario.crash_and_recover(kill_after).await;
        killed += u64::from(was_killed);
        violations.extend(
            report
                .violations
                .into_iter()
                .map(|v| format!("kill after request {kill_after}: {v}")),
        );
    }
    eprintln!("{killed} of {total} runs killed");
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn kill_points_cover_the_whole_run() {
    assert_eq!(spread(100, 10), [1, 12, 23, 34, 45, 56, 67, 78, 89, 100]);
    assert_eq!(spread(10, 10), (1..=10).collect::<Vec<_>>());
}
