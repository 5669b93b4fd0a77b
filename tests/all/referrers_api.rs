//! The OCI referrers API as quayside reads it, against the in-process fake
//! (CNCF distribution 2.8 has no such API and Quay answers one page, so
//! neither can show paging): every page of a paged answer (`Link`) is read,
//! up to a bound, and a registry whose pages never end, or whose next page
//! is on another host, gets an error naming the registry and repository;
//! whether the API exists is asked once per repository and run.

use crate::support::client::quick_retry_options;
use crate::support::fake::{FakeConfig, FakeRegistry};
use bytes::Bytes;
use quayside::registry::manifest::OCI_MANIFEST;
use quayside::registry::{Connector, RawManifest};
use quayside::signing::bundle::SIGN_PREDICATE_TYPE;
use quayside::signing::bundles::{Wanted, read_bundles};
use quayside::signing::referrer::bundle_manifest;
use quayside::signing::{SigningKey, bundle};
use std::sync::atomic::Ordering;

const REPOSITORY: &str = "prod/gateway";
const IDENTITY: &str = "quay.example/prod/gateway";

/// An image manifest in `REPOSITORY`.
fn image(fake: &FakeRegistry) -> RawManifest {
    let bytes = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
    fake.seed_manifest(REPOSITORY, OCI_MANIFEST, bytes, Some("v1.0.0"));
    RawManifest::from_bytes(Bytes::from_static(bytes), Some(OCI_MANIFEST)).unwrap()
}

/// Attaches a bundle by `key` for `subject` as a referrer (bundle inline).
fn attach(fake: &FakeRegistry, subject: &RawManifest, key: &SigningKey, created: &str) {
    let signed = bundle::create(key, "hint", IDENTITY, &subject.digest).unwrap();
    let referrer =
        bundle_manifest(subject, Bytes::from(signed), SIGN_PREDICATE_TYPE, created).unwrap();
    fake.seed_manifest(REPOSITORY, OCI_MANIFEST, &referrer.manifest.bytes, None);
}

fn requests(fake: &FakeRegistry) -> u64 {
    fake.registry_requests.load(Ordering::SeqCst)
}

#[tokio::test]
async fn every_page_of_a_paged_referrers_answer_is_read() {
    let fake = FakeRegistry::start(FakeConfig {
        referrers_page: Some(2),
        ..FakeConfig::default()
    })
    .await;
    let subject = image(&fake);
    let key = SigningKey::generate().unwrap();
    let stranger = SigningKey::generate().unwrap();
    // Five referrers on three pages (2, 2, 1), one of them the key's.
    for minute in 0..4 {
        attach(
            &fake,
            &subject,
            &stranger,
            &format!("2026-12-01T00:0{minute}:00Z"),
        );
    }
    attach(&fake, &subject, &key, "2026-12-01T00:09:00Z");
    let connector = Connector::new(quick_retry_options());
    let target = connector.open(&fake.location(REPOSITORY));

    let before = requests(&fake);
    let stored = read_bundles(target.as_ref(), &subject.digest, Wanted::Signatures)
        .await
        .expect("all pages read");
    assert_eq!(stored.bundles.len(), 5, "every page's referrers");
    assert!(
        stored.bundles.iter().any(|b| bundle::verify(
            b,
            &key.public_key(),
            &subject.digest,
            IDENTITY
        )
        .is_ok()),
        "the key's bundle is among them, wherever its page"
    );
    // 3 pages, then each referrer manifest (the bundles inline: no blob).
    assert_eq!(requests(&fake) - before, 3 + 5);
    assert_eq!(stored.fallback, None, "the API exists: no fallback tag");
}

#[tokio::test]
async fn referrers_pages_that_never_end_are_an_error_naming_registry_and_repository() {
    let fake = FakeRegistry::start(FakeConfig {
        referrers_page: Some(1),
        referrers_endless: true,
        ..FakeConfig::default()
    })
    .await;
    let subject = image(&fake);
    attach(
        &fake,
        &subject,
        &SigningKey::generate().unwrap(),
        "2026-12-01T00:00:00Z",
    );
    let connector = Connector::new(quick_retry_options());
    let target = connector.open(&fake.location(REPOSITORY));
    let before = requests(&fake);
    let error = read_bundles(target.as_ref(), &subject.digest, Wanted::Signatures)
        .await
        .expect_err("endless pages are refused")
        .to_string();
    assert!(error.contains(&fake.host()), "{error}");
    assert!(error.contains(REPOSITORY), "{error}");
    assert!(error.contains(&subject.digest.to_string()), "{error}");
    assert!(error.contains("did not end after 20 pages"), "{error}");
    assert!(
        error.contains("delete referrers"),
        "says what to do: {error}"
    );
    assert_eq!(requests(&fake) - before, 20, "bounded");
}

#[tokio::test]
async fn a_next_referrers_page_on_another_host_is_not_followed() {
    let fake = FakeRegistry::start(FakeConfig {
        referrers_page: Some(1),
        referrers_next_host: Some("elsewhere.example:5000".into()),
        ..FakeConfig::default()
    })
    .await;
    let subject = image(&fake);
    for minute in 0..2 {
        attach(
            &fake,
            &subject,
            &SigningKey::generate().unwrap(),
            &format!("2026-12-01T00:0{minute}:00Z"),
        );
    }
    let connector = Connector::new(quick_retry_options());
    let target = connector.open(&fake.location(REPOSITORY));
    let error = read_bundles(target.as_ref(), &subject.digest, Wanted::Signatures)
        .await
        .expect_err("a link to another host is refused")
        .to_string();
    assert!(error.contains(&fake.host()), "{error}");
    assert!(error.contains(REPOSITORY), "{error}");
    assert!(
        error.contains("links to a next page on another host (http://elsewhere.example:5000)"),
        "{error}"
    );
}

#[tokio::test]
async fn whether_the_referrers_api_exists_is_asked_once_per_repository() {
    for api in [true, false] {
        let fake = FakeRegistry::start(FakeConfig {
            referrers_page: api.then_some(10),
            ..FakeConfig::default()
        })
        .await;
        let subject = image(&fake);
        let connector = Connector::new(quick_retry_options());
        let target = connector.open(&fake.location(REPOSITORY));
        let before = requests(&fake);
        assert_eq!(target.has_referrers_api().await.unwrap(), api);
        assert_eq!(target.has_referrers_api().await.unwrap(), api);
        // A second handle on the same repository shares what was learnt.
        let again = connector.open(&fake.location(REPOSITORY));
        assert_eq!(again.has_referrers_api().await.unwrap(), api);
        assert_eq!(requests(&fake) - before, 1, "one probe (api: {api})");
        // Listing: without the API not asked at all (the fallback tag is read
        // instead); with it, the image's own list.
        let listed = again.referrers(&subject.digest).await.unwrap();
        assert_eq!(listed.is_some(), api);
        assert_eq!(requests(&fake) - before, 1 + u64::from(api));
        // Another repository is asked for itself.
        let other = connector.open(&fake.location("prod/other"));
        other.has_referrers_api().await.unwrap();
        assert_eq!(requests(&fake) - before, 2 + u64::from(api));
    }
}
