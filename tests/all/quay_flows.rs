//! Every user flow against the real Quay (`support::real_quay`): plan of each
//! kind, apply, verify and a re-run writing nothing, with a robot per
//! organization (streamed copy) and with one account for both (mounts).
//! Quay behaviours found here have a regression test named after them.

use crate::support::images::push_single;
use crate::support::quay_promotion::{Credentials, QuayPromotion};
use crate::support::releases::ServiceReleases;
use quayside::registry::ManifestRef;

/// Quay caches each `/v2/<repo>/tags/list` page for 120 s: a plan read before
/// the apply left `[]` cached, and apply's confirmation, `verify` and the
/// next `plan` all believed the new tags absent (issue 12). A list read is
/// never the only evidence of absence now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_quay_tag_list_cache_never_hides_what_apply_just_tagged() {
    let services = ["gateway", "notifier"];
    let Some(quay) = QuayPromotion::start(&services, Credentials::RobotPerOrganization).await
    else {
        return;
    };
    let gateway = quay.push_two_platform("gateway", "quay gateway 1").await;
    let notifier = quay.push_two_platform("notifier", "quay notifier 1").await;
    quay.write_releases(&[
        ServiceReleases::new(
            "gateway",
            &[
                ("v1.0.0-rc1", gateway.digest()),
                ("v1.0.0", gateway.digest()),
            ],
        ),
        ServiceReleases::new("notifier", &[("v0.1.0", notifier.digest())]),
    ]);

    // The plan reads (and so makes Quay cache) the empty tag lists.
    let plan = quay.run(["plan", "--detailed-exitcode"]).await;
    assert_eq!(plan.code, 2, "{plan:?}");
    assert_eq!(plan.stdout.matches(" create ").count(), 3, "{plan:?}");

    let apply = quay.run(["apply"]).await;
    assert_eq!(apply.code, 0, "apply confirms what it wrote: {apply:?}");
    // A robot per organization: no token may read the source and write the
    // target, so Quay declines the mount and blobs are streamed.
    assert!(apply.stdout.contains("Blobs: 8 copied"), "{apply:?}");

    // Right after the apply, with the stale list still cached.
    let verify = quay.run(["verify"]).await;
    assert_eq!(verify.code, 0, "{verify:?}");
    assert!(
        verify
            .stdout
            .contains("3 releases checked, 3 verified, 0 failing."),
        "{verify:?}"
    );
    let plan = quay.run(["plan", "--detailed-exitcode"]).await;
    assert_eq!(plan.code, 0, "nothing left to do: {plan:?}");

    // Quay's own view (REST API, not cached): the tags and their digests.
    let tags = quay.target_tags("gateway").await;
    let named: Vec<(&str, &str)> = tags
        .iter()
        .map(|(name, digest, _, _)| (name.as_str(), digest.as_str()))
        .collect();
    for tag in ["v1.0.0-rc1", "v1.0.0"] {
        assert!(
            named.contains(&(tag, gateway.digest().as_str())),
            "{tags:?}"
        );
    }
    assert!(
        named
            .iter()
            .any(|(name, _)| *name == gateway.digest().signature_tag()),
        "{tags:?}"
    );

    // A re-run writes nothing: no tag of Quay's is touched (Quay starts a new
    // tag row, with a new start_ts, on every tag write).
    let before = (
        quay.target_tags("gateway").await,
        quay.target_tags("notifier").await,
    );
    let again = quay.run(["apply"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("Nothing to do."), "{again:?}");
    let after = (
        quay.target_tags("gateway").await,
        quay.target_tags("notifier").await,
    );
    assert_eq!(before, after, "the re-run wrote to Quay");
}

/// One account that may read the source and write the target: Quay mounts
/// every blob across organizations, none is streamed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_credential_for_both_organizations_mounts_every_blob() {
    let Some(quay) = QuayPromotion::start(&["gateway"], Credentials::OneForBoth).await else {
        return;
    };
    let gateway = quay.push_two_platform("gateway", "quay mount 1").await;
    quay.write_releases(&[ServiceReleases::new(
        "gateway",
        &[("v2.0.0", gateway.digest())],
    )]);
    let apply = quay.run(["apply"]).await;
    assert_eq!(apply.code, 0, "{apply:?}");
    assert!(
        apply.stdout.contains("Blobs: 0 copied (0 B), 4 mounted"),
        "{apply:?}"
    );
    let verify = quay.run(["verify"]).await;
    assert_eq!(verify.code, 0, "{verify:?}");
    let target = quay.target("gateway");
    let manifest = target
        .get_manifest(ManifestRef::Tag("v2.0.0"))
        .await
        .expect("read the tag")
        .expect("the tag exists");
    assert_eq!(&manifest.digest, gateway.digest());
    assert_eq!(manifest.bytes, gateway.index.bytes, "copied byte for byte");
}

/// Each kind of plan line on Quay: create, sign (tagged without signature by
/// another client), unchanged, retag, source-missing, unmanaged-tag and
/// invalid-tag, in one plan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_on_quay_shows_every_kind_of_change_and_refusal() {
    let services = ["gateway", "notifier"];
    let Some(quay) = QuayPromotion::start(&services, Credentials::RobotPerOrganization).await
    else {
        return;
    };
    let gateway = quay.push_two_platform("gateway", "kinds gateway").await;
    let first = ServiceReleases::new("gateway", &[("v1.0.0", gateway.digest())]);
    quay.write_releases(std::slice::from_ref(&first));
    let apply = quay.run(["apply"]).await;
    assert_eq!(apply.code, 0, "{apply:?}");

    // Another client tags images into the target: one the file will declare
    // (unsigned), one at another digest than declared, one never declared.
    let target = quay.target("notifier");
    let unsigned = push_single(target.as_ref(), "kinds unsigned", "v3.0.0").await;
    let elsewhere = push_single(target.as_ref(), "kinds elsewhere", "v3.1.0").await;
    let _stray = push_single(target.as_ref(), "kinds stray", "v0.0.1").await;
    let source = quay.source("notifier");
    let declared = push_single(source.as_ref(), "kinds declared", "dev").await;
    let missing = quayside::digest::Digest::of_bytes(b"never pushed anywhere");
    assert_ne!(elsewhere, declared);

    quay.write_releases(&[
        ServiceReleases::new(
            "gateway",
            &[("v1.0.0", gateway.digest()), ("v1.1.0", gateway.digest())],
        ),
        ServiceReleases::new(
            "notifier",
            &[
                ("v3.0.0", &unsigned),
                ("v3.1.0", &declared),
                ("v3.2.0", &missing),
                ("latest", &declared),
            ],
        ),
    ]);
    let plan = quay.run(["plan", "--format", "json"]).await;
    assert_eq!(plan.code, 3, "{plan:?}");
    let json = plan.json();
    let kind_of = |tag: &str| {
        json["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["tag"] == tag)
            .map(|a| a["kind"].as_str().unwrap().to_string())
    };
    let refusal_of = |tag: &str| {
        json["refusals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["tag"] == tag)
            .map(|r| r["code"].as_str().unwrap().to_string())
    };
    assert_eq!(kind_of("v1.0.0").as_deref(), Some("unchanged"), "{json:#}");
    assert_eq!(kind_of("v1.1.0").as_deref(), Some("create"), "{json:#}");
    assert_eq!(kind_of("v3.0.0").as_deref(), Some("sign"), "{json:#}");
    assert_eq!(refusal_of("v3.1.0").as_deref(), Some("retag"), "{json:#}");
    assert_eq!(
        refusal_of("v3.2.0").as_deref(),
        Some("source-missing"),
        "{json:#}"
    );
    assert_eq!(
        refusal_of("latest").as_deref(),
        Some("invalid-tag"),
        "{json:#}"
    );
    let warnings: Vec<(&str, &str)> = json["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["code"].as_str().unwrap(), w["tag"].as_str().unwrap_or("")))
        .collect();
    assert!(
        warnings.contains(&("unmanaged-tag", "v0.0.1")),
        "{warnings:?}"
    );
    // cosign's signature tags are never unmanaged.
    assert!(
        !warnings.iter().any(|(_, tag)| tag.starts_with("sha256-")),
        "{warnings:?}"
    );
}

/// What apply signs on Quay verifies with verifiers that are not quayside's:
/// the sigstore crate (index and every child) and upstream skopeo's
/// `policy.json` check (every platform, as podman and CRI-O check at pull);
/// both refuse another key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_apply_writes_to_quay_pass_independent_verifiers() {
    use crate::support::verifiers::{
        constraints, policy_admits, signature_layers, sigstore_skopeo,
    };
    use sigstore::cosign::verify_constraints;
    use sigstore::registry::Auth;
    let Some(quay) = QuayPromotion::start(&["gateway"], Credentials::RobotPerOrganization).await
    else {
        return;
    };
    let gateway = quay.push_two_platform("gateway", "verified on quay").await;
    quay.write_releases(&[ServiceReleases::new(
        "gateway",
        &[("v1.2.0", gateway.digest())],
    )]);
    let apply = quay.run(["apply"]).await;
    assert_eq!(apply.code, 0, "{apply:?}");

    let host = quay.quay.host();
    let repository = format!("{}/gateway", quay.target_org);
    let auth = Auth::Basic(
        crate::support::real_quay::ADMIN.into(),
        crate::support::real_quay::ADMIN_PASSWORD.into(),
    );
    let ours = constraints(&quay.demo_public_key().to_pem().unwrap());
    let stranger_key = quayside::signing::SigningKey::generate()
        .unwrap()
        .public_key();
    let stranger = constraints(&stranger_key.to_pem().unwrap());
    let digests = std::iter::once(gateway.digest().clone())
        .chain(gateway.manifests.iter().map(|child| child.digest.clone()));
    for digest in digests {
        let layers = signature_layers(&host, &repository, &digest, &auth).await;
        assert_eq!(layers.len(), 1, "{digest}: one signature");
        verify_constraints(&layers, ours.iter())
            .unwrap_or_else(|error| panic!("{digest}: {error:?}"));
        assert!(verify_constraints(&layers, stranger.iter()).is_err());
        let critical = &layers[0].simple_signing.critical;
        assert_eq!(critical.identity.docker_reference, quay.identity("gateway"));
        assert_eq!(critical.image.docker_manifest_digest, digest.to_string());
    }

    let Some(skopeo) = sigstore_skopeo() else {
        return;
    };
    let reference = format!("{host}/{repository}:v1.2.0");
    let credentials = Some((
        crate::support::real_quay::ADMIN,
        crate::support::real_quay::ADMIN_PASSWORD,
    ));
    policy_admits(
        &skopeo,
        &host,
        &reference,
        &quay.dir.path().join("demo-cosign.pub"),
        credentials,
    )
    .unwrap_or_else(|refusal| panic!("policy.json refused what apply signed: {refusal}"));
    let stranger_pub = quay.dir.path().join("stranger.pub");
    std::fs::write(&stranger_pub, stranger_key.to_pem().unwrap()).unwrap();
    let refusal = policy_admits(&skopeo, &host, &reference, &stranger_pub, credentials)
        .expect_err("another key must not be admitted");
    assert!(refusal.contains("signature"), "{refusal}");
}

/// With an immutability policy on the target organization, Quay answers an
/// overwrite of a release tag 409 `TAG_IMMUTABLE`: the registry seam reports
/// it as `TagImmutable` naming repository and tag (apply turns it into a
/// `retag` refusal), never as a bare HTTP error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quay_answers_an_immutable_tag_overwrite_409_and_it_reads_as_tag_immutable() {
    use quayside::registry::RegistryError;
    use reqwest::Method;
    let Some(quay) = QuayPromotion::start(&["gateway"], Credentials::OneForBoth).await else {
        return;
    };
    quay.quay
        .api_ok(
            Method::POST,
            &format!("organization/{}/immutabilitypolicy/", quay.target_org),
            Some(serde_json::json!({"tagPattern": "^v[0-9].*", "tagPatternMatches": true})),
        )
        .await;
    let target = quay.target("gateway");
    let first = push_single(target.as_ref(), "immutable one", "v1.0.0").await;
    let tags = quay.target_tags("gateway").await;
    assert!(
        tags.iter()
            .any(|(name, digest, _, immutable)| name == "v1.0.0"
                && *digest == first.to_string()
                && *immutable),
        "{tags:?}"
    );
    let (other, blobs) = crate::support::images::single_image("immutable two", ("linux", "amd64"));
    for (digest, bytes) in blobs {
        target
            .put_blob(&digest, quayside::registry::BlobReader::from_bytes(bytes))
            .await
            .unwrap();
    }
    let error = target
        .put_manifest(&other, Some("v1.0.0"))
        .await
        .expect_err("Quay refuses to move an immutable tag");
    match &error {
        RegistryError::TagImmutable { repository, tag } => {
            assert!(repository.ends_with(&format!("{}/gateway", quay.target_org)));
            assert_eq!(tag, "v1.0.0");
        }
        other => panic!("expected TagImmutable, got {other:?}"),
    }
    assert_eq!(
        target.resolve_tag("v1.0.0").await.unwrap().as_ref(),
        Some(&first)
    );
}

/// The stalls of issue 12 (a first apply on a fresh Quay taking 38–63 s,
/// gaps of 5 s and 30 s after `POST …/blobs/uploads/?digest=`): Quay 3.18's
/// blob lock (`GlobalLock`, one Redis connection per process, made when
/// `app.py` is imported) is shared by every worker when gunicorn preloads the
/// app, so concurrent blob commits read each other's Redis answers, time out
/// ("Could not connect to Redis for lock …: Timeout reading from socket") and
/// hold the lock until its 30 s TTL. The harness runs Quay without preloading;
/// here a concurrent apply (streamed uploads of 4 services at once) must
/// leave Quay's log free of those lock timeouts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_quay_blob_lock_never_times_out_during_a_concurrent_apply() {
    let services = ["alpha", "beta", "gamma", "delta"];
    let Some(quay) = QuayPromotion::start(&services, Credentials::RobotPerOrganization).await
    else {
        return;
    };
    let mut declared = Vec::new();
    for service in services {
        let image = quay
            .push_two_platform(service, &format!("lock {service}"))
            .await;
        declared.push(ServiceReleases::new(service, &[("v1.0.0", image.digest())]));
    }
    quay.write_releases(&declared);
    let apply = quay.run(["apply"]).await;
    assert_eq!(apply.code, 0, "{apply:?}");
    assert!(apply.stdout.contains("Blobs: 16 copied"), "{apply:?}");
    let log = std::fs::read_to_string(quay.quay.work.join("gunicorn.log")).unwrap_or_default();
    let timeouts: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("Could not connect to Redis for lock"))
        .collect();
    assert!(
        timeouts.is_empty(),
        "Quay's blob lock timed out: {timeouts:#?}"
    );
}
