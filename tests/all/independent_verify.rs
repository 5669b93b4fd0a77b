//! An independent verifier accepts what `quayside apply` signs: the
//! `sigstore` crate's cosign verification, reading the real registry over
//! plain HTTP, checks the index and every child manifest of a two-platform
//! image and a single-platform image; it rejects another key and a signature
//! manifest copied onto another digest. `docker-reference` (which sigstore
//! does not check) is checked here.

use crate::support::promotion::{Promotion, ServiceReleases};
use quayside::digest::Digest;
use quayside::registry::ManifestRef;
use quayside::signing::SigningKey;
use sigstore::cosign::signature_layers::SignatureLayer;
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraintVec};
use sigstore::cosign::{ClientBuilder, CosignCapabilities, verify_constraints};
use sigstore::crypto::SigningScheme;
use sigstore::registry::{Auth, ClientConfig, ClientProtocol, OciReference};

fn constraints(pem: &str) -> VerificationConstraintVec {
    vec![Box::new(
        PublicKeyVerifier::new(pem.as_bytes(), &SigningScheme::ECDSA_P256_SHA256_ASN1)
            .expect("a P-256 public key"),
    )]
}

async fn signature_layers(host: &str, repository: &str, digest: &Digest) -> Vec<SignatureLayer> {
    let mut client = ClientBuilder::default()
        .with_oci_client_config(ClientConfig {
            protocol: ClientProtocol::Http,
            ..Default::default()
        })
        .build()
        .expect("a sigstore client");
    let image: OciReference = format!("{host}/{repository}@{digest}")
        .parse()
        .expect("an image reference");
    client
        .trusted_signature_layers(&Auth::Anonymous, &image)
        .await
        .expect("sigstore reads the signature manifest")
}

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
    let stranger = constraints(&SigningKey::generate().public_key().to_pem().unwrap());
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
        let layers = signature_layers(&host, &repository, digest).await;
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
    let index_signatures = prod
        .get_manifest(ManifestRef::Tag(&gateway.digest().signature_tag()))
        .await
        .unwrap()
        .expect("the index is signed");
    let child = &gateway.manifests[0].digest;
    prod.put_manifest(&index_signatures, Some(&child.signature_tag()))
        .await
        .unwrap();
    let layers = signature_layers(&host, "prod/gateway", child).await;
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
