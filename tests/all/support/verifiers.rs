//! Independent verifiers of what quayside signs, none of them quayside's own
//! code: the `sigstore` crate's cosign verification, and upstream skopeo
//! built with sigstore (`../shared/tools/`, unpacked by `scripts/test`), whose
//! containers `policy.json` check is what podman, CRI-O and OpenShift run at
//! pull time (it checks every platform manifest of an index).

use crate::support::images::TestImage;
use quayside::digest::Digest;
use quayside::registry::{ManifestRef, Repository};
use sigstore::cosign::signature_layers::SignatureLayer;
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraintVec};
use sigstore::cosign::{ClientBuilder, CosignCapabilities};
use sigstore::crypto::SigningScheme;
use sigstore::registry::{Auth, ClientConfig, ClientProtocol, OciReference};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

pub fn constraints(pem: &str) -> VerificationConstraintVec {
    vec![Box::new(
        PublicKeyVerifier::new(pem.as_bytes(), &SigningScheme::ECDSA_P256_SHA256_ASN1)
            .expect("a P-256 public key"),
    )]
}

/// The signature layers sigstore trusts for `host/repository@digest`, read
/// over plain HTTP with `auth`.
pub async fn signature_layers(
    host: &str,
    repository: &str,
    digest: &Digest,
    auth: &Auth,
) -> Vec<SignatureLayer> {
    quayside::registry::distribution::install_tls_provider();
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
        .trusted_signature_layers(auth, &image)
        .await
        .expect("sigstore reads the signature manifest")
}

static REPORTED: Once = Once::new();

/// Where `scripts/test` installs a verifier: `$env` if set, else `relative`
/// under `~/.cache/quayside` (or `$XDG_CACHE_HOME/quayside`).
fn installed(env: &str, relative: &str) -> Option<PathBuf> {
    std::env::var_os(env).map(PathBuf::from).or_else(|| {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(cache.join("quayside").join(relative))
    })
}

/// Upstream skopeo with sigstore; `None` (said once) where it is not
/// unpacked, unless `QUAYSIDE_REQUIRE_SIGSTORE_SKOPEO=1` makes that a failure.
pub fn sigstore_skopeo() -> Option<PathBuf> {
    let path = installed("QUAYSIDE_SIGSTORE_SKOPEO", "tools/skopeo-sigstore")?;
    if path.is_file() {
        return Some(path);
    }
    if std::env::var("QUAYSIDE_REQUIRE_SIGSTORE_SKOPEO").as_deref() == Ok("1") {
        panic!(
            "upstream skopeo with sigstore is required but {} is absent",
            path.display()
        );
    }
    REPORTED.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "\nquayside: the policy.json verification tests did NOT run: no {} \
             (run `scripts/test`, which unpacks it from ../shared/tools).\n",
            path.display()
        );
    });
    None
}

/// Whether a containers `policy.json` demanding a cosign signature by
/// `public_key` for `host` (`sigstoreSigned`, `matchRepository`) admits
/// `docker://host/repository:tag` with every platform (`copy --all`): `Ok`
/// when skopeo copies it, `Err` with skopeo's words when it refuses.
pub fn policy_admits(
    skopeo: &Path,
    host: &str,
    reference: &str,
    public_key: &Path,
    credentials: Option<(&str, &str)>,
) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = serde_json::json!({
        "default": [{"type": "reject"}],
        "transports": {
            "docker": {host: [{
                "type": "sigstoreSigned",
                "keyPath": public_key,
                "signedIdentity": {"type": "matchRepository"},
            }]},
            "dir": {"": [{"type": "insecureAcceptAnything"}]},
        },
    });
    std::fs::write(dir.path().join("policy.json"), policy.to_string()).expect("policy.json");
    let registries = dir.path().join("registries.d");
    std::fs::create_dir(&registries).expect("registries.d");
    std::fs::write(
        registries.join("any.yaml"),
        format!("docker:\n  \"{host}\":\n    use-sigstore-attachments: true\n"),
    )
    .expect("registries.d/any.yaml");
    let mut command = Command::new(skopeo);
    command
        .arg("--policy")
        .arg(dir.path().join("policy.json"))
        .arg("--registries.d")
        .arg(&registries)
        .args(["copy", "--all", "--src-tls-verify=false"]);
    if let Some((user, password)) = credentials {
        command.arg("--src-creds").arg(format!("{user}:{password}"));
    }
    let output = command
        .arg(format!("docker://{reference}"))
        .arg(format!("dir:{}", dir.path().join("out").display()))
        .env("HOME", dir.path())
        .output()
        .expect("upstream skopeo runs");
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// Copies the signature manifest of `image`'s index onto its first child's
/// `sha256-<hex>.sig` tag in `repository` (a signature for one digest must
/// verify no other) and returns that child's digest.
pub async fn copy_index_signature_onto_first_child(
    repository: &dyn Repository,
    image: &TestImage,
) -> Digest {
    let index_signatures = repository
        .get_manifest(ManifestRef::Tag(&image.digest().signature_tag()))
        .await
        .unwrap()
        .expect("the index is signed");
    let child = image.manifests[0].digest.clone();
    repository
        .put_manifest(&index_signatures, Some(&child.signature_tag()))
        .await
        .unwrap();
    child
}

static REPORTED_JS: Once = Once::new();

/// sigstore-js (`@sigstore/verify`), installed by `scripts/test` into
/// `~/.cache/quayside/sigstore-js`: the `node_modules` folder, or `None`
/// (said once) where it is absent and not required.
pub fn sigstore_js() -> Option<PathBuf> {
    let path = installed("QUAYSIDE_SIGSTORE_JS", "sigstore-js/node_modules")?;
    if path.join("@sigstore/verify").is_dir() {
        return Some(path);
    }
    if std::env::var("QUAYSIDE_REQUIRE_SIGSTORE_JS").as_deref() == Ok("1") {
        panic!("sigstore-js is required but {} is absent", path.display());
    }
    REPORTED_JS.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "\nquayside: the sigstore-js bundle verification tests did NOT run: no {} \
             (run `scripts/test`, which installs it from npm).\n",
            path.display()
        );
    });
    None
}

/// sigstore-js's verdict on `bundle` as a signature by `public_key_pem` of
/// the image `digest` (`tests/tools/verify-bundle.cjs` says which checks):
/// `Ok` when it verifies, `Err` with its words when it refuses.
pub fn sigstore_js_verifies(
    node_modules: &Path,
    bundle: &[u8],
    public_key_pem: &str,
    digest: &Digest,
) -> Result<(), String> {
    run_verify_bundle(node_modules, bundle, public_key_pem, digest, &[])
}

/// sigstore-js's verdict on `attestation` as a quayside promotion
/// attestation by `public_key_pem` about `digest`, whose predicate names
/// `commit` and the target `tag`.
pub fn sigstore_js_verifies_promotion(
    node_modules: &Path,
    attestation: &[u8],
    public_key_pem: &str,
    digest: &Digest,
    commit: &str,
    tag: &str,
) -> Result<(), String> {
    run_verify_bundle(
        node_modules,
        attestation,
        public_key_pem,
        digest,
        &[
            quayside::signing::provenance::PROMOTION_PREDICATE_TYPE,
            commit,
            tag,
        ],
    )
}

fn run_verify_bundle(
    node_modules: &Path,
    bundle: &[u8],
    public_key_pem: &str,
    digest: &Digest,
    extra: &[&str],
) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let bundle_path = dir.path().join("bundle.sigstore.json");
    let key_path = dir.path().join("key.pub");
    std::fs::write(&bundle_path, bundle).expect("write the bundle");
    std::fs::write(&key_path, public_key_pem).expect("write the key");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/verify-bundle.cjs");
    let output = Command::new("node")
        .arg(&script)
        .arg(&bundle_path)
        .arg(&key_path)
        .arg(digest.hex())
        .args(extra)
        .env("NODE_PATH", node_modules)
        .output()
        .expect("run node");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    match (output.status.success(), said.trim()) {
        (true, "verified") => Ok(()),
        _ => Err(said),
    }
}
