//! Crash safety, concurrency and PR history against the real Quay
//! (`support::real_quay`): `apply` SIGKILLed at seeded points behind the
//! counting proxy (SPEC section 5: the rerun converges, `verify` passes, and
//! no declared tag is ever seen unsigned or at another digest), two applies
//! racing on one file, and `plan --base` with a saved plan in a throwaway git
//! repository.
//!
//! Quay checks the admin's password (and the API's OAuth token) with bcrypt,
//! about 0.3 s of a worker per token (quayside fetches different scopes'
//! tokens at once, but Quay has two workers): an apply of three releases
//! takes seconds here, so kill points run a few at a time, each with its own
//! proxy, file and target organization.

use crate::support::git::git;
use crate::support::promotion::run_async;
use crate::support::proxy::Proxy;
use crate::support::quay_promotion::{Credentials, QuayPromotion};
use crate::support::real_quay::RealQuay;
use crate::support::releases::ServiceReleases;
use crate::support::rng::seeded_points;
use crate::support::watcher::{bundle_problems, is_signature_tag, legacy_problems};
use futures::{StreamExt, stream};
use quayside::digest::Digest;
use quayside::registry::Connector;
use quayside::signing::PublicKey;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// A watcher for Quay.
//
// `support::watcher` finds tags with `/v2/<repo>/tags/list`, which Quay
// caches for 120 s per repository and page: its first poll (before apply
// wrote anything) would answer `[]` for the rest of the test and the watcher
// would see nothing. Quay's REST tag list is not cached, but every REST call
// checks the OAuth token with bcrypt (about 0.3 s of a Quay worker), so
// polling it would mostly measure Quay. This watcher asks for each declared
// tag by name instead (`HEAD /v2/…/manifests/<tag>`, never cached), straight
// from Quay with the admin connector, and reads signatures with the
// library's own reader. Tags the file does not declare are looked for once,
// at the end, in the REST list (apply never deletes a tag, so one it wrote
// would still be there); on Quay that includes a fallback index tag
// `sha256-<hex>`, which apply must not write where the referrers API exists.
//
// Bundles (the default formats) are found as verifiers find them, through
// `GET /v2/<repo>/referrers/<digest>`, and each referrer manifest is then
// read by digest (manifests are not cached) with its bundle blob. Quay
// caches a referrers list for 60 s per repository and digest, so a list read
// before the bundle was stored would hide it: a false alarm, unless no such
// read can happen. None can here: the watcher lists a digest's referrers
// only once it has seen a declared tag on that digest; apply stores the
// bundle before the tag and never lists the referrers of an image it copies
// (it asks whether the API exists about the empty blob's digest); each kill
// point promotes into its own organization. The first list of a digest, the
// one Quay caches, is therefore read after its bundle was stored. A list
// without a valid bundle is what `cosign verify` would see too: a violation.

#[derive(Debug, Default)]
struct QuayReport {
    polls: u64,
    tags_seen: u64,
    read_errors: u64,
    violations: Vec<String>,
}

struct QuayWatcher {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<QuayReport>,
}

struct WatchedOrg {
    quay: &'static RealQuay,
    admin: Arc<Connector>,
    key: PublicKey,
    org: String,
    /// The host apply talked to, which signatures name.
    signed_host: String,
    releases: Vec<ServiceReleases>,
}

impl QuayWatcher {
    fn start(watched: WatchedOrg) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut report = QuayReport::default();
            // `(service, digest)` whose image and children were all seen
            // validly signed, with a valid bundle: signatures are only ever
            // added, so they stay so.
            let mut signed = BTreeSet::new();
            // One more poll after the stop flag, so the final state is seen.
            loop {
                let last = flag.load(Ordering::SeqCst);
                for service in &watched.releases {
                    watched
                        .poll(&service.name, &service.releases, &mut signed, &mut report)
                        .await;
                }
                report.polls += 1;
                if last {
                    watched.undeclared_tags(&mut report).await;
                    return report;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        QuayWatcher { stop, task }
    }

    async fn stop(self) -> QuayReport {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.expect("the watcher task does not panic")
    }
}

impl WatchedOrg {
    async fn poll(
        &self,
        service: &str,
        releases: &[(String, Digest)],
        signed: &mut BTreeSet<(String, Digest)>,
        report: &mut QuayReport,
    ) {
        let repository = self
            .admin
            .open(&self.quay.location(&format!("{}/{service}", self.org)));
        let identity = format!("{}/{}/{service}", self.signed_host, self.org);
        for (tag, declared) in releases {
            let name = format!("{}/{service}:{tag}", self.org);
            let found = match repository.resolve_tag(tag).await {
                Ok(Some(found)) => found,
                Ok(None) => continue,
                Err(_) => {
                    report.read_errors += 1;
                    continue;
                }
            };
            report.tags_seen += 1;
            if &found != declared {
                report
                    .violations
                    .push(format!("{name} points at {found}, declared {declared}"));
                continue;
            }
            let key = (service.to_string(), declared.clone());
            if signed.contains(&key) {
                continue;
            }
            // Read after the tag: signatures are only ever added, so one
            // missing now was missing when the tag was seen.
            let repository = repository.as_ref();
            let checks = [
                legacy_problems(repository, &self.key, &identity, declared).await,
                bundle_problems(repository, &self.key, &identity, declared).await,
            ];
            let mut all_signed = true;
            for found in checks {
                match found {
                    Ok(problems) => {
                        all_signed &= problems.is_empty();
                        report.violations.extend(
                            problems
                                .into_iter()
                                .map(|p| format!("{name} is tagged while {p}")),
                        );
                    }
                    Err(_) => {
                        all_signed = false;
                        report.read_errors += 1;
                    }
                }
            }
            if all_signed {
                signed.insert(key);
            }
        }
    }

    /// Every tag Quay's (uncached) REST API lists that the file does not
    /// declare and that is not a cosign signature tag.
    async fn undeclared_tags(&self, report: &mut QuayReport) {
        for service in &self.releases {
            for (tag, _, _, _) in self.quay.rest_tags(&self.org, &service.name).await {
                let declared = service.releases.iter().any(|(name, _)| *name == tag);
                if !declared && !is_signature_tag(&tag) {
                    report.violations.push(format!(
                        "{}/{}:{tag} exists but the file does not declare it",
                        self.org, service.name
                    ));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// 1. apply SIGKILLed at seeded points, on Quay.

const SERVICES: [&str; 2] = ["gateway", "datastorage"];
const CRASH_SEED: u64 = 0x9a7e;
const CRASH_POINTS: usize = 6;
/// Kill points run at once, each with its own proxy, file and organization:
/// an apply on Quay mostly waits for Quay's bcrypt checks of the password
/// (one per token), which leaves room for others.
const CRASH_IN_FLIGHT: usize = 3;

struct Crash {
    quay: QuayPromotion,
    /// One per run: the undisturbed one first, then one per kill point, so
    /// that each counts (and kills) only its own apply's requests.
    proxies: Vec<Proxy>,
    releases: Vec<ServiceReleases>,
}

impl Crash {
    /// gateway: rc and final of one two-platform image; datastorage: a
    /// two-platform image. quayside talks to Quay through a proxy, as the
    /// admin (so blobs are mounted from the source organization).
    async fn start() -> Option<Self> {
        let mut quay = QuayPromotion::start(&SERVICES, Credentials::OneForBoth).await?;
        let mut proxies = Vec::new();
        for _ in 0..=CRASH_POINTS {
            proxies.push(Proxy::start(&quay.quay.host()).await);
        }
        let hosts: Vec<String> = proxies.iter().map(Proxy::host).collect();
        quay.admin_credentials_for(&hosts);
        let gateway = quay
            .push_two_platform("gateway", "quay crash gateway")
            .await;
        let datastorage = quay
            .push_two_platform("datastorage", "quay crash datastorage")
            .await;
        let releases = vec![
            ServiceReleases::new(
                "gateway",
                &[
                    ("v1.0.0-rc1", gateway.digest()),
                    ("v1.0.0", gateway.digest()),
                ],
            ),
            ServiceReleases::new("datastorage", &[("v0.3.0", datastorage.digest())]),
        ];
        Some(Crash {
            quay,
            proxies,
            releases,
        })
    }

    /// A fresh target organization with the services' repositories, and
    /// `file` promoting into it through `proxy`.
    async fn fresh_target(&self, proxy: &Proxy, file: &str) -> String {
        let org = self.quay.quay.organization("crash").await;
        for service in SERVICES {
            self.quay.quay.repository(&org, service).await;
        }
        self.quay
            .write_releases_at(file, &proxy.host(), &org, &self.releases);
        org
    }

    fn watch(&self, proxy: &Proxy, org: &str) -> QuayWatcher {
        QuayWatcher::start(WatchedOrg {
            quay: self.quay.quay,
            admin: self.quay.admin.clone(),
            key: self.quay.demo_public_key(),
            org: org.to_string(),
            signed_host: proxy.host(),
            releases: self.releases.clone(),
        })
    }

    /// Applies to a fresh target undisturbed; returns the proxied requests.
    async fn undisturbed_requests(&self) -> u64 {
        let proxy = &self.proxies[0];
        self.fresh_target(proxy, "undisturbed.toml").await;
        proxy.reset();
        let apply = self.quay.run(["apply", "-f", "undisturbed.toml"]).await;
        assert_eq!(apply.code, 0, "{apply:?}");
        assert!(
            apply
                .stdout
                .contains("Apply: 3 created, 0 signed, 0 failed"),
            "{apply:?}"
        );
        eprintln!("quay crash: an undisturbed apply: {}", proxy.counts());
        proxy.counts().total
    }

    /// Runs apply on `file` and SIGKILLs it once Quay has answered the
    /// request number `kill_after` that came through `proxy`. Returns
    /// whether it died by that signal.
    async fn apply_killed_after(&self, proxy: &Proxy, file: &str, kill_after: u64) -> bool {
        let command = self
            .quay
            .quayside()
            .args(["apply", "-f", file])
            .into_command();
        proxy.run_killed_after(command, kill_after).await
    }

    /// Kills apply after `kill_after` requests on a fresh target, applies
    /// again, verifies; the watcher's report covers both runs.
    async fn crash_and_recover(&self, point: usize, kill_after: u64) -> (bool, QuayReport) {
        let started = Instant::now();
        let proxy = &self.proxies[point + 1];
        let file = format!("crash{point}.toml");
        let org = self.fresh_target(proxy, &file).await;
        let watcher = self.watch(proxy, &org);
        let killed = self.apply_killed_after(proxy, &file, kill_after).await;
        let rerun = self.quay.run(["apply", "-f", &file]).await;
        assert_eq!(
            rerun.code, 0,
            "apply into {org} after a kill at request {kill_after}: {rerun:?}"
        );
        let verify = self.quay.run(["verify", "-f", &file]).await;
        assert_eq!(
            verify.code, 0,
            "verify of {org} after a kill at request {kill_after}: {verify:?}"
        );
        assert!(
            verify
                .stdout
                .contains("3 releases checked, 3 verified, 0 failing."),
            "{verify:?}"
        );
        let report = watcher.stop().await;
        eprintln!(
            "quay crash: kill after request {kill_after} ({}), rerun and verify: {:.1} s",
            if killed { "killed" } else { "had exited" },
            started.elapsed().as_secs_f64()
        );
        (killed, report)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apply_on_quay_killed_at_seeded_points_recovers_and_never_shows_an_unsigned_tag() {
    let Some(crash) = Crash::start().await else {
        return;
    };
    let started = Instant::now();
    let total = crash.undisturbed_requests().await;
    assert!(
        total >= 2 * CRASH_POINTS as u64,
        "an undisturbed apply made only {total} proxied requests"
    );
    let kill_points = seeded_points(CRASH_SEED, total, CRASH_POINTS as u64);
    let reports: Vec<(u64, bool, QuayReport)> = stream::iter(kill_points.iter().enumerate())
        .map(|(point, &kill_after)| {
            let crash = &crash;
            async move {
                let (killed, report) = crash.crash_and_recover(point, kill_after).await;
                (kill_after, killed, report)
            }
        })
        .buffer_unordered(CRASH_IN_FLIGHT)
        .collect()
        .await;
    let (mut killed, mut tags_seen, mut polls, mut read_errors) = (0, 0, 0, 0);
    let mut violations = Vec::new();
    for (kill_after, was_killed, report) in reports {
        killed += usize::from(was_killed);
        tags_seen += report.tags_seen;
        polls += report.polls;
        read_errors += report.read_errors;
        violations.extend(
            report
                .violations
                .into_iter()
                .map(|v| format!("kill after request {kill_after}: {v}")),
        );
    }
    eprintln!(
        "quay crash test, seed {CRASH_SEED:#x}: {total} proxied requests per undisturbed apply; \
         kill points {kill_points:?}; {killed} kills, each followed by one apply that converged; \
         watcher: {polls} polls, {tags_seen} tags seen in place, {read_errors} read errors; {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(violations.is_empty(), "{violations:#?}");
    // A point at the very end of the run may come after the process exited.
    assert!(
        killed + 1 >= CRASH_POINTS,
        "only {killed} of {CRASH_POINTS} runs were killed"
    );
    assert!(tags_seen > 0, "the watcher never saw a tag in place");
}

// ---------------------------------------------------------------------------
// 2. Two applies at once on one file.

/// gateway: rc and final share a digest; notifier: two images. Both
/// two-platform, promoted by two applies started together.
async fn race_on_quay(credentials: Credentials) {
    let services = ["gateway", "notifier"];
    let Some(quay) = QuayPromotion::start(&services, credentials).await else {
        return;
    };
    let gateway = quay.push_two_platform("gateway", "race gateway").await;
    let notifier_rc = quay.push_two_platform("notifier", "race notifier rc").await;
    let notifier = quay
        .push_two_platform("notifier", "race notifier final")
        .await;
    let declared = [
        ServiceReleases::new(
            "gateway",
            &[
                ("v1.0.0-rc1", gateway.digest()),
                ("v1.0.0", gateway.digest()),
            ],
        ),
        ServiceReleases::new(
            "notifier",
            &[
                ("v2.0.0-rc1", notifier_rc.digest()),
                ("v2.0.0", notifier.digest()),
            ],
        ),
    ];
    quay.write_releases(&declared);
    let (first, second) = tokio::join!(
        run_async(quay.quayside().args(["apply"])),
        run_async(quay.quayside().args(["apply"])),
    );
    // Both succeed on the first try: a blob mount or upload POST that Quay's
    // gunicorn answered with a reset (it closes keep-alive connections after
    // 2 s idle) is sent again (`safe_to_send_again` in the transport).
    for (name, outcome) in [("first", &first), ("second", &second)] {
        assert_eq!(
            outcome.code, 0,
            "{credentials:?}, {name} apply: {outcome:?}"
        );
    }
    let verify = quay.run(["verify"]).await;
    assert_eq!(verify.code, 0, "{credentials:?}: {verify:?}");
    assert!(
        verify
            .stdout
            .contains("4 releases checked, 4 verified, 0 failing."),
        "{credentials:?}: {verify:?}"
    );
    let plan = quay.run(["plan", "--detailed-exitcode"]).await;
    assert_eq!(
        plan.code, 0,
        "{credentials:?}, nothing left to do: {plan:?}"
    );
    // Quay's own view (REST API): every release at its digest, once.
    for service in &declared {
        let tags = quay.target_tags(&service.name).await;
        for (tag, digest) in &service.releases {
            let found: Vec<&str> = tags
                .iter()
                .filter(|(name, _, _, _)| name == tag)
                .map(|(_, found, _, _)| found.as_str())
                .collect();
            assert_eq!(
                found,
                [digest.to_string()],
                "{credentials:?}: {}:{tag}: {tags:?}",
                service.name
            );
        }
    }
}

/// As `apply_race`, on Quay: with a robot per organization (both applies
/// stream the same blobs into the same repositories) and with one account
/// (both mount them), at the same time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_applies_on_quay_at_once_both_succeed() {
    tokio::join!(
        race_on_quay(Credentials::RobotPerOrganization),
        race_on_quay(Credentials::OneForBoth),
    );
}

// ---------------------------------------------------------------------------
// 3. A PR's `plan --base`, then a saved plan applied, on Quay.

fn commit_releases(dir: &Path, message: &str) -> String {
    git(dir, &["add", "releases.toml"]);
    git(dir, &["commit", "-q", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_pr_plan_and_saved_plan_on_quay() {
    let services = ["gateway", "notifier"];
    let Some(quay) = QuayPromotion::start(&services, Credentials::RobotPerOrganization).await
    else {
        return;
    };
    let dir = quay.dir.path();
    let gateway = quay.push_two_platform("gateway", "quay pr gateway").await;
    let notifier = quay.push_two_platform("notifier", "quay pr notifier").await;

    // main: one release, applied from its commit.
    let released = ServiceReleases::new("gateway", &[("v1.0.0", gateway.digest())]);
    quay.write_releases(std::slice::from_ref(&released));
    git(dir, &["init", "-q"]);
    let base = commit_releases(dir, "release gateway v1.0.0");
    let apply = quay.run(["apply"]).await;
    assert_eq!(apply.code, 0, "{apply:?}");
    assert!(
        apply
            .stdout
            .contains(&format!("Provenance: signatures record git commit {base}")),
        "{apply:?}"
    );

    // The PR: a branch adding one release line.
    git(dir, &["switch", "-q", "-c", "release-notifier"]);
    quay.write_releases(&[
        released,
        ServiceReleases::new("notifier", &[("v0.1.0", notifier.digest())]),
    ]);
    let head = commit_releases(dir, "release notifier v0.1.0");

    let text = quay.run(["plan", "--base", &base]).await;
    assert_eq!(text.code, 0, "{text:?}");
    assert!(
        text.stdout
            .contains(&format!("+\"v0.1.0\" = \"{}\"", notifier.digest())),
        "the diff shows the added line: {text:?}"
    );
    assert_eq!(text.stdout.matches(" create ").count(), 1, "{text:?}");
    assert!(
        text.stdout
            .contains(&format!("+ v0.1.0  create     {}", notifier.digest())),
        "{text:?}"
    );
    assert!(
        text.stdout.contains(&format!(
            "1 release unchanged since {}, not checked",
            &base[..7]
        )),
        "{text:?}"
    );
    assert!(!text.stdout.contains("v1.0.0 "), "{text:?}");

    let json = quay
        .run(["plan", "--base", &base, "--format", "json"])
        .await;
    assert_eq!(json.code, 0, "{json:?}");
    let value = json.json();
    assert_eq!(value["summary"]["create"], 1, "{value:#}");
    assert_eq!(value["summary"]["not_checked"], 1, "{value:#}");
    let actions = value["actions"].as_array().expect("actions");
    assert_eq!(actions.len(), 1, "{value:#}");
    assert_eq!(actions[0]["service"], "notifier", "{value:#}");
    assert_eq!(actions[0]["tag"], "v0.1.0", "{value:#}");
    assert_eq!(actions[0]["kind"], "create", "{value:#}");
    assert_eq!(actions[0]["digest"], notifier.digest().to_string());
    assert_eq!(value["base"], base.as_str(), "{value:#}");
    assert_eq!(value["revision"], head.as_str(), "{value:#}");

    // The saved plan (a full one: the released tag is checked again).
    let saved = quay.run(["plan", "--out", "plan.json"]).await;
    assert_eq!(saved.code, 0, "{saved:?}");
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("plan.json")).unwrap()).unwrap();
    assert_eq!(plan["summary"]["create"], 1, "{plan:#}");
    assert_eq!(plan["summary"]["unchanged"], 1, "{plan:#}");
    let apply = quay.run(["apply", "plan.json"]).await;
    assert_eq!(apply.code, 0, "{apply:?}");
    assert!(
        apply
            .stdout
            .contains("Apply: 1 created, 0 signed, 0 failed"),
        "{apply:?}"
    );
    assert!(
        apply
            .stdout
            .contains(&format!("Provenance: signatures record git commit {head}")),
        "{apply:?}"
    );

    let plan = quay.run(["plan", "--detailed-exitcode"]).await;
    assert_eq!(plan.code, 0, "nothing left to do: {plan:?}");
    let verify = quay.run(["verify"]).await;
    assert_eq!(verify.code, 0, "{verify:?}");
    let tags = quay.target_tags("notifier").await;
    assert!(
        tags.iter().any(
            |(name, digest, _, _)| name == "v0.1.0" && *digest == notifier.digest().to_string()
        ),
        "{tags:?}"
    );
}
