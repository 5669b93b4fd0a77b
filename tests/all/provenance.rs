//! Promotion provenance (issue 17, item 3): each release `apply` creates
//! gets an in-toto attestation (predicate `https://quayside.dev/promotion/v1`)
//! signed with the release key, attached beside the bundle signature before
//! the tag: in the fallback index on CNCF distribution, as a referrer on the
//! real Quay. Its predicate names the commit `git rev-parse HEAD` gives, the
//! source and the target; sigstore-js verifies it independently; `verify`
//! shows it; `verify --strict` fails on a release without one (a tag that
//! existed before, a legacy-only signature) and on a stranger's attestation.

use crate::quayside::Outcome;
use crate::support::git::git;
use crate::support::images::push_single;
use crate::support::promotion::Promotion;
use crate::support::proxy::Proxy;
use crate::support::quay_promotion::{Credentials, QuayPromotion, require_formats};
use crate::support::releases::{
    DEMO_KEY, DEMO_PUBLIC_KEY, NO_SCANNING, ServiceReleases, signing_lines,
};
use crate::support::verifiers::{sigstore_js, sigstore_js_verifies_promotion};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use quayside::digest::Digest;
use quayside::registry::{ManifestRef, Repository};
use quayside::signing::SigningKey;
use quayside::signing::bundles::{Wanted, attach, read_bundles};
use quayside::signing::provenance::{
    PROMOTION_PREDICATE_TYPE, PlanDigest, Promoter, Promotion as Promoted, ReleasesFile,
    SourceImage, TargetTag, attest,
};
use quayside::signing::referrer::bundle_manifest;
use quayside::signing::store::SharedConfig;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const PREDICATE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";
const BOTH: &str = r#"["legacy", "bundle"]"#;

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("JSON")
}

/// `releases.toml` in the promotion's folder with `signing.formats`.
fn write_releases(promotion: &Promotion, services: &[ServiceReleases], formats: &str) {
    let signing = signing_lines(DEMO_KEY, DEMO_PUBLIC_KEY);
    promotion.write_releases_with(
        "prod",
        services,
        NO_SCANNING,
        &format!("{signing}formats = {formats}\n"),
    );
}

/// Makes `dir` a git repository with `releases.toml` committed; the commit.
fn commit_releases(dir: &Path) -> String {
    git(dir, &["init", "-q"]);
    git(dir, &["add", "releases.toml"]);
    git(dir, &["commit", "-q", "-m", "release"]);
    git(dir, &["rev-parse", "HEAD"])
}

/// The promotion attestations an index (the fallback tag or the referrers
/// API's answer) lists for `subject`, read through `repository`: each
/// entry's and manifest's shape checked, the bundle blob returned.
async fn attestations_in(
    repository: &dyn Repository,
    index: &[u8],
    subject: &Digest,
) -> Vec<Bytes> {
    let mut found = Vec::new();
    for entry in json(index)["manifests"].as_array().expect("manifests") {
        if entry["annotations"][PREDICATE_ANNOTATION] != PROMOTION_PREDICATE_TYPE {
            continue;
        }
        assert_eq!(entry["artifactType"], BUNDLE, "{entry}");
        assert_eq!(
            entry["annotations"]["dev.sigstore.bundle.content"],
            "dsse-envelope"
        );
        let digest = Digest::parse(entry["digest"].as_str().unwrap()).unwrap();
        let manifest = repository
            .get_manifest(ManifestRef::Digest(&digest))
            .await
            .unwrap()
            .expect("the attestation's manifest");
        let doc = json(&manifest.bytes);
        assert_eq!(doc["artifactType"], BUNDLE);
        assert_eq!(doc["subject"]["digest"], subject.as_str());
        assert_eq!(
            doc["annotations"][PREDICATE_ANNOTATION],
            PROMOTION_PREDICATE_TYPE
        );
        let layer = Digest::parse(doc["layers"][0]["digest"].as_str().unwrap()).unwrap();
        found.push(repository.get_small_blob(&layer, 1 << 20).await.unwrap());
    }
    found
}

/// The in-toto statement inside an attestation (read, not verified: the
/// verifiers do that).
fn statement_of(attestation: &[u8]) -> Value {
    let bundle = json(attestation);
    let payload = BASE64
        .decode(bundle["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    json(&payload)
}

/// What a promotion of `digest` from `source` to `target:tag` at `commit`
/// must say.
fn assert_promotion(
    statement: &Value,
    digest: &Digest,
    source: &str,
    target: &str,
    commit: Option<&str>,
) {
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(statement["predicateType"], PROMOTION_PREDICATE_TYPE);
    assert_eq!(statement["subject"][0]["digest"]["sha256"], digest.hex());
    assert_eq!(statement["subject"][0]["name"], target);
    let predicate = &statement["predicate"];
    assert_eq!(predicate["source"]["repository"], source, "{statement}");
    assert_eq!(predicate["source"]["digest"], digest.as_str());
    assert_eq!(predicate["target"]["repository"], target);
    assert_eq!(predicate["releasesFile"]["path"], "releases.toml");
    assert_eq!(predicate["releasesFile"]["commit"].as_str(), commit);
    assert!(Digest::parse(predicate["plan"]["digest"].as_str().unwrap()).is_ok());
    assert_eq!(predicate["plan"]["saved"], false);
    let at = predicate["promotedAt"].as_str().unwrap();
    assert!(
        at.len() == 20 && at.ends_with('Z') && at.as_bytes()[10] == b'T',
        "{at}"
    );
    assert_eq!(predicate["promoter"]["name"], "quayside");
    assert_eq!(predicate["promoter"]["version"], env!("CARGO_PKG_VERSION"));
}

/// sigstore-js accepts `attestation` with the demo key for this commit and
/// tag, and refuses it for a stranger's key, another commit or another tag.
fn independently_verified(
    node_modules: &Path,
    attestation: &[u8],
    demo_pem: &str,
    digest: &Digest,
    commit: &str,
    tag: &str,
) {
    sigstore_js_verifies_promotion(node_modules, attestation, demo_pem, digest, commit, tag)
        .unwrap_or_else(|said| panic!("sigstore-js refused the attestation of {tag}: {said}"));
    let stranger = SigningKey::generate()
        .unwrap()
        .public_key()
        .to_pem()
        .unwrap();
    let other_commit = "0".repeat(40);
    for (key, commit, tag) in [
        (stranger.as_str(), commit, tag),
        (demo_pem, other_commit.as_str(), tag),
        (demo_pem, commit, "v9.9.9"),
    ] {
        let said =
            sigstore_js_verifies_promotion(node_modules, attestation, key, digest, commit, tag);
        assert!(said.is_err(), "verified for {commit} {tag}: {said:?}");
    }
}

/// `stdout` (of `verify`) holds the release's ok line with the promotion
/// under it: from `source`@`digest`, at `commit`.
fn assert_shows_promotion(
    stdout: &str,
    release: &str,
    signed: &str,
    source: &str,
    digest: &Digest,
    commit: &str,
) {
    assert!(
        stdout.contains(&format!(
            "{release}  ok          legacy+bundle {signed}\n    provenance  promoted "
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            " from {source}@{digest} at commit {commit} (releases.toml), plan sha256:"
        )),
        "{stdout}"
    );
}

/// `verify --strict` failed notifier v0.9.0 (in `target`) for want of a
/// provenance attestation, naming the release, why the ones found were
/// `rejected` (the words, or empty) and what to do.
fn assert_unattested(strict: &Outcome, target: &str, rejected: &str) {
    assert_eq!(strict.code, 3, "{strict:?}");
    assert!(
        strict.stdout.contains(&format!(
            "{target}:v0.9.0  UNATTESTED  notifier v0.9.0 is signed (legacy+bundle) but has no valid provenance attestation{rejected}; --strict requires one, and apply attests a release only when it creates the tag (never later): promote the image under a new tag"
        )),
        "{strict:?}"
    );
}

fn remove_tag(storage: &Path, repository: &str, tag: &str) {
    let dir = storage
        .join("docker/registry/v2/repositories")
        .join(repository)
        .join("_manifests/tags")
        .join(tag);
    std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("remove {}: {e}", dir.display()));
}

/// A promotion of `digest` to `target:tag` signed by `key`, attached to
/// `digest` in `repository` by the test (as another tool, or an attacker
/// with write access, could).
async fn attach_attestation(
    repository: &dyn Repository,
    digest: &Digest,
    target: &str,
    tag: &str,
    key: &SigningKey,
) -> Bytes {
    let promotion = Promoted {
        source: SourceImage {
            repository: "elsewhere.example/dev/notifier".into(),
            digest: digest.clone(),
        },
        target: TargetTag {
            repository: target.into(),
            tag: tag.into(),
        },
        releases_file: ReleasesFile {
            path: "releases.toml".into(),
            commit: Some("f".repeat(40)),
        },
        plan: PlanDigest {
            digest: Digest::of_bytes(b"no such plan"),
            saved: false,
        },
        promoted_at: "2026-01-01T00:00:00Z".into(),
        promoter: Promoter::this_build(),
    };
    let bundle = Bytes::from(attest(key, "test", &promotion).unwrap());
    let root = repository
        .get_manifest(ManifestRef::Digest(digest))
        .await
        .unwrap()
        .expect("the image");
    let referrer = bundle_manifest(
        &root,
        bundle.clone(),
        PROMOTION_PREDICATE_TYPE,
        "2026-01-01T00:00:00Z",
    )
    .unwrap();
    let mut stored = read_bundles(repository, digest, Wanted::SignaturesAndProvenance)
        .await
        .unwrap();
    attach(
        repository,
        digest,
        &[referrer],
        &mut stored,
        &SharedConfig::default(),
    )
    .await
    .unwrap();
    bundle
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distribution_attests_each_created_release_with_the_commit_apply_ran_at() {
    let node_modules = sigstore_js();
    let promotion = Promotion::start().await;
    let gateway = promotion
        .push_two_platform("gateway", "provenance gateway")
        .await;
    let notifier = promotion
        .push_single("notifier", "provenance notifier")
        .await;
    // A release tag already in prod before quayside ran (pushed by hand).
    let prod_notifier = promotion.direct("prod", "notifier");
    let old = push_single(prod_notifier.as_ref(), "provenance old notifier", "v0.9.0").await;
    let services = [
        ServiceReleases::new(
            "gateway",
            &[
                ("v1.0.0-rc1", gateway.digest()),
                ("v1.0.0", gateway.digest()),
            ],
        ),
        ServiceReleases::new("notifier", &[("v0.9.0", &old), ("v2.0.0", &notifier)]),
    ];
    write_releases(&promotion, &services, BOTH);
    let head = commit_releases(promotion.dir.path());
    let apply = promotion.run(["apply"]).await;
    assert_eq!(apply.code, 0, "{apply:?}");

    let demo_pem = promotion.demo_public_key().to_pem().unwrap();
    let host = promotion.host();
    // Each created release has its attestation, the rc and its final too
    // (one image, two tags); the release that existed before has none.
    for (service, digest, tags) in [
        ("gateway", gateway.digest(), vec!["v1.0.0-rc1", "v1.0.0"]),
        ("notifier", &notifier, vec!["v2.0.0"]),
        ("notifier", &old, vec![]),
    ] {
        let prod = promotion.direct("prod", service);
        let index = prod
            .get_manifest(ManifestRef::Tag(&format!("sha256-{}", digest.hex())))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{service}: no fallback index for {digest}"));
        let found = attestations_in(prod.as_ref(), &index.bytes, digest).await;
        let target = promotion.identity("prod", service);
        let mut attested = BTreeSet::new();
        for attestation in &found {
            let statement = statement_of(attestation);
            let source = format!("{host}/dev/{service}");
            assert_promotion(&statement, digest, &source, &target, Some(&head));
            let tag = statement["predicate"]["target"]["tag"].as_str().unwrap();
            attested.insert(tag.to_string());
            if let Some(node_modules) = &node_modules {
                independently_verified(node_modules, attestation, &demo_pem, digest, &head, tag);
            }
        }
        let expected: BTreeSet<String> = tags.iter().map(|t| t.to_string()).collect();
        assert_eq!(attested, expected, "{service} {digest}");
        assert_eq!(found.len(), tags.len(), "one attestation per release");
    }

    let verify = promotion.run(["verify"]).await;
    assert_eq!(verify.code, 0, "{verify:?}");
    assert_eq!(
        verify.stdout.matches("    provenance  promoted ").count(),
        3,
        "{verify:?}"
    );
    let gateway_target = promotion.identity("prod", "gateway");
    assert_shows_promotion(
        &verify.stdout,
        &format!("{gateway_target}:v1.0.0"),
        "3 signed manifests",
        &format!("{host}/dev/gateway"),
        gateway.digest(),
        &head,
    );

    let notifier_target = promotion.identity("prod", "notifier");
    let strict = promotion.run(["verify", "--strict"]).await;
    assert_unattested(&strict, &notifier_target, "");
    assert!(
        strict
            .stdout
            .contains("4 releases checked, 3 verified, 1 failing."),
        "{strict:?}"
    );

    // A rerun after a crash between the attestation and the tag (the tag
    // gone, everything attached to the image still there) adds no second
    // attestation: the fallback index is not even rewritten.
    let fallback = format!("sha256-{}", notifier.hex());
    let before = prod_notifier
        .get_manifest(ManifestRef::Tag(&fallback))
        .await
        .unwrap()
        .unwrap();
    remove_tag(&promotion.registry.storage(), "prod/notifier", "v2.0.0");
    let rerun = promotion.run(["apply"]).await;
    assert_eq!(rerun.code, 0, "{rerun:?}");
    let after = prod_notifier
        .get_manifest(ManifestRef::Tag(&fallback))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.digest, before.digest, "no attestation added");
    let strict = promotion.run(["verify", "--strict"]).await;
    assert!(
        strict
            .stdout
            .contains(&format!("{notifier_target}:v2.0.0  ok ")),
        "{strict:?}"
    );

    // A stranger's attestation of v0.9.0, and ours of another tag, do not
    // make it attested; sigstore-js refuses the stranger's too.
    let stranger = SigningKey::generate().unwrap();
    let demo = SigningKey::from_pem(
        &std::fs::read(promotion.dir.path().join(DEMO_KEY)).unwrap(),
        None,
    )
    .unwrap();
    let forged = attach_attestation(
        prod_notifier.as_ref(),
        &old,
        &notifier_target,
        "v0.9.0",
        &stranger,
    )
    .await;
    attach_attestation(
        prod_notifier.as_ref(),
        &old,
        &notifier_target,
        "v0.8.0",
        &demo,
    )
    .await;
    if let Some(node_modules) = &node_modules {
        let said = sigstore_js_verifies_promotion(
            node_modules,
            &forged,
            &demo_pem,
            &old,
            &"f".repeat(40),
            "v0.9.0",
        );
        assert!(said.is_err(), "a stranger's attestation verified: {said:?}");
    }
    let strict = promotion.run(["verify", "--strict"]).await;
    let rejected = format!(
        " (2 rejected: no signature in the bundle verifies with the public key; it records the promotion to {notifier_target}:v0.8.0, another release)"
    );
    assert_unattested(&strict, &notifier_target, &rejected);
    let verify = promotion.run(["verify"]).await;
    assert_eq!(verify.code, 0, "not required without --strict: {verify:?}");
    assert!(
        verify.stdout.contains(&format!(
            "{notifier_target}:v0.9.0  ok          legacy+bundle 1 signed manifest\n    provenance  no valid attestation (2 rejected: "
        )),
        "{verify:?}"
    );

    // Nothing to do again: no attestation is added to what exists.
    promotion.proxy.reset();
    let again = promotion.run(["apply"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("Nothing to do."), "{again:?}");
    assert_eq!(promotion.proxy.counts().writes(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_verify_refuses_a_legacy_only_release_without_provenance() {
    let promotion = Promotion::start().await;
    let notifier = promotion
        .push_single("notifier", "legacy only notifier")
        .await;
    let services = [ServiceReleases::new("notifier", &[("v1.0.0", &notifier)])];
    write_releases(&promotion, &services, r#"["legacy"]"#);
    commit_releases(promotion.dir.path());
    let apply = promotion.run(["apply"]).await;
    assert_eq!(apply.code, 0, "{apply:?}");
    // No bundle format, no bundles: neither a signature nor an attestation.
    let prod = promotion.direct("prod", "notifier");
    let fallback = format!("sha256-{}", notifier.hex());
    assert_eq!(prod.resolve_tag(&fallback).await.unwrap(), None);

    let verify = promotion.run(["verify"]).await;
    assert_eq!(verify.code, 0, "{verify:?}");
    let strict = promotion.run(["verify", "--strict"]).await;
    assert_eq!(strict.code, 3, "{strict:?}");
    let target = promotion.identity("prod", "notifier");
    assert!(
        strict.stdout.contains(&format!(
            "{target}:v1.0.0  UNSIGNED    no valid bundle signature (signed as legacy only); --strict requires every format: list bundle in signing.formats and run quayside apply\n    provenance  MISSING     no valid attestation\n"
        )),
        "{strict:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quay_attaches_the_attestation_as_a_referrer_and_strict_verify_passes() {
    let Some((promotion, gateway)) = QuayPromotion::one_release("quay provenance 1", BOTH).await
    else {
        return;
    };
    let node_modules = sigstore_js();
    let digest = gateway.digest();
    let head = commit_releases(promotion.dir.path());
    let apply = promotion.run(["apply"]).await;
    assert_eq!(apply.code, 0, "{apply:?}");

    let prod = promotion.target("gateway");
    let index = prod
        .referrers(digest)
        .await
        .unwrap()
        .expect("Quay has the referrers API");
    let found = attestations_in(prod.as_ref(), &index, digest).await;
    assert_eq!(found.len(), 1, "{}", String::from_utf8_lossy(&index));
    let source = format!("{}/{}/gateway", promotion.quay.host(), promotion.source_org);
    let target = promotion.identity("gateway");
    assert_promotion(
        &statement_of(&found[0]),
        digest,
        &source,
        &target,
        Some(&head),
    );
    assert_eq!(
        prod.resolve_tag(&format!("sha256-{}", digest.hex()))
            .await
            .unwrap(),
        None,
        "no fallback tag on Quay"
    );
    if let Some(node_modules) = &node_modules {
        let demo_pem = promotion.demo_public_key().to_pem().unwrap();
        independently_verified(node_modules, &found[0], &demo_pem, digest, &head, "v1.0.0");
    }

    let strict = promotion.run(["verify", "--strict"]).await;
    assert_eq!(strict.code, 0, "{strict:?}");
    assert_shows_promotion(
        &strict.stdout,
        &format!("{target}:v1.0.0"),
        "3 signed manifests",
        &source,
        digest,
        &head,
    );
    let again = promotion.run(["apply"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("Nothing to do."), "{again:?}");
}

/// What the bundle signature and the attestation cost on the real Quay
/// (referrers API, no fallback tag), counted by a proxy in front of it, for
/// one two-platform image: each bundle is one blob upload (Quay takes the
/// monolithic POST) and one manifest put by digest; the empty config is
/// uploaded once for both. The attestation's own share: 2 requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quay_attests_with_one_blob_upload_and_one_manifest_put() {
    let Some(mut quay) = QuayPromotion::start(&["gateway"], Credentials::OneForBoth).await else {
        return;
    };
    let proxy = Proxy::start(&quay.quay.host()).await;
    quay.admin_credentials_for(&[proxy.host()]);
    let gateway = quay
        .push_two_platform("gateway", "quay provenance cost")
        .await;
    let target_org = quay.target_org.clone();
    let file = quay.write_releases_at(
        "releases.toml",
        &proxy.host(),
        &target_org,
        &[ServiceReleases::new(
            "gateway",
            &[("v1.0.0", gateway.digest())],
        )],
    );
    require_formats(&file, BOTH);
    proxy.reset();
    let apply = quay.run(["apply"]).await;
    assert_eq!(apply.code, 0, "{apply:?}");
    let kinds = proxy.kinds();
    eprintln!("apply of one two-platform image with both formats on Quay:\n{kinds:#?}");
    // Root and two children, the signature bundle's and the attestation's
    // referrer manifests.
    assert_eq!(
        kinds.get("PUT manifest by digest"),
        Some(&(3 + 2)),
        "{kinds:#?}"
    );
    // Three legacy payloads, the shared signature config, the empty
    // config, the signature bundle and the attestation.
    assert_eq!(
        kinds.get("POST blob upload start"),
        Some(&(3 + 1 + 3)),
        "{kinds:#?}"
    );
    assert_eq!(
        kinds.get("PUT manifest by tag"),
        Some(&1),
        "the release tag only"
    );
}
