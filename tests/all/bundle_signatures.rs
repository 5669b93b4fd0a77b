//! Sigstore bundle signatures (cosign v3's format) beside the legacy `.sig`
//! tag: on CNCF distribution (no referrers API) apply keeps the fallback
//! index tag `sha256-<hex>` with `artifactType` and annotations on its
//! entries; on the real Quay it attaches the bundle as a referrer and puts no
//! such tag. sigstore-js, not quayside, verifies each bundle with the public
//! key; a stranger's key is refused. Removing one format makes the plan
//! `sign` the release when that format is required, and not when it is not;
//! a second apply writes nothing.

use crate::support::promotion::Promotion;
use crate::support::quay_promotion::QuayPromotion;
use crate::support::releases::{
    DEMO_KEY, DEMO_PUBLIC_KEY, NO_SCANNING, ServiceReleases, signing_lines,
};
use crate::support::verifiers::{sigstore_js, sigstore_js_verifies};
use bytes::Bytes;
use quayside::digest::Digest;
use quayside::registry::{ManifestRef, Repository};
use quayside::signing::SigningKey;
use reqwest::Method;
use serde_json::Value;
use std::path::Path;

const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// Both formats, written out (the default since issue 17).
const BOTH: &str = r#"["legacy", "bundle"]"#;

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("JSON")
}

/// The referrer manifest's checks and its bundle blob: an OCI artifact with
/// the empty config, one bundle layer, `subject` = `digest`.
async fn bundle_of(repository: &dyn Repository, referrer: &Digest, subject: &Digest) -> Bytes {
    let manifest = repository
        .get_manifest(ManifestRef::Digest(referrer))
        .await
        .expect("read the referrer")
        .expect("the referrer manifest exists");
    let doc = json(&manifest.bytes);
    assert_eq!(doc["artifactType"], BUNDLE, "{doc}");
    assert_eq!(
        doc["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    assert_eq!(doc["subject"]["digest"], subject.as_str());
    assert_eq!(
        doc["annotations"]["dev.sigstore.bundle.content"],
        "dsse-envelope"
    );
    assert_eq!(
        doc["annotations"]["dev.sigstore.bundle.predicateType"],
        "https://sigstore.dev/cosign/sign/v1"
    );
    let layers = doc["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "{doc}");
    assert_eq!(layers[0]["mediaType"], BUNDLE);
    let layer = Digest::parse(layers[0]["digest"].as_str().unwrap()).unwrap();
    repository
        .get_small_blob(&layer, 1 << 20)
        .await
        .expect("the bundle blob")
}

/// The one bundle signature referrer listed in an index (API answer or
/// fallback tag), after checking that its entry carries `artifactType` and
/// annotations. (The promotion attestation beside it is a bundle too, told
/// apart by its predicate type: `provenance.rs` checks it.)
fn only_bundle_entry(index: &[u8]) -> Digest {
    let doc = json(index);
    let entries: Vec<&Value> = doc["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .filter(|entry| {
            entry["artifactType"] == BUNDLE
                && entry["annotations"]["dev.sigstore.bundle.predicateType"]
                    != quayside::signing::provenance::PROMOTION_PREDICATE_TYPE
        })
        .collect();
    assert_eq!(entries.len(), 1, "one bundle referrer: {doc}");
    assert_eq!(
        entries[0]["annotations"]["dev.sigstore.bundle.content"], "dsse-envelope",
        "{doc}"
    );
    Digest::parse(entries[0]["digest"].as_str().unwrap()).unwrap()
}

/// sigstore-js accepts `bundle` for `digest` with the demo key and refuses it
/// with a stranger's.
fn independently_verified(node_modules: &Path, bundle: &[u8], demo_pem: &str, digest: &Digest) {
    sigstore_js_verifies(node_modules, bundle, demo_pem, digest)
        .unwrap_or_else(|said| panic!("sigstore-js refused the bundle of {digest}: {said}"));
    let stranger = SigningKey::generate()
        .unwrap()
        .public_key()
        .to_pem()
        .unwrap();
    assert!(
        sigstore_js_verifies(node_modules, bundle, &stranger, digest).is_err(),
        "another key must not verify"
    );
    assert!(
        sigstore_js_verifies(node_modules, bundle, demo_pem, &Digest::of_bytes(b"other")).is_err(),
        "the bundle is about {digest} only"
    );
}

/// `releases.toml` as [`Promotion::write_releases`] writes it, with
/// `signing.formats = <formats>`.
fn require_formats(promotion: &Promotion, services: &[ServiceReleases], formats: &str) {
    let signing = signing_lines(DEMO_KEY, DEMO_PUBLIC_KEY);
    promotion.write_releases_with(
        "prod",
        services,
        NO_SCANNING,
        &format!("{signing}formats = {formats}\n"),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distribution_gets_both_formats_through_the_fallback_tag() {
    let node_modules = sigstore_js();
    let promotion = Promotion::start().await;
    let gateway = promotion.push_two_platform("gateway", "gateway 1").await;
    let notifier = promotion.push_single("notifier", "notifier 1").await;
    let services = [
        ServiceReleases::new("gateway", &[("v1.0.0", gateway.digest())]),
        ServiceReleases::new("notifier", &[("v1.0.0", &notifier)]),
    ];
    require_formats(&promotion, &services, BOTH);
    let apply = promotion.run(["apply"]).await;
    assert_eq!(apply.code, 0, "{apply:?}");

    let demo_pem = promotion.demo_public_key().to_pem().unwrap();
    for (service, digest) in [("gateway", gateway.digest()), ("notifier", &notifier)] {
        let prod = promotion.direct("prod", service);
        assert_eq!(
            prod.referrers(digest).await.unwrap(),
            None,
            "no referrers API"
        );
        let fallback = format!("sha256-{}", digest.hex());
        let index = prod
            .get_manifest(ManifestRef::Tag(&fallback))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{service}: no fallback tag {fallback}"));
        let referrer = only_bundle_entry(&index.bytes);
        let bundle = bundle_of(prod.as_ref(), &referrer, digest).await;
        assert!(
            prod.resolve_tag(&digest.signature_tag())
                .await
                .unwrap()
                .is_some()
        );
        if let Some(node_modules) = &node_modules {
            independently_verified(node_modules, &bundle, &demo_pem, digest);
        }
    }

    let verify = promotion.run(["verify"]).await;
    assert_eq!(verify.code, 0, "{verify:?}");
    assert_eq!(
        verify.stdout.matches("ok          legacy+bundle ").count(),
        2,
        "{verify:?}"
    );

    // A second apply writes nothing.
    promotion.proxy.reset();
    let storage = promotion.storage_hash();
    let again = promotion.run(["apply"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("Nothing to do."), "{again:?}");
    assert_eq!(promotion.proxy.counts().writes(), 0);
    assert_eq!(promotion.storage_hash(), storage);

    // Without the bundle, the release needs signing again, and only it.
    let fallback = format!("sha256-{}", notifier.hex());
    remove_tag(&promotion.registry.storage(), "prod/notifier", &fallback);
    let plan = promotion.run(["plan", "--detailed-exitcode"]).await;
    assert_eq!(plan.code, 2, "{plan:?}");
    assert_eq!(plan.stdout.matches(" sign ").count(), 1, "{plan:?}");
    let verify = promotion.run(["verify"]).await;
    assert_ne!(verify.code, 0, "{verify:?}");
    assert!(
        verify
            .stdout
            .contains("no valid bundle signature (signed as legacy only)"),
        "{verify:?}"
    );
    // Not required, not missed.
    require_formats(&promotion, &services, "[\"legacy\"]");
    let plan = promotion.run(["plan", "--detailed-exitcode"]).await;
    assert_eq!(plan.code, 0, "legacy only is required: {plan:?}");

    // Both again: apply adds the bundle back; then the legacy signature goes.
    require_formats(&promotion, &services, BOTH);
    let apply = promotion.run(["apply"]).await;
    assert_eq!(apply.code, 0, "{apply:?}");
    let plan = promotion.run(["plan", "--detailed-exitcode"]).await;
    assert_eq!(plan.code, 0, "{plan:?}");
    remove_tag(
        &promotion.registry.storage(),
        "prod/notifier",
        &notifier.signature_tag(),
    );
    let plan = promotion.run(["plan", "--detailed-exitcode"]).await;
    assert_eq!(plan.code, 2, "{plan:?}");
    assert_eq!(plan.stdout.matches(" sign ").count(), 1, "{plan:?}");
    require_formats(&promotion, &services, "[\"bundle\"]");
    let plan = promotion.run(["plan", "--detailed-exitcode"]).await;
    assert_eq!(plan.code, 0, "bundle only is required: {plan:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quay_gets_the_bundle_as_a_referrer_without_a_fallback_tag() {
    let Some((promotion, gateway)) = QuayPromotion::one_release("quay bundle 1", BOTH).await else {
        return;
    };
    let node_modules = sigstore_js();
    let digest = gateway.digest();
    let apply = promotion.run(["apply"]).await;
    assert_eq!(apply.code, 0, "{apply:?}");

    let prod = promotion.target("gateway");
    let index = prod
        .referrers(digest)
        .await
        .unwrap()
        .expect("Quay has the referrers API");
    let referrer = only_bundle_entry(&index);
    let bundle = bundle_of(prod.as_ref(), &referrer, digest).await;
    let fallback = format!("sha256-{}", digest.hex());
    assert_eq!(
        prod.resolve_tag(&fallback).await.unwrap(),
        None,
        "no fallback tag on Quay"
    );
    if let Some(node_modules) = &node_modules {
        let demo_pem = promotion.demo_public_key().to_pem().unwrap();
        independently_verified(node_modules, &bundle, &demo_pem, digest);
    }

    let verify = promotion.run(["verify"]).await;
    assert_eq!(verify.code, 0, "{verify:?}");
    assert!(
        verify.stdout.contains("ok          legacy+bundle "),
        "{verify:?}"
    );
    let again = promotion.run(["apply"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("Nothing to do."), "{again:?}");
    let index = prod.referrers(digest).await.unwrap().unwrap();
    assert_eq!(only_bundle_entry(&index), referrer, "no second bundle");

    // Without the legacy signature the release needs signing again.
    let path = format!(
        "repository/{}/gateway/tag/{}",
        promotion.target_org,
        digest.signature_tag()
    );
    let (status, body) = promotion.quay.api(Method::DELETE, &path, None).await;
    assert!(status < 300, "delete the .sig tag: {status} {body}");
    let plan = promotion.run(["plan", "--detailed-exitcode"]).await;
    assert_eq!(plan.code, 2, "{plan:?}");
    assert_eq!(plan.stdout.matches(" sign ").count(), 1, "{plan:?}");
}
