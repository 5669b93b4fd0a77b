//! `quayside plan`, `apply` and `verify` end to end against a real registry
//! (Debian's `docker-registry`), through a counting proxy: creates, saved
//! plans, refusals and key failures, and the promise that a refused or
//! failed apply writes nothing at all.

use crate::support::promotion::Promotion;
use crate::support::releases::ServiceReleases;
use quayside::signing::SigningKey;
use secrecy::{ExposeSecret, SecretString};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_creates_signs_and_tags_then_a_rerun_writes_nothing() {
    let promotion = Promotion::start().await;
    let (services, gateway, _, _) = promotion.three_services().await;
    promotion.write_releases("prod", &services);

    let plan = promotion.run(["plan", "--detailed-exitcode"]).await;
    assert_eq!(plan.code, 2, "{plan:?}");
    assert_eq!(plan.stdout.matches(" create ").count(), 4, "{plan:?}");

    let apply = promotion.run(["apply"]).await;
    assert_eq!(apply.code, 0, "{apply:?}");
    // dev -> prod on one registry: every blob is mounted, none streamed.
    assert!(apply.stdout.contains("Blobs: 0 copied (0 B)"), "{apply:?}");
    assert!(!apply.stdout.contains(" 0 mounted"), "{apply:?}");

    let prod = promotion.direct("prod", "gateway");
    for tag in ["v1.0.0-rc1", "v1.0.0"] {
        assert_eq!(
            prod.resolve_tag(tag).await.unwrap().as_ref(),
            Some(&gateway)
        );
    }
    let tags = prod.list_tags().await.unwrap();
    assert!(tags.contains(&gateway.signature_tag()), "{tags:?}");

    let verify = promotion.run(["verify"]).await;
    assert_eq!(verify.code, 0, "{verify:?}");
    assert!(
        verify
            .stdout
            .contains("4 releases checked, 4 verified, 0 failing."),
        "{verify:?}"
    );

    let plan = promotion.run(["plan", "--detailed-exitcode"]).await;
    assert_eq!(plan.code, 0, "nothing left to do: {plan:?}");

    promotion.proxy.reset();
    let storage = promotion.storage_hash();
    let again = promotion.run(["apply"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("Nothing to do."), "{again:?}");
    let counts = promotion.proxy.counts();
    assert_eq!(counts.writes(), 0, "a re-run writes nothing: {counts}");
    assert!(counts.total > 0, "the re-run did read the registry");
    assert_eq!(promotion.storage_hash(), storage);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_applies() {
    let promotion = Promotion::start().await;
    let (services, ..) = promotion.three_services().await;
    promotion.write_releases("prod", &services);

    let plan = promotion.run(["plan", "--out", "p.json"]).await;
    assert_eq!(plan.code, 0, "{plan:?}");
    let apply = promotion.run(["apply", "p.json"]).await;
    assert_eq!(apply.code, 0, "{apply:?}");
    let verify = promotion.run(["verify"]).await;
    assert_eq!(verify.code, 0, "{verify:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_is_refused_once_the_target_changed() {
    let promotion = Promotion::start().await;
    let (services, _, datastorage, _) = promotion.three_services().await;
    promotion.write_releases("prod", &services);
    let plan = promotion.run(["plan", "--out", "p.json"]).await;
    assert_eq!(plan.code, 0, "{plan:?}");

    // Someone else copies datastorage v0.3.0 into prod (unsigned) meanwhile.
    let source = promotion.direct("dev", "datastorage");
    let target = promotion.direct("prod", "datastorage");
    quayside::apply::copy::Copier::default()
        .copy_image(source.as_ref(), target.as_ref(), &datastorage)
        .await
        .unwrap();
    let index = target
        .get_manifest(quayside::registry::ManifestRef::Digest(&datastorage))
        .await
        .unwrap()
        .unwrap();
    target.put_manifest(&index, Some("v0.3.0")).await.unwrap();

    let storage = promotion.storage_hash();
    promotion.proxy.reset();
    let apply = promotion.run(["apply", "p.json"]).await;
    assert_eq!(apply.code, 3, "{apply:?}");
    assert!(
        apply.stderr.contains("changed since the plan was made")
            && apply.stderr.contains("datastorage v0.3.0"),
        "{apply:?}"
    );
    assert_eq!(promotion.proxy.counts().writes(), 0);
    assert_eq!(promotion.storage_hash(), storage, "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_signing_key_fails_before_any_write() {
    let promotion = Promotion::start().await;
    let (services, ..) = promotion.three_services().await;
    promotion.write_releases_with_key("prod", &services, "no-such.key", "demo-cosign.pub");

    let storage = promotion.storage_hash();
    promotion.proxy.reset();
    let apply = promotion.run(["apply"]).await;
    assert_eq!(apply.code, 1, "{apply:?}");
    assert!(apply.stderr.contains("no-such.key"), "{apply:?}");
    assert_eq!(promotion.proxy.counts().total, 0, "not even a read");
    assert_eq!(promotion.storage_hash(), storage);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_cosign_password_fails_before_any_write_and_the_right_one_applies() {
    let promotion = Promotion::start().await;
    let (services, ..) = promotion.three_services().await;
    let key = SigningKey::generate().unwrap();
    let right = "harbour-lights-7";
    let encrypted = key
        .to_encrypted_pem(&SecretString::from(right.to_string()))
        .unwrap();
    let dir = promotion.dir.path();
    std::fs::write(dir.join("release.key"), encrypted.expose_secret()).unwrap();
    std::fs::write(dir.join("release.pub"), key.public_key().to_pem().unwrap()).unwrap();
    promotion.write_releases_with_key("prod", &services, "release.key", "release.pub");

    let storage = promotion.storage_hash();
    promotion.proxy.reset();
    let wrong = "harbour-fog-3";
    let apply = crate::support::promotion::run_async(
        promotion
            .quayside()
            .env("COSIGN_PASSWORD", wrong)
            .args(["apply"]),
    )
    .await;
    assert_eq!(apply.code, 1, "{apply:?}");
    assert!(apply.stderr.contains("release.key"), "{apply:?}");
    for secret in [right, wrong] {
        assert!(
            !apply.stdout.contains(secret) && !apply.stderr.contains(secret),
            "{apply:?}"
        );
    }
    assert_eq!(promotion.proxy.counts().total, 0, "not even a read");
    assert_eq!(promotion.storage_hash(), storage);

    let apply = crate::support::promotion::run_async(
        promotion
            .quayside()
            .env("COSIGN_PASSWORD", right)
            .args(["apply"]),
    )
    .await;
    assert_eq!(apply.code, 0, "{apply:?}");
    let verify = promotion.run(["verify"]).await;
    assert_eq!(verify.code, 0, "{verify:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_plan_leaves_the_registry_byte_for_byte_untouched() {
    let promotion = Promotion::start().await;
    let (services, ..) = promotion.three_services().await;
    // prod/gateway v1.0.0 already exists, pointing at another image: the
    // file would retag it.
    let other = crate::support::images::two_platform_image("gateway 0");
    crate::support::images::push(
        promotion.direct("prod", "gateway").as_ref(),
        &other,
        Some("v1.0.0"),
    )
    .await;
    promotion.write_releases("prod", &services);

    let storage = promotion.storage_hash();
    promotion.proxy.reset();
    let apply = promotion.run(["apply"]).await;
    assert_eq!(apply.code, 3, "{apply:?}");
    assert!(apply.stdout.contains("retag"), "{apply:?}");
    assert_eq!(promotion.proxy.counts().writes(), 0);
    assert_eq!(
        promotion.storage_hash(),
        storage,
        "not even the other releases were written"
    );
}

/// Caught by the crash test: an rc and its final on one digest were applied
/// concurrently, both uploaded the same signature blobs into one repository,
/// and distribution 2.8 answered one `.sig` manifest put `DIGEST_INVALID` /
/// `MANIFEST_BLOB_UNKNOWN` while the other upload re-linked the blob.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_releases_sharing_a_digest_apply_in_one_run() {
    let promotion = Promotion::start().await;
    let gateway = promotion.push_two_platform("gateway", "gateway 1").await;
    let digest = gateway.digest();
    let releases = [
        ("v1.0.0-rc1", digest),
        ("v1.0.0-rc2", digest),
        ("v1.0.0-beta1", digest),
        ("v1.0.0", digest),
    ];
    for round in 0..3 {
        let target = format!("prod{round}");
        promotion.write_releases(&target, &[ServiceReleases::new("gateway", &releases)]);
        let apply = promotion.run(["apply"]).await;
        assert_eq!(apply.code, 0, "round {round}: {apply:?}");
        let verify = promotion.run(["verify"]).await;
        assert_eq!(verify.code, 0, "round {round}: {verify:?}");
    }
}
