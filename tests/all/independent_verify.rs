//! An independent verifier accepts what `quayside apply` signs: the
//! `sigstore` crate's cosign verification, reading the real registry over
//! plain HTTP, checks the index and every child manifest of a two-platform
//! image and a single-platform image; it rejects another key and a signature
//! manifest copied onto another digest. `docker-reference` (which sigstore
//! does not check) is checked here. Upstream skopeo's containers
//! `policy.json` check admits every platform of what apply signed, and
//! refuses an image one of whose children is unsigned.

use crate::support::promotion::Promotion;
use crate::support::releases::ServiceReleases;
use crate::support::verifiers::{
    constraints, copy_index_signature_onto_first_child, policy_admits, signature_layers,
    sigstore_skopeo,
};
use quayside::digest::Digest;
use quayside::signing::SigningKey;
use sigstore::cosign::verify_constraints;
use sigstore::registry::Auth;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstore_verifies_every_manifest_apply_signed_and_nothing_else() {
    let promotion = Promotion::start().await;
    let gateway = promotion.push_two_platform("gateway", "gateway 1").await;
    let notifier = promotion.push_single("notifier", "notifier 1").await;
    promotion.write_releases(
        "prod",
        &[
            ServiceReleases::new("gateway", &[("v1.0.0", gateway.digest())]),
            ServiceReleases::new("notifier", &[("v1.0.0", &notifier)]),
        ],
    );
    let apply = promotion.run(["apply"]).await;
    assert_eq!(apply.code, 0, "{apply:?}");

    // Signatures name the host apply talked to: read them from there.
    let host = promotion.host();
    let ours = constraints(&promotion.demo_public_key().to_pem().unwrap());
    let stranger = constraints(
        &SigningKey::generate()
            .unwrap()
            .public_key()
            .to_pem()
            .unwrap(),
    );
    let mut manifests: Vec<(&str, Digest)> = vec![("gateway", gateway.digest().clone())];
    manifests.extend(
        gateway
            .manifests
            .iter()
            .map(|child| ("gateway", child.digest.clone())),
    );
    manifests.push(("notifier", notifier.clone()));
    for (service, digest) in &manifests {
        let repository = format!("prod/{service}");
        let layers = signature_layers(&host, &repository, digest, &Auth::Anonymous).await;
        assert_eq!(layers.len(), 1, "{service}@{digest}: one signature");
        verify_constraints(&layers, ours.iter())
            .unwrap_or_else(|error| panic!("{service}@{digest}: {error:?}"));
        assert!(
            verify_constraints(&layers, stranger.iter()).is_err(),
            "{service}@{digest}: another key must not verify"
        );
        let critical = &layers[0].simple_signing.critical;
        assert_eq!(
            critical.identity.docker_reference,
            format!("{host}/{repository}")
        );
        assert_eq!(critical.image.docker_manifest_digest, digest.to_string());
    }

    // Copy the index's signature manifest onto the first child's `.sig` tag:
    // a signature for one digest is no signature for another.
    let prod = promotion.direct("prod", "gateway");
    let child = copy_index_signature_onto_first_child(prod.as_ref(), &gateway).await;
    let layers = signature_layers(&host, "prod/gateway", &child, &Auth::Anonymous).await;
    assert!(
        layers.is_empty() || verify_constraints(&layers, ours.iter()).is_err(),
        "a copied signature manifest must not verify the child"
    );
    // Our own verify agrees.
    let verify = promotion.run(["verify"]).await;
    assert_eq!(verify.code, 3, "{verify:?}");
    assert!(
        verify
            .stdout
            .contains(&format!("UNSIGNED    no valid signature on {child}")),
        "{verify:?}"
    );
}

/// Upstream skopeo (sigstore) with a `policy.json` `sigstoreSigned` rule, as
/// podman and CRI-O check at pull time: every platform of the index apply
/// signed is admitted; another key is refused, and so is an image one of whose
/// children carries no signature (signed without `--recursive`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_skopeo_policy_admits_what_apply_signed_and_nothing_else() {
    let Some(skopeo) = sigstore_skopeo() else {
        return;
    };
    let promotion = Promotion::start().await;
    let gateway = promotion
        .push_two_platform("gateway", "policy gateway")
        .await;
    promotion.write_releases(
        "prod",
        &[ServiceReleases::new(
            "gateway",
            &[("v1.0.0", gateway.digest())],
        )],
    );
    let apply = promotion.run(["apply"]).await;
    assert_eq!(apply.code, 0, "{apply:?}");
    let host = promotion.host();
    let key = promotion.dir.path().join("demo-cosign.pub");
    let reference = format!("{host}/prod/gateway:v1.0.0");
    policy_admits(&skopeo, &host, &reference, &key, None)
        .unwrap_or_else(|refusal| panic!("policy.json refused what apply signed: {refusal}"));

    let stranger = promotion.dir.path().join("stranger.pub");
    std::fs::write(
        &stranger,
        SigningKey::generate()
            .unwrap()
            .public_key()
            .to_pem()
            .unwrap(),
    )
    .unwrap();
    assert!(policy_admits(&skopeo, &host, &reference, &stranger, None).is_err());

    // A second tag on an image whose first child's signature was replaced
    // by the index's: skopeo checks each platform, so it refuses.
    let prod = promotion.direct("prod", "gateway");
    copy_index_signature_onto_first_child(prod.as_ref(), &gateway).await;
    let refusal = policy_admits(&skopeo, &host, &reference, &key, None)
        .expect_err("a child without its own signature is refused");
    assert!(refusal.contains("ignature"), "{refusal}");
}
