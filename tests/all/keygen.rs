//! `quayside generate-key-pair` makes the key pair a new user needs without
//! cosign: it refuses without a password source and never overwrites, and the
//! key it writes signs in an apply against a real registry, verified by the
//! sigstore crate and by upstream skopeo's `policy.json` check.

use crate::support::promotion::{Promotion, run_async};
use crate::support::releases::ServiceReleases;
use crate::support::verifiers::{constraints, policy_admits, signature_layers, sigstore_skopeo};
use quayside::signing::{PublicKey, SigningKey};
use secrecy::SecretString;
use sigstore::cosign::verify_constraints;
use sigstore::registry::Auth;

const PASSWORD: &str = "correct horse battery staple";

#[test]
fn refuses_without_a_password_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    // No COSIGN_PASSWORD and stdin is not a terminal: nothing is written.
    let refused = crate::quayside::Quayside::new(dir.path())
        .env_remove("COSIGN_PASSWORD")
        .args(["generate-key-pair"])
        .run();
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("set COSIGN_PASSWORD"),
        "{refused:?}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    let made = crate::quayside::Quayside::new(dir.path())
        .env("COSIGN_PASSWORD", PASSWORD)
        .args(["generate-key-pair", "--output-key-prefix", "release"])
        .run();
    assert_eq!(made.code, 0, "{made:?}");
    assert!(made.stdout.contains("key = \"release.key\""), "{made:?}");
    assert!(!format!("{made:?}").contains(PASSWORD), "{made:?}");
    let private = std::fs::read(dir.path().join("release.key")).unwrap();
    let public = std::fs::read(dir.path().join("release.pub")).unwrap();
    assert!(private.starts_with(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"));
    let key = SigningKey::from_pem(&private, Some(&SecretString::from(PASSWORD))).unwrap();
    assert_eq!(key.public_key(), PublicKey::from_pem(&public).unwrap());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("release.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the private key is its owner's only");
    }

    // Again: refused, both files untouched.
    let again = crate::quayside::Quayside::new(dir.path())
        .env("COSIGN_PASSWORD", "another")
        .args(["generate-key-pair", "--output-key-prefix", "release"])
        .run();
    assert_eq!(again.code, 1, "{again:?}");
    assert!(
        again.stderr.contains("release.key: already exists"),
        "{again:?}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("release.key")).unwrap(),
        private
    );
    assert_eq!(
        std::fs::read(dir.path().join("release.pub")).unwrap(),
        public
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_key_signs_what_independent_verifiers_accept() {
    let promotion = Promotion::start().await;
    let made = run_async(promotion.quayside().env("COSIGN_PASSWORD", PASSWORD).args([
        "generate-key-pair",
        "--output-key-prefix",
        "new",
    ]))
    .await;
    assert_eq!(made.code, 0, "{made:?}");
    let gateway = promotion
        .push_two_platform("gateway", "keygen gateway")
        .await;
    promotion.write_releases_with_key(
        "prod",
        &[ServiceReleases::new(
            "gateway",
            &[("v1.0.0", gateway.digest())],
        )],
        "new.key",
        "new.pub",
    );
    let apply = run_async(
        promotion
            .quayside()
            .env("COSIGN_PASSWORD", PASSWORD)
            .args(["apply"]),
    )
    .await;
    assert_eq!(apply.code, 0, "{apply:?}");

    let public_path = promotion.dir.path().join("new.pub");
    let ours = constraints(&std::fs::read_to_string(&public_path).unwrap());
    let host = promotion.host();
    let mut digests = vec![gateway.digest().clone()];
    digests.extend(gateway.manifests.iter().map(|child| child.digest.clone()));
    for digest in &digests {
        let layers = signature_layers(&host, "prod/gateway", digest, &Auth::Anonymous).await;
        assert_eq!(layers.len(), 1, "gateway@{digest}: one signature");
        verify_constraints(&layers, ours.iter())
            .unwrap_or_else(|error| panic!("gateway@{digest}: {error:?}"));
    }
    if let Some(skopeo) = sigstore_skopeo() {
        let reference = format!("{host}/prod/gateway:v1.0.0");
        policy_admits(&skopeo, &host, &reference, &public_path, None).unwrap_or_else(|refusal| {
            panic!("policy.json refused the new key's signature: {refusal}")
        });
    }
}
