//! The vulnerability gate on what Quay itself produces: the real Quay's own
//! security worker indexes each pushed platform manifest by calling a Clair
//! v4 stand-in (`support::clair`, canned per digest), and Quay's security API
//! computes the `…/manifest/{digest}/security` answers quayside reads from
//! Clair's reports, with Quay's code. Each test waits until Quay says what
//! it is meant to about every platform, then runs `quayside plan` with
//! `vulnerability_source = "quay"` and the admin's OAuth token.

use crate::quayside::Outcome;
use crate::support::clair::{Canned, Clair, Vuln};
use crate::support::images::{TestImage, push, two_platform_image};
use crate::support::promotion::run_async;
use crate::support::quay_promotion::{Credentials, QuayPromotion};
use crate::support::releases::{
    DEMO_KEY, DEMO_PUBLIC_KEY, declared_for, releases_toml_with, signing_lines,
};
use quayside::digest::Digest;
use reqwest::Method;
use serde_json::Value;
use std::time::{Duration, Instant};

/// How long Quay may take to index a pushed manifest (its worker runs every
/// second, the first time 5 s after it started).
const INDEXED_WITHIN: Duration = Duration::from_secs(60);

/// A source and target organization on the real Quay, `gateway` in both,
/// read and written by a robot per organization.
struct ScanSetup {
    quay: QuayPromotion,
}

impl ScanSetup {
    async fn start() -> Option<Self> {
        let quay = QuayPromotion::start(&["gateway"], Credentials::RobotPerOrganization).await?;
        Some(ScanSetup { quay })
    }

    fn clair(&self) -> &Clair {
        self.quay.quay.clair()
    }

    /// Tells Clair what it finds on each platform (linux/amd64, linux/arm64)
    /// of a new image, then pushes it to the source, tagged `dev`.
    async fn image(&self, seed: &str, amd64: Canned, arm64: Canned) -> TestImage {
        let image = two_platform_image(seed);
        for (manifest, answer) in image.manifests.iter().zip([amd64, arm64]) {
            self.clair().register(&manifest.digest, answer);
        }
        push(self.quay.source("gateway").as_ref(), &image, Some("dev")).await;
        image
    }

    /// Quay's security answer for a manifest of the source `gateway`.
    async fn security(&self, digest: &Digest) -> (u16, Value) {
        self.quay
            .quay
            .api(
                Method::GET,
                &format!(
                    "repository/{}/gateway/manifest/{digest}/security?vulnerabilities=true",
                    self.quay.source_org
                ),
                None,
            )
            .await
    }

    /// Polls Quay until it reports `want` (`scanned`, `failed`, `queued`,
    /// or `HTTP 520`: it cannot load the report) for each platform of
    /// `image`; `queued` counts once Quay's worker has sent the manifest to
    /// Clair (it is indexing, not merely not reached yet). Quay's answers,
    /// per platform.
    async fn wait_for(&self, image: &TestImage, want: [&str; 2]) -> Vec<Value> {
        let started = Instant::now();
        let mut answers = Vec::new();
        for (manifest, want) in image.manifests.iter().zip(want) {
            let answer = loop {
                let (status, answer) = self.security(&manifest.digest).await;
                let sent = self
                    .clair()
                    .calls_about(&manifest.digest)
                    .iter()
                    .any(|call| {
                        call.method == "POST" && call.path == "/indexer/api/v1/index_report"
                    });
                let done = match want {
                    "HTTP 520" => status == 520,
                    _ => status == 200 && answer["status"] == want && (want != "queued" || sent),
                };
                if done {
                    break answer;
                }
                assert!(
                    started.elapsed() < INDEXED_WITHIN,
                    "Quay did not report {} `{want}` within {INDEXED_WITHIN:?}: HTTP {status} {answer} (see {}/securityworker.log)",
                    manifest.digest,
                    self.quay.quay.work.display()
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            };
            answers.push(answer);
        }
        eprintln!(
            "quay_scan: Quay reported {want:?} after {:.1} s",
            started.elapsed().as_secs_f64()
        );
        answers
    }

    /// `releases.toml`: source and target on Quay, the gate reading Quay's
    /// security API at Quay's host, `waivers` (TOML) after the policy.
    fn write(&self, waivers: &str, releases: &[(&str, &Digest)]) {
        let host = self.quay.quay.host();
        let text = releases_toml_with(
            &format!("http://{host}/{}", self.quay.source_org),
            &format!("http://{host}/{}", self.quay.target_org),
            &format!("vulnerability_source = \"quay\"\nquay_api = \"http://{host}\"\n{waivers}\n"),
            &signing_lines(DEMO_KEY, DEMO_PUBLIC_KEY),
            &declared_for("gateway", releases),
        );
        std::fs::write(self.quay.dir.path().join("releases.toml"), text)
            .expect("write releases.toml");
    }

    /// `quayside plan <args>` with the admin's token for Quay's API.
    async fn plan(&self, args: &[&str]) -> Outcome {
        let command = self
            .quay
            .quayside()
            .env("QUAY_API_TOKEN", self.quay.quay.admin_token())
            .args(["plan"])
            .args(args);
        run_async(command).await
    }
}

/// The vulnerabilities Quay lists in a security answer: `(name, severity,
/// package, version, fixed)`.
fn quay_listed(answer: &Value) -> Vec<(String, String, String, String, String)> {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
    let mut listed = Vec::new();
    for feature in answer["data"]["Layer"]["Features"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for vulnerability in feature["Vulnerabilities"].as_array().into_iter().flatten() {
            listed.push((
                text(&vulnerability["Name"]),
                text(&vulnerability["Severity"]),
                text(&feature["Name"]),
                text(&feature["Version"]),
                text(&vulnerability["FixedBy"]),
            ));
        }
    }
    listed
}

fn high_openssl(name: &str) -> Vuln {
    Vuln::new(
        name,
        "High",
        "openssl",
        "3.0.15-1~deb12u1",
        "3.0.16-1~deb12u1",
    )
}

/// Clean on both platforms: Quay's worker sent each platform manifest (never
/// the index) to Clair with its PSK-signed JWT, Quay reports both scanned,
/// and the plan creates the release.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_on_both_platforms_plans_create() {
    let Some(setup) = ScanSetup::start().await else {
        return;
    };
    let image = setup
        .image("scan clean", Canned::Clean, Canned::Clean)
        .await;
    let answers = setup.wait_for(&image, ["scanned", "scanned"]).await;
    for answer in &answers {
        assert_eq!(quay_listed(answer), Vec::new(), "{answer}");
        let features = answer["data"]["Layer"]["Features"].as_array().unwrap();
        assert!(
            features.iter().any(|feature| feature["Name"] == "bash"),
            "Quay lists Clair's packages: {answer}"
        );
    }
    // The index itself Quay never sends (it marks lists unsupported).
    let (status, index) = setup.security(image.digest()).await;
    assert_eq!(
        (status, index["status"].as_str()),
        (200, Some("unsupported"))
    );
    assert!(setup.clair().calls_about(image.digest()).is_empty());

    setup.write("", &[("v1.0.0", image.digest())]);
    let out = setup.plan(&["--format", "json"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let plan = out.json();
    assert_eq!(plan["actions"][0]["tag"], "v1.0.0", "{plan:#}");
    assert_eq!(plan["actions"][0]["kind"], "create", "{plan:#}");
    assert_eq!(
        plan["refusals"].as_array().map(Vec::len),
        Some(0),
        "{plan:#}"
    );

    for manifest in &image.manifests {
        let calls = setup.clair().calls_about(&manifest.digest);
        let asked = |method: &str, prefix: &str| {
            calls
                .iter()
                .any(|call| call.method == method && call.path.starts_with(prefix))
        };
        assert!(asked("POST", "/indexer/api/v1/index_report"), "{calls:?}");
        assert!(
            asked("GET", "/matcher/api/v1/vulnerability_report/"),
            "{calls:?}"
        );
    }
    let calls = setup.clair().calls();
    assert!(
        calls
            .iter()
            .any(|call| call.path == "/indexer/api/v1/index_state"),
        "{calls:?}"
    );
    assert!(
        calls.iter().all(|call| call.authorized),
        "every call carries Quay's JWT: {calls:?}"
    );
}

/// High on one platform: `vulnerable`, naming the CVE, the package, its
/// versions and the platform, as Quay reported them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn high_on_one_platform_refuses_vulnerable_naming_cve_package_and_platform() {
    let Some(setup) = ScanSetup::start().await else {
        return;
    };
    let image = setup
        .image(
            "scan high",
            Canned::Clean,
            Canned::Vulnerable(vec![high_openssl("CVE-2026-31001")]),
        )
        .await;
    let answers = setup.wait_for(&image, ["scanned", "scanned"]).await;
    assert_eq!(
        quay_listed(&answers[1]),
        vec![(
            "CVE-2026-31001".into(),
            "High".into(),
            "openssl".into(),
            "3.0.15-1~deb12u1".into(),
            "3.0.16-1~deb12u1".into()
        )],
        "{}",
        answers[1]
    );

    setup.write("", &[("v1.0.0", image.digest())]);
    let out = setup.plan(&["--format", "json"]).await;
    assert_eq!(out.code, 3, "{out:?}");
    let plan = out.json();
    assert_eq!(plan["summary"]["create"], 0, "{plan:#}");
    let refusal = &plan["refusals"][0];
    assert_eq!(refusal["code"], "vulnerable", "{plan:#}");
    assert_eq!(refusal["tag"], "v1.0.0");
    let details = refusal["details"].as_array().unwrap();
    assert_eq!(details.len(), 1, "{refusal}");
    assert_eq!(details[0]["id"], "CVE-2026-31001");
    assert_eq!(details[0]["severity"], "high");
    assert_eq!(details[0]["package"], "openssl");
    assert_eq!(details[0]["installed"], "3.0.15-1~deb12u1");
    assert_eq!(details[0]["fixed"], "3.0.16-1~deb12u1");
    assert_eq!(details[0]["platform"], "linux/arm64");
    assert_eq!(details[0]["digest"], image.manifests[1].digest.to_string());
    assert_eq!(
        details[0]["link"],
        "https://security-tracker.debian.org/tracker/CVE-2026-31001"
    );

    let text = setup.plan(&[]).await;
    assert_eq!(text.code, 3, "{text:?}");
    assert!(
        text.stdout.contains("error[vulnerable]: gateway v1.0.0"),
        "{text:?}"
    );
    assert!(
        text.stdout.contains(
            "CVE-2026-31001 (high) openssl 3.0.15-1~deb12u1, fixed in 3.0.16-1~deb12u1, on linux/arm64"
        ),
        "{text:?}"
    );
}

/// Critical (no fix yet) on one platform refuses; a Low on the other does
/// not block.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn critical_refuses_and_low_does_not_block() {
    let Some(setup) = ScanSetup::start().await else {
        return;
    };
    let image = setup
        .image(
            "scan critical",
            Canned::Vulnerable(vec![Vuln::new(
                "CVE-2026-31002",
                "Critical",
                "zlib1g",
                "1:1.2.13.dfsg-1",
                "",
            )]),
            Canned::Vulnerable(vec![Vuln::new(
                "CVE-2026-31003",
                "Low",
                "tar",
                "1.34+dfsg-1.2",
                "",
            )]),
        )
        .await;
    let answers = setup.wait_for(&image, ["scanned", "scanned"]).await;
    assert_eq!(
        quay_listed(&answers[0])
            .into_iter()
            .map(|(name, severity, ..)| (name, severity))
            .collect::<Vec<_>>(),
        vec![("CVE-2026-31002".to_string(), "Critical".to_string())]
    );

    setup.write("", &[("v1.0.0", image.digest())]);
    let out = setup.plan(&["--format", "json"]).await;
    assert_eq!(out.code, 3, "{out:?}");
    let plan = out.json();
    let refusal = &plan["refusals"][0];
    assert_eq!(refusal["code"], "vulnerable", "{plan:#}");
    let details = refusal["details"].as_array().unwrap();
    assert_eq!(
        details.len(),
        1,
        "the Low on arm64 does not block: {refusal}"
    );
    assert_eq!(details[0]["id"], "CVE-2026-31002");
    assert_eq!(details[0]["severity"], "critical");
    assert_eq!(details[0]["package"], "zlib1g");
    assert_eq!(details[0]["platform"], "linux/amd64");
    assert!(details[0].get("fixed").is_none(), "no fix: {refusal}");
}

/// A platform Clair failed to index (Quay: `failed`) or is still indexing
/// (Quay: `queued`) refuses `scan-unavailable`, naming the platform; once
/// Clair finishes, the same plan creates that release.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_failed_or_still_indexing_refuses_scan_unavailable() {
    let Some(setup) = ScanSetup::start().await else {
        return;
    };
    let failed = setup
        .image("scan failed", Canned::Clean, Canned::IndexError)
        .await;
    let indexing = setup
        .image("scan indexing", Canned::Clean, Canned::Indexing)
        .await;
    let held = indexing.manifests[1].digest.clone();
    // Whatever happens below, let Quay's worker go on.
    struct Release<'a>(&'a Clair, Digest);
    impl Drop for Release<'_> {
        fn drop(&mut self) {
            self.0.register(&self.1, Canned::Clean);
        }
    }
    let release = Release(setup.clair(), held.clone());
    setup.wait_for(&failed, ["scanned", "failed"]).await;
    setup.wait_for(&indexing, ["scanned", "queued"]).await;

    setup.write(
        "",
        &[("v1.0.0", failed.digest()), ("v1.1.0", indexing.digest())],
    );
    let out = setup.plan(&["--format", "json"]).await;
    assert_eq!(out.code, 3, "{out:?}");
    let plan = out.json();
    assert_eq!(plan["summary"]["create"], 0, "{plan:#}");
    let refusals = plan["refusals"].as_array().unwrap();
    assert_eq!(refusals.len(), 2, "{plan:#}");
    for (refusal, (tag, word)) in refusals
        .iter()
        .zip([("v1.0.0", "failed"), ("v1.1.0", "queued")])
    {
        assert_eq!(refusal["code"], "scan-unavailable", "{refusal}");
        assert_eq!(refusal["tag"], tag, "{refusal}");
        let message = refusal["message"].as_str().unwrap();
        assert!(message.contains(word), "{message}");
        assert!(message.contains("linux/arm64"), "{message}");
        assert!(!message.contains("linux/amd64"), "{message}");
    }

    // Clair finishes indexing the held platform: Quay reports it scanned.
    drop(release);
    setup.wait_for(&indexing, ["scanned", "scanned"]).await;
    let out = setup.plan(&["--format", "json"]).await;
    assert_eq!(out.code, 3, "{out:?}");
    let plan = out.json();
    assert_eq!(plan["actions"][0]["tag"], "v1.1.0", "{plan:#}");
    assert_eq!(plan["actions"][0]["kind"], "create", "{plan:#}");
    assert_eq!(plan["refusals"][0]["tag"], "v1.0.0", "{plan:#}");
    assert_eq!(plan["refusals"][0]["code"], "scan-unavailable", "{plan:#}");
}

/// A waiver for the High CVE Quay reports lets the release be created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiver_for_the_high_cve_plans_create() {
    let Some(setup) = ScanSetup::start().await else {
        return;
    };
    let image = setup
        .image(
            "scan waived",
            Canned::Vulnerable(vec![high_openssl("CVE-2026-31004")]),
            Canned::Clean,
        )
        .await;
    setup.wait_for(&image, ["scanned", "scanned"]).await;
    setup.write(
        "\n[[policy.waivers]]\nid = \"CVE-2026-31004\"\nservice = \"gateway\"\nreason = \"the TLS stack is not reachable\"\nexpires = 2999-12-31",
        &[("v1.0.0", image.digest())],
    );
    let out = setup.plan(&["--format", "json"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let plan = out.json();
    assert_eq!(plan["actions"][0]["kind"], "create", "{plan:#}");
    assert_eq!(
        plan["refusals"].as_array().map(Vec::len),
        Some(0),
        "{plan:#}"
    );
    assert_eq!(
        plan["warnings"].as_array().map(Vec::len),
        Some(0),
        "the waiver was used: {plan:#}"
    );
}

/// Clair's matcher failing: Quay's security API answers 520
/// (`downstream_issue`) for that platform. Nothing is released on a report no
/// one could read — the release is refused `scan-unavailable` naming the
/// platform and the 520 — but the rest of the plan goes on (a scanner outage
/// on one image must not block every release; before, the whole plan stopped
/// with exit 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_matcher_failure_behind_quay_refuses_that_release_scan_unavailable() {
    let Some(setup) = ScanSetup::start().await else {
        return;
    };
    let image = setup
        .image("scan matcher down", Canned::Clean, Canned::MatcherDown)
        .await;
    let answers = setup.wait_for(&image, ["scanned", "HTTP 520"]).await;
    assert_eq!(
        answers[1]["error_type"], "downstream_issue",
        "{}",
        answers[1]
    );
    setup.write("", &[("v1.0.0", image.digest())]);
    let out = setup.plan(&["--format", "json"]).await;
    assert_eq!(out.code, 3, "{out:?}");
    let plan = out.json();
    let refusals = plan["refusals"].as_array().expect("refusals");
    assert_eq!(refusals.len(), 1, "{plan:#}");
    assert_eq!(refusals[0]["code"], "scan-unavailable", "{plan:#}");
    let message = refusals[0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("HTTP 520"), "{plan:#}");
    assert!(message.contains("arm64"), "{plan:#}");
}
