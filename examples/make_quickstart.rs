//! Generates `examples/quickstart/`: two OCI layout "registries" (`dev/` with
//! CI builds of `gateway` and `datastorage`, `prod/` with one release of
//! `gateway` signed in both default formats: the legacy `.sig` tags and a
//! Sigstore bundle in the referrers fallback index tag), a demo key pair and
//! the `releases.toml` that promotes more of them.
//!
//! Run with `cargo run --example make_quickstart [OUTPUT_DIR]`. The output
//! is byte-identical on every run (fixed tar headers and mtimes, fixed gzip
//! header, deterministic RFC 6979 signatures), so it lives in git and a
//! re-run shows no diff. The key pair is created only when missing.

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use flate2::{Compression, GzBuilder};
use futures::StreamExt;
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey, EncodePublicKey, LineEnding};
use quayside::config::location::RepositoryLocation;
use quayside::digest::Digest;
use quayside::registry::layout::LayoutRepository;
use quayside::registry::manifest::{OCI_CONFIG, OCI_INDEX, OCI_MANIFEST};
use quayside::registry::{BlobReader, ManifestKind, ManifestRef, RawManifest, Repository};
use quayside::signing::store::SharedConfig;
use quayside::signing::{self, Payload, PublicKey, SignError, SignatureEntry, Signer, bundles};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};

const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// 2026-01-01T00:00:00Z: every timestamp in the images, for reproducibility.
const EPOCH: u64 = 1_767_225_600;
const CREATED: &str = "2026-01-01T00:00:00Z";

const PLATFORMS: [&str; 2] = ["amd64", "arm64"];

/// One CI build: a service at a version, and the mutable dev tags on it.
struct Build {
    service: &'static str,
    version: &'static str,
    tags: &'static [&'static str],
}

const BUILDS: [Build; 5] = [
    Build {
        service: "gateway",
        version: "1.0.0",
        tags: &["v1.0.0-build", "3f2a9c1"],
    },
    Build {
        service: "gateway",
        version: "1.1.0-rc1",
        tags: &["v1.1.0-rc1-build", "dev"],
    },
    Build {
        service: "gateway",
        version: "1.2.0-wip",
        tags: &["feature-x"],
    },
    Build {
        service: "datastorage",
        version: "1.0.0",
        tags: &["v1.0.0-build", "dev"],
    },
    Build {
        service: "datastorage",
        version: "1.1.0-wip",
        tags: &["feature-x"],
    },
];

/// The gateway build already released (copied, signed, tagged) in prod.
const RELEASED: (&str, &str, &str) = ("gateway", "1.0.0", "v1.0.0");

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let out = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart"),
    };
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    for registry in ["dev", "prod"] {
        let dir = out.join(registry);
        if dir.exists() {
            // Regenerate from scratch so that nothing stale survives.
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("removing the old {}", dir.display()))?;
        }
    }
    let key = ensure_key_pair(&out)?;

    let dev = RepositoryLocation::parse("oci:dev", &out)?;
    let prod = RepositoryLocation::parse("oci:prod", &out)?;
    let mut digests = Vec::new();
    for build in &BUILDS {
        let repository = LayoutRepository::new(dev.child(build.service));
        let index = write_image(&repository, build).await?;
        for tag in build.tags {
            repository.put_manifest(&index, Some(tag)).await?;
        }
        digests.push((build.service, build.version, index.digest));
    }

    let (service, version, release_tag) = RELEASED;
    let released = digest_of(&digests, service, version)?;
    let source = LayoutRepository::new(dev.child(service));
    let target = LayoutRepository::new(prod.child(service));
    release(&source, &target, &released, release_tag, &key).await?;

    let releases = releases_toml(&digests)?;
    std::fs::write(out.join("releases.toml"), releases)
        .with_context(|| format!("writing {}", out.join("releases.toml").display()))?;
    eprintln!("quickstart written to {}", out.display());
    Ok(())
}

fn digest_of(digests: &[(&str, &str, Digest)], service: &str, version: &str) -> Result<Digest> {
    digests
        .iter()
        .find(|(s, v, _)| *s == service && *v == version)
        .map(|(_, _, digest)| digest.clone())
        .with_context(|| format!("no build of {service} {version}"))
}

/// The demo key pair, created only when missing so that re-runs (and the
/// signatures made with it) stay byte-identical.
/// Signs with p256 (RFC 6979 nonces) rather than quayside's own signer, whose
/// nonces are random.
fn ensure_key_pair(out: &Path) -> Result<p256::ecdsa::SigningKey> {
    let private = out.join("demo-cosign.key");
    let public = out.join("demo-cosign.pub");
    if !private.exists() {
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let pem = secret
            .to_pkcs8_pem(LineEnding::LF)
            .context("encoding the demo key")?;
        let public_pem = secret
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .context("encoding the demo public key")?;
        std::fs::write(&private, pem.as_bytes())
            .with_context(|| format!("writing {}", private.display()))?;
        std::fs::write(&public, public_pem)
            .with_context(|| format!("writing {}", public.display()))?;
    }
    let pem = std::fs::read_to_string(&private)
        .with_context(|| format!("reading {}", private.display()))?;
    let secret = p256::SecretKey::from_pkcs8_pem(&pem).context("reading the demo key")?;
    Ok(p256::ecdsa::SigningKey::from(secret))
}

/// Writes one build (a layer and config per platform, the platform
/// manifests, their index) and returns the index.
async fn write_image(repository: &LayoutRepository, build: &Build) -> Result<RawManifest> {
    let mut children = Vec::new();
    for arch in PLATFORMS {
        let tar = layer_tar(build.service, build.version, arch)?;
        let layer = gzip(&tar)?;
        let config = config_json(build, arch, &Digest::of_bytes(&tar));
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, &config),
            "layers": [descriptor(LAYER_GZIP, &layer)],
            "annotations": {
                "org.opencontainers.image.version": build.version,
                "org.opencontainers.image.created": CREATED,
            },
        });
        let manifest = to_manifest(&manifest)?;
        for blob in [layer, config] {
            let digest = Digest::of_bytes(&blob);
            repository
                .put_blob(&digest, BlobReader::from_bytes(Bytes::from(blob)))
                .await?;
        }
        repository.put_manifest(&manifest, None).await?;
        let mut child = descriptor(OCI_MANIFEST, &manifest.bytes);
        child["platform"] = json!({"architecture": arch, "os": "linux"});
        children.push(child);
    }
    let index = to_manifest(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": children,
    }))?;
    repository.put_manifest(&index, None).await?;
    Ok(index)
}

/// A tar holding `/etc/<service>-release`, with fixed owners and mtimes.
fn layer_tar(service: &str, version: &str, arch: &str) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut directory = header(tar::EntryType::Directory, 0o755, 0);
    builder.append_data(&mut directory, "etc/", std::io::empty())?;
    let content = format!("NAME={service}\nVERSION={version}\nPLATFORM=linux/{arch}\n");
    let mut file = header(tar::EntryType::Regular, 0o644, content.len() as u64);
    builder.append_data(
        &mut file,
        format!("etc/{service}-release"),
        content.as_bytes(),
    )?;
    Ok(builder.into_inner()?)
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_mtime(EPOCH);
    header.set_uid(0);
    header.set_gid(0);
    header
}

/// Gzip with a fixed header: no file name, mtime 0, so equal input gives
/// equal bytes.
fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::best());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?)
}

fn config_json(build: &Build, arch: &str, diff_id: &Digest) -> Vec<u8> {
    let config = json!({
        "created": CREATED,
        "architecture": arch,
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Labels": {
                "org.opencontainers.image.title": build.service,
                "org.opencontainers.image.version": build.version,
            },
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id.as_str()]},
        "history": [{
            "created": CREATED,
            "created_by": format!("quayside make_quickstart: /etc/{}-release", build.service),
        }],
    });
    json_bytes(&config)
}

fn json_bytes(value: &Value) -> Vec<u8> {
    // serde_json keeps insertion order (preserve_order), so the bytes are stable.
    serde_json::to_vec(value).unwrap_or_else(|_| unreachable!("JSON values always serialise"))
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({
        "mediaType": media_type,
        "digest": Digest::of_bytes(bytes).as_str(),
        "size": bytes.len(),
    })
}

fn to_manifest(value: &Value) -> Result<RawManifest> {
    Ok(RawManifest::from_bytes(
        Bytes::from(json_bytes(value)),
        None,
    )?)
}

/// Signs with the demo key's RFC 6979 (deterministic) nonces.
struct DemoSigner<'a>(&'a p256::ecdsa::SigningKey);

impl Signer for DemoSigner<'_> {
    fn sign(&self, payload: &[u8]) -> Result<String, SignError> {
        let signature: p256::ecdsa::Signature = self.0.sign(payload);
        Ok(BASE64.encode(signature.to_der().as_bytes()))
    }
}

/// What `quayside apply` does for a `create`, done here by hand: copy by
/// digest, sign the index and every child, attach a bundle to the index,
/// only then tag.
async fn release(
    source: &LayoutRepository,
    target: &LayoutRepository,
    digest: &Digest,
    tag: &str,
    key: &p256::ecdsa::SigningKey,
) -> Result<()> {
    let Some(index) = source.get_manifest(ManifestRef::Digest(digest)).await? else {
        bail!("{digest} is not in {}", source.location());
    };
    let children = index.children()?;
    for child in &children {
        let Some(manifest) = source
            .get_manifest(ManifestRef::Digest(&child.digest))
            .await?
        else {
            bail!("child {} is not in {}", child.digest, source.location());
        };
        let ManifestKind::Image { config, layers } = manifest.kind()? else {
            bail!("child {} is not an image manifest", child.digest);
        };
        for blob in std::iter::once(&config).chain(&layers) {
            copy_blob(source, target, &blob.digest).await?;
        }
        target.put_manifest(&manifest, None).await?;
    }
    target.put_manifest(&index, None).await?;

    let identity = target.location().signed_identity();
    let signer = DemoSigner(key);
    for signed in children.iter().map(|c| &c.digest).chain([digest]) {
        let payload = Payload::new(identity.clone(), signed.clone()).to_bytes();
        let entry = SignatureEntry {
            signature: signer.sign(&payload)?,
            payload: Bytes::from(payload),
        };
        signing::store::add_signature(target, signed, &entry).await?;
    }
    // The bundle as apply writes it, named by the key's fingerprint and
    // stamped with the images' fixed time.
    let public_pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .context("encoding the demo public key")?;
    let hint = PublicKey::from_pem(public_pem.as_bytes())?.fingerprint();
    let bundle = signing::bundle::create(&signer, &hint, &identity, digest)?;
    let mut stored = bundles::read_bundles(target, digest, bundles::Wanted::Signatures).await?;
    let referrer = signing::referrer::bundle_manifest(
        &index,
        Bytes::from(bundle),
        signing::bundle::SIGN_PREDICATE_TYPE,
        CREATED,
    )?;
    let shared = SharedConfig::default();
    bundles::attach(target, digest, &[referrer], &mut stored, &shared).await?;
    target.put_manifest(&index, Some(tag)).await?;
    Ok(())
}

async fn copy_blob(
    source: &LayoutRepository,
    target: &LayoutRepository,
    digest: &Digest,
) -> Result<()> {
    let mut blob = source.get_blob(digest).await?;
    let mut bytes = Vec::new();
    while let Some(chunk) = blob.stream.next().await {
        bytes.extend_from_slice(&chunk?);
    }
    target
        .put_blob(digest, BlobReader::from_bytes(Bytes::from(bytes)))
        .await?;
    Ok(())
}

fn releases_toml(digests: &[(&str, &str, Digest)]) -> Result<String> {
    let gateway_v1 = digest_of(digests, "gateway", "1.0.0")?;
    let gateway_rc = digest_of(digests, "gateway", "1.1.0-rc1")?;
    let datastorage_v1 = digest_of(digests, "datastorage", "1.0.0")?;
    let never_built = Digest::of_bytes(b"quayside quickstart: an image CI never built");
    Ok(format!(
        r#"# quayside quickstart: `dev/` and `prod/` are OCI layout directories standing
# in for a development and a production registry. Generated by
# `cargo run --example make_quickstart`; edit it freely to experiment.
version = 1

[registries]
source = "oci:dev"
target = "oci:prod"

[policy]
# Layout directories have no vulnerability scanner: say so explicitly (the
# plan shows a scan-disabled warning). Real registries keep the default "quay".
vulnerability_source = "none"

[signing]
# DEMO ONLY: this key pair is published in the repository. Never use it for
# production images; make your own with `quayside generate-key-pair`.
key = "demo-cosign.key"
public_key = "demo-cosign.pub"

[services.gateway.releases]
# Already released and signed in prod/gateway: the plan says unchanged.
"v1.0.0" = "{gateway_v1}"
# The build CI tagged `dev`: the plan says create (copy, sign, then tag).
"v1.1.0-rc1" = "{gateway_rc}"
# Uncomment the next line (delete its `# REFUSE: ` prefix) to see the plan refuse
# (source-missing, exit 3): no dev repository holds this digest, so there is
# nothing to copy.
# REFUSE: "v1.1.0" = "{never_built}"

[services.datastorage.releases]
# Not in prod yet: create.
"v1.0.0" = "{datastorage_v1}"
"#
    ))
}
