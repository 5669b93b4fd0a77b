//! The vulnerability gate end to end: `quayside plan` against a real
//! `docker-registry` (source and target) and the fake Quay security API,
//! covering each scan status, severities per platform, waivers, the token,
//! rate limits, a registry that is not Quay, and `--strict`.

use crate::quayside::{Outcome, Quayside, repo_root, scratch_copy};
use crate::support::client::anonymous_connector;
use crate::support::images::{TestImage, push, two_platform_image};
use crate::support::quay::{FakeQuay, QuayConfig, Scan};
use crate::support::registry::TestRegistry;
use crate::support::releases::{declared_for, releases_toml_with};
use quayside::digest::Digest;
use quayside::registry::Repository;
use std::collections::HashMap;
use std::sync::Arc;

const TOKEN: &str = "quay-test-token-5f2a9c";

/// A real registry holding `dev/gateway` images, and a scratch folder for
/// `releases.toml`.
struct Bench {
    registry: TestRegistry,
    dir: tempfile::TempDir,
}

impl Bench {
    fn start() -> Self {
        Bench {
            registry: TestRegistry::start(),
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Pushes a two-platform image built from `seed` to `dev/gateway`.
    async fn image(&self, seed: &str) -> TestImage {
        let connector = anonymous_connector();
        let repository: Arc<dyn Repository> =
            connector.open(&self.registry.location("dev/gateway"));
        let image = two_platform_image(seed);
        push(repository.as_ref(), &image, None).await;
        image
    }

    /// Writes `releases.toml` with `policy` lines and `releases`.
    fn write(&self, policy: &str, releases: &[(&str, &Digest)]) {
        let host = self.registry.host();
        let text = releases_toml_with(
            &format!("http://{host}/dev"),
            &format!("http://{host}/prod"),
            &format!("{policy}\n"),
            "key = \"env:COSIGN_PRIVATE_KEY\"\n",
            &declared_for("gateway", releases),
        );
        std::fs::write(self.dir.path().join("releases.toml"), text).expect("write releases.toml");
    }

    /// Runs `quayside plan <args>` off the async runtime (the fake Quay is
    /// served by this test's runtime), with the given `QUAY_API_TOKEN`.
    async fn plan(&self, args: &[&str], token: Option<&str>) -> Outcome {
        let mut command = Quayside::new(self.dir.path())
            .env(
                "DOCKER_CONFIG",
                self.dir.path().join("no-docker").display().to_string(),
            )
            .env(
                "REGISTRY_AUTH_FILE",
                self.dir.path().join("no-auth.json").display().to_string(),
            )
            .args(["plan"])
            .args(args);
        if let Some(token) = token {
            command = command.env("QUAY_API_TOKEN", token);
        }
        tokio::task::spawn_blocking(move || command.run())
            .await
            .expect("the plan run joins")
    }
}

fn quay_api(quay: &FakeQuay) -> String {
    format!("quay_api = \"{}\"", quay.base())
}

fn child(image: &TestImage, n: usize) -> String {
    image.manifests[n].digest.to_string()
}

#[tokio::test]
async fn one_vulnerable_platform_refuses_with_cve_details_in_every_form() {
    let bench = Bench::start();
    let bad = bench.image("bad").await;
    let clean = bench.image("clean").await;
    let scans = HashMap::from([
        (
            child(&bad, 0),
            Scan::Scanned(vec![("CVE-2026-0100", "Low", "zlib", "1.2.13", "")]),
        ),
        (
            child(&bad, 1),
            Scan::Scanned(vec![(
                "CVE-2026-0001",
                "Critical",
                "openssl",
                "3.0.11-1~deb12u1",
                "3.0.11-1~deb12u2",
            )]),
        ),
        (child(&clean, 0), Scan::Scanned(vec![])),
        (child(&clean, 1), Scan::Scanned(vec![])),
    ]);
    let quay = FakeQuay::start(
        QuayConfig {
            token: Some(TOKEN.into()),
            ..QuayConfig::default()
        },
        scans,
    )
    .await;
    bench.write(
        &quay_api(&quay),
        &[("v1.0.0", bad.digest()), ("v1.1.0", clean.digest())],
    );

    let out = bench.plan(&["--format", "json"], Some(TOKEN)).await;
    assert_eq!(out.code, 3, "{out:?}");
    let plan = out.json();
    assert_eq!(plan["summary"]["create"], 1);
    assert_eq!(plan["actions"][0]["tag"], "v1.1.0");
    let refusal = &plan["refusals"][0];
    assert_eq!(refusal["code"], "vulnerable");
    assert_eq!(refusal["tag"], "v1.0.0");
    assert_eq!(refusal["location"]["line"], 14);
    let details = refusal["details"].as_array().unwrap();
    assert_eq!(details.len(), 1, "the low one on amd64 does not block");
    assert_eq!(details[0]["id"], "CVE-2026-0001");
    assert_eq!(details[0]["platform"], "linux/arm64");
    assert_eq!(details[0]["installed"], "3.0.11-1~deb12u1");
    assert_eq!(details[0]["fixed"], "3.0.11-1~deb12u2");
    // Each platform manifest was asked for, the index never (Quay reports
    // indexes `unsupported`).
    let asked = quay.requests();
    assert_eq!(asked.len(), 4, "{asked:?}");
    assert!(asked.iter().all(|r| r.starts_with("dev/gateway@")));
    assert!(!asked.iter().any(|r| r.ends_with(bad.digest().as_str())));
    assert!(!out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN));

    let text = bench.plan(&[], Some(TOKEN)).await;
    assert_eq!(text.code, 3, "{text:?}");
    assert!(
        text.stdout.contains(
            "= CVE-2026-0001 (critical) openssl 3.0.11-1~deb12u1, fixed in 3.0.11-1~deb12u2, on linux/arm64"
        ),
        "{text:?}"
    );
    assert!(text.stdout.contains("error[vulnerable]: gateway v1.0.0"));
    let markdown = bench.plan(&["--format", "markdown"], Some(TOKEN)).await;
    assert!(
        markdown.stdout.contains(
            "  - CVE-2026-0001 (critical) openssl 3.0.11-1~deb12u1, fixed in 3.0.11-1~deb12u2, on linux/arm64"
        ),
        "{markdown:?}"
    );
}

#[tokio::test]
async fn queued_failed_unsupported_and_absent_scans_refuse_scan_unavailable() {
    let bench = Bench::start();
    let images = [
        bench.image("queued").await,
        bench.image("failed").await,
        bench.image("unsupported").await,
        bench.image("absent").await,
    ];
    let mut scans = HashMap::new();
    for (image, scan) in images
        .iter()
        .zip([Scan::Queued, Scan::Failed, Scan::Unsupported])
    {
        scans.insert(child(image, 0), Scan::Scanned(vec![]));
        scans.insert(child(image, 1), scan);
    }
    // `absent`: Quay knows neither platform (404).
    let quay = FakeQuay::start(QuayConfig::default(), scans).await;
    bench.write(
        &quay_api(&quay),
        &[
            ("v1.0.0", images[0].digest()),
            ("v1.1.0", images[1].digest()),
            ("v1.2.0", images[2].digest()),
            ("v1.3.0", images[3].digest()),
        ],
    );
    let out = bench.plan(&["--format", "json"], None).await;
    assert_eq!(out.code, 3, "{out:?}");
    let plan = out.json();
    assert_eq!(plan["summary"]["create"], 0);
    let refusals = plan["refusals"].as_array().unwrap();
    assert_eq!(refusals.len(), 4);
    for (refusal, word) in refusals
        .iter()
        .zip(["queued", "failed", "unsupported", "HTTP 404"])
    {
        assert_eq!(refusal["code"], "scan-unavailable", "{refusal}");
        let message = refusal["message"].as_str().unwrap();
        assert!(message.contains(word), "{message}");
        assert!(message.contains("linux/arm64"), "{message}");
    }
}

#[tokio::test]
async fn waivers_active_expired_and_unused_and_strict() {
    let bench = Bench::start();
    let waived = bench.image("waived").await;
    let expired = bench.image("expired").await;
    let high = |id| Scan::Scanned(vec![(id, "High", "libxml2", "2.9.14", "2.9.14+dfsg-1.3")]);
    let scans = HashMap::from([
        (child(&waived, 0), high("CVE-2026-0201")),
        (child(&waived, 1), high("CVE-2026-0201")),
        (child(&expired, 0), Scan::Scanned(vec![])),
        (child(&expired, 1), high("CVE-2026-0202")),
    ]);
    let quay = FakeQuay::start(QuayConfig::default(), scans).await;
    let policy = format!(
        "{}\n\n[[policy.waivers]]\nid = \"CVE-2026-0201\"\nservice = \"gateway\"\nreason = \"parser not reachable\"\nexpires = 2999-12-31\n\n[[policy.waivers]]\nid = \"CVE-2026-0202\"\nreason = \"was accepted\"\nexpires = 2020-01-01\n\n[[policy.waivers]]\nid = \"CVE-1999-0001\"\nreason = \"left over\"",
        quay_api(&quay)
    );
    bench.write(
        &policy,
        &[("v1.0.0", waived.digest()), ("v1.1.0", expired.digest())],
    );
    let out = bench.plan(&["--format", "json"], None).await;
    assert_eq!(out.code, 3, "{out:?}");
    let plan = out.json();
    assert_eq!(
        plan["actions"][0]["tag"], "v1.0.0",
        "the active waiver lets it pass"
    );
    assert_eq!(plan["actions"][0]["kind"], "create");
    let refusal = &plan["refusals"][0];
    assert_eq!(refusal["code"], "vulnerable");
    assert!(
        refusal["message"]
            .as_str()
            .unwrap()
            .contains("CVE-2026-0202 expired on 2020-01-01"),
        "{refusal}"
    );
    assert_eq!(refusal["details"][0]["waiver_expired"], "2020-01-01");
    let warnings = plan["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["code"], "unused-waiver");
    assert!(
        warnings[0]["message"]
            .as_str()
            .unwrap()
            .contains("CVE-1999-0001")
    );
    assert!(warnings[0]["location"]["line"].as_u64().unwrap() > 13);

    // Only the unused waiver left to complain about: a warning, or with
    // --strict a refusal under the same code.
    bench.write(&policy, &[("v1.0.0", waived.digest())]);
    let relaxed = bench.plan(&["--format", "json"], None).await;
    assert_eq!(relaxed.code, 0, "{relaxed:?}");
    let strict = bench.plan(&["--format", "json", "--strict"], None).await;
    assert_eq!(strict.code, 3, "{strict:?}");
    let plan = strict.json();
    assert_eq!(plan["refusals"][0]["code"], "unused-waiver");
    assert_eq!(plan["summary"]["warnings"], 0);
}

#[tokio::test]
async fn a_refused_token_is_an_error_that_never_shows_it() {
    let bench = Bench::start();
    let image = bench.image("token").await;
    let scans = HashMap::from([
        (child(&image, 0), Scan::Scanned(vec![])),
        (child(&image, 1), Scan::Scanned(vec![])),
    ]);
    let quay = FakeQuay::start(
        QuayConfig {
            token: Some(TOKEN.into()),
            ..QuayConfig::default()
        },
        scans,
    )
    .await;
    bench.write(&quay_api(&quay), &[("v1.0.0", image.digest())]);
    let wrong = "wrong-secret-token-771";
    let out = bench.plan(&[], Some(wrong)).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("HTTP 401"), "{out:?}");
    assert!(out.stderr.contains("QUAY_API_TOKEN"), "{out:?}");
    assert!(!out.stderr.contains(wrong) && !out.stdout.contains(wrong));
    let anonymous = bench.plan(&[], None).await;
    assert_eq!(anonymous.code, 1, "{anonymous:?}");
    assert!(anonymous.stderr.contains("anonymous"), "{anonymous:?}");
    let good = bench.plan(&["-vv"], Some(TOKEN)).await;
    assert_eq!(good.code, 0, "{good:?}");
    assert!(!good.stderr.contains(TOKEN) && !good.stdout.contains(TOKEN));
}

#[tokio::test]
async fn rate_limits_are_retried_then_reported() {
    let bench = Bench::start();
    let image = bench.image("limited").await;
    let scans = HashMap::from([
        (child(&image, 0), Scan::Scanned(vec![])),
        (child(&image, 1), Scan::Scanned(vec![])),
    ]);
    let quay = FakeQuay::start(
        QuayConfig {
            rate_limited_first: 3,
            ..QuayConfig::default()
        },
        scans.clone(),
    )
    .await;
    bench.write(&quay_api(&quay), &[("v1.0.0", image.digest())]);
    let out = bench.plan(&[], None).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(quay.count.load(std::sync::atomic::Ordering::SeqCst), 5);

    let limited = FakeQuay::start(
        QuayConfig {
            always_429: true,
            ..QuayConfig::default()
        },
        scans,
    )
    .await;
    bench.write(&quay_api(&limited), &[("v1.0.0", image.digest())]);
    let out = bench.plan(&[], None).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("HTTP 429"), "{out:?}");
    assert!(out.stderr.contains("rate limiting"), "{out:?}");
}

#[tokio::test]
async fn a_registry_that_is_not_quay_refuses_until_scanning_is_off() {
    let bench = Bench::start();
    let image = bench.image("plain").await;
    // No quay_api: the gate asks the source registry itself, a plain
    // docker-registry without Quay's API.
    bench.write("", &[("v1.0.0", image.digest())]);
    let out = bench.plan(&["--format", "json"], None).await;
    assert_eq!(out.code, 3, "{out:?}");
    let plan = out.json();
    let refusal = &plan["refusals"][0];
    assert_eq!(refusal["code"], "scan-unavailable");
    let message = refusal["message"].as_str().unwrap();
    assert!(
        message.contains("vulnerability_source = \"none\""),
        "{message}"
    );
    assert!(message.contains(&bench.registry.host()), "{message}");

    bench.write(
        "vulnerability_source = \"none\"",
        &[("v1.0.0", image.digest())],
    );
    let out = bench.plan(&["--format", "json"], None).await;
    assert_eq!(out.code, 0, "{out:?}");
    let plan = out.json();
    assert_eq!(plan["actions"][0]["kind"], "create");
    assert_eq!(plan["warnings"][0]["code"], "scan-disabled");
    let strict = bench.plan(&["--strict"], None).await;
    assert_eq!(strict.code, 3, "{strict:?}");
    assert!(strict.stdout.contains("error[scan-disabled]"), "{strict:?}");
}

#[test]
fn an_oci_layout_source_with_the_default_quay_source_is_refused() {
    let dir = scratch_copy(&repo_root().join("examples/quickstart"));
    let file = dir.path().join("releases.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("vulnerability_source = \"none\"", "")).unwrap();
    let out = Quayside::new(dir.path())
        .args(["plan", "--format", "json"])
        .run();
    assert_eq!(out.code, 3, "{out:?}");
    let plan = out.json();
    let refusals = plan["refusals"].as_array().unwrap();
    assert_eq!(refusals.len(), 2, "both creates: {refusals:?}");
    for refusal in refusals {
        assert_eq!(refusal["code"], "scan-unavailable");
        assert!(refusal["message"].as_str().unwrap().contains("OCI layout"));
    }
    assert_eq!(plan["summary"]["unchanged"], 1);
}
