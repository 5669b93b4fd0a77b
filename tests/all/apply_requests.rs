//! Where a signed apply's requests go, per kind (the counting proxy's
//! [`request_kind`](crate::support::proxy::request_kind)): 2 services x 2
//! two-platform images, promoted dev -> prod in one anonymous registry, as in
//! `bench/run.sh` (a) (issue 18, item 3), in the legacy format alone (what
//! issue 18's targets and the signed loop count) and in the default formats
//! (legacy and bundle, the bundles in the fallback index tag: CNCF
//! distribution has no referrers API). Each lever that removes requests is
//! asserted here by the kinds it removes.

use crate::support::promotion::Promotion;
use crate::support::proxy::KindCounts;
use crate::support::releases::{
    DEMO_KEY, DEMO_PUBLIC_KEY, NO_SCANNING, ServiceReleases, signing_lines,
};

const SERVICES: usize = 2;
const VERSIONS: usize = 2;
const IMAGES: u64 = (SERVICES * VERSIONS) as u64;
const LEGACY: Option<&str> = Some(r#"["legacy"]"#);

/// Pushes the images, writes `releases.toml` (with `signing.formats =
/// <formats>`, or without the key: the default), and returns the set-up.
async fn four_images(formats: Option<&str>) -> Promotion {
    let promotion = Promotion::start().await;
    let mut services = Vec::new();
    for s in 0..SERVICES {
        let name = format!("service{s}");
        let mut declared = Vec::new();
        for v in 0..VERSIONS {
            let image = promotion
                .push_two_platform(&name, &format!("{name} version {v}"))
                .await;
            declared.push((format!("v1.{v}.0"), image.digest().clone()));
        }
        let pairs: Vec<(&str, &quayside::digest::Digest)> = declared
            .iter()
            .map(|(tag, digest)| (tag.as_str(), digest))
            .collect();
        services.push(ServiceReleases::new(&name, &pairs));
    }
    let mut signing = signing_lines(DEMO_KEY, DEMO_PUBLIC_KEY);
    if let Some(formats) = formats {
        signing.push_str(&format!("formats = {formats}\n"));
    }
    promotion.write_releases_with("prod", &services, NO_SCANNING, &signing);
    promotion
}

/// Applies the set-up and returns its requests per kind, printed.
async fn apply_kinds(promotion: &Promotion, what: &str) -> KindCounts {
    promotion.proxy.reset();
    let applied = promotion.run(["apply"]).await;
    assert_eq!(applied.code, 0, "{applied:?}");
    let kinds = promotion.proxy.kinds();
    let total: u64 = kinds.values().sum();
    eprintln!(
        "apply of {IMAGES} two-platform images ({what}): {total} requests, {:.2} per image\n{}",
        total as f64 / IMAGES as f64,
        table(&kinds)
    );
    kinds
}

fn table(counts: &KindCounts) -> String {
    counts
        .iter()
        .map(|(kind, n)| format!("  {kind}: {n} ({:.2} per image)", *n as f64 / IMAGES as f64))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The legacy apply's requests per kind (see the test that pins them).
fn legacy_kinds() -> KindCounts {
    let per_image = |n: u64| n * IMAGES;
    let per_service = |n: u64| n * SERVICES as u64;
    expected(&[
        // Plan and apply's confirmation: each service's tag list.
        ("GET tags/list", per_service(2)),
        // Plan: the tag (404); confirmation: the tag (digest and children).
        ("GET manifest by tag", per_image(2)),
        // Plan: the source root (its bytes carried to the copy, lever c);
        // copy: the two children.
        ("GET manifest by digest", per_image(3)),
        // Copy: is the root in the target already (crash recovery)?
        ("HEAD manifest by digest", per_image(1)),
        // Copy: 2 configs and 2 layers mounted from dev/.
        ("POST blob mount", per_image(4)),
        ("PUT manifest by digest", per_image(3)),
        // Signing the index and both children: read each `.sig` tag, upload
        // its payload (distribution 2.8 answers the single-request upload
        // 202, so POST then PUT), put the `.sig` manifest; the confirmation
        // reads the index's `.sig`.
        ("GET manifest .sig", per_image(3 + 1)),
        ("POST blob upload start", per_image(3) + per_service(1)),
        ("PUT blob upload session", per_image(3) + per_service(1)),
        ("PUT manifest .sig", per_image(3)),
        // The shared signature config (lever a): asked once per repository,
        // uploaded there once (counted in the two upload lines above).
        ("HEAD blob", per_service(1)),
        // Tagging: re-check the tag is absent, put it, read it back.
        ("HEAD manifest by tag", per_image(2)),
        ("PUT manifest by tag", per_image(1)),
    ])
}

fn expected(pairs: &[(&str, u64)]) -> KindCounts {
    pairs
        .iter()
        .map(|(kind, n)| (kind.to_string(), *n))
        .collect()
}

/// Before issue 18's item 3 (the same set-up, 37 per image): the config
/// blob of each signature manifest uploaded with it (+2 per signature, 6 per
/// image: `POST blob upload start` 24, `PUT blob upload session` 24, no
/// `HEAD blob`), and the plan asked the source root by HEAD and the copy
/// read it again by GET (`HEAD manifest by digest` 8, `GET manifest by
/// digest` 12).
#[tokio::test]
async fn a_signed_apply_makes_exactly_the_expected_requests_per_kind() {
    let promotion = four_images(LEGACY).await;
    let kinds = apply_kinds(&promotion, "legacy").await;
    let total: u64 = kinds.values().sum();
    let want = legacy_kinds();
    assert_eq!(kinds, want, "\n{}", table(&kinds));
    assert_eq!(total, 126, "31.5 per image");
}

/// The default formats: the legacy apply above, and for each image a
/// bundle in the fallback index. Before the bundle path's levers (178, 44.5
/// per image): the referrers API asked three times per image (`GET
/// referrers` 12: apply's probe and listing, the confirmation's listing),
/// the OCI empty config uploaded with each bundle (`POST`/`PUT` 2 more each,
/// no `HEAD`), and the confirmation read each referrer manifest and bundle
/// blob again (`GET manifest by digest` 4, `GET blob` 4).
#[tokio::test]
async fn an_apply_in_both_formats_makes_exactly_the_expected_requests_per_kind() {
    let promotion = four_images(None).await;
    let kinds = apply_kinds(&promotion, "legacy and bundle, the default").await;
    let total: u64 = kinds.values().sum();
    let per_image = |n: u64| n * IMAGES;
    let per_service = |n: u64| n * SERVICES as u64;
    let mut want = legacy_kinds();
    let bundle = expected(&[
        // The bundle's referrer manifest.
        ("PUT manifest by digest", per_image(1)),
        // The bundle, and per repository the referrer manifests' shared OCI
        // empty config, asked by HEAD first (as the shared `.sig` config).
        ("POST blob upload start", per_image(1) + per_service(1)),
        ("PUT blob upload session", per_image(1) + per_service(1)),
        ("HEAD blob", per_service(1)),
        // Whether the referrers API exists: once per repository (404).
        ("GET referrers", per_service(1)),
        // The fallback index: read before it is extended (404 here), put
        // with the new entry; the confirmation reads it (and takes the
        // entry's bundle from what was written, without a GET).
        ("GET manifest fallback tag", per_image(2)),
        ("PUT manifest fallback tag", per_image(1)),
    ]);
    // The promotion attestation of each release created (another referrer,
    // listed by the same fallback-index put): its bundle blob and its
    // referrer manifest.
    let attestation = expected(&[
        ("POST blob upload start", per_image(1)),
        ("PUT blob upload session", per_image(1)),
        ("PUT manifest by digest", per_image(1)),
    ]);
    for (kind, n) in bundle.into_iter().chain(attestation) {
        *want.entry(kind).or_default() += n;
    }
    assert_eq!(kinds, want, "\n{}", table(&kinds));
    // Issue 18's target for the default (both formats and an attestation)
    // on distribution is <= 40: 39.5 without the attestation, which costs 3.
    assert_eq!(total, 170, "42.5 per image");
}

/// Lever a across runs: a later apply into a repository that already holds
/// the shared signature config asks for it (HEAD) and uploads only payloads.
#[tokio::test]
async fn a_later_apply_finds_the_shared_signature_config_and_uploads_only_payloads() {
    let promotion = four_images(LEGACY).await;
    let applied = promotion.run(["apply"]).await;
    assert_eq!(applied.code, 0, "{applied:?}");

    // One more release of service0.
    let image = promotion
        .push_two_platform("service0", "service0 version 2")
        .await;
    let text = std::fs::read_to_string(promotion.dir.path().join("releases.toml"))
        .expect("read releases.toml");
    let added = text.replacen(
        "[services.service0.releases]\n",
        &format!(
            "[services.service0.releases]\n\"v1.2.0\" = \"{}\"\n",
            image.digest()
        ),
        1,
    );
    assert_ne!(added, text, "the template has a releases table per service");
    std::fs::write(promotion.dir.path().join("releases.toml"), added).expect("write");

    promotion.proxy.reset();
    let again = promotion.run(["apply"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    let kinds = promotion.proxy.kinds();
    assert_eq!(kinds.get("HEAD blob"), Some(&1), "\n{}", table(&kinds));
    // The index's and both children's payloads; no config.
    assert_eq!(
        kinds.get("POST blob upload start"),
        Some(&3),
        "\n{}",
        table(&kinds)
    );
    assert_eq!(
        kinds.get("PUT manifest .sig"),
        Some(&3),
        "\n{}",
        table(&kinds)
    );
}
