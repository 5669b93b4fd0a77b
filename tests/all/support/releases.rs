//! Scratch directories for end-to-end runs against registries: a
//! `releases.toml` naming `http://` source and target registries, the
//! quickstart's demo key pair beside it, and `skopeo` to push the quickstart's
//! OCI layouts into a registry the way a CI build would.

use quayside::digest::Digest;
use quayside::signing::PublicKey;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One declared release: service, tag, digest.
pub type Declared<'a> = (&'a str, &'a str, &'a str);

/// `(tag, digest)` releases of one service as [`Declared`] rows.
pub fn declared_for<'a>(service: &'a str, releases: &[(&'a str, &'a Digest)]) -> Vec<Declared<'a>> {
    releases
        .iter()
        .map(|(tag, digest)| (service, *tag, digest.as_str()))
        .collect()
}

/// The demo key pair's file names, as [`scratch_dir`] copies them.
pub const DEMO_KEY: &str = "demo-cosign.key";
pub const DEMO_PUBLIC_KEY: &str = "demo-cosign.pub";

/// One service of a `releases.toml`: its name and `(tag, digest)` releases.
#[derive(Clone, Debug)]
pub struct ServiceReleases {
    pub name: String,
    pub releases: Vec<(String, Digest)>,
}

impl ServiceReleases {
    pub fn new(name: &str, releases: &[(&str, &Digest)]) -> Self {
        ServiceReleases {
            name: name.to_string(),
            releases: releases
                .iter()
                .map(|(tag, digest)| (tag.to_string(), (*digest).clone()))
                .collect(),
        }
    }

    /// Every release of `services`, in order.
    pub fn declared(services: &[ServiceReleases]) -> Vec<Declared<'_>> {
        services
            .iter()
            .flat_map(|service| {
                service
                    .releases
                    .iter()
                    .map(|(tag, digest)| (service.name.as_str(), tag.as_str(), digest.as_str()))
            })
            .collect()
    }
}

/// The quickstart directory (OCI layouts and the demo key pair).
pub fn quickstart() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart")
}

/// A new temporary directory holding the demo signing key pair.
pub fn scratch_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for key in [DEMO_KEY, DEMO_PUBLIC_KEY] {
        std::fs::copy(quickstart().join(key), dir.path().join(key)).expect("copy the demo key");
    }
    dir
}

/// The demo public key in a [`scratch_dir`].
pub fn demo_public_key(dir: &Path) -> PublicKey {
    PublicKey::load(&dir.join(DEMO_PUBLIC_KEY)).expect("the demo public key")
}

/// The `[policy]` lines of a file that does not scan.
pub const NO_SCANNING: &str = "vulnerability_source = \"none\"\n";

/// The `[signing]` lines for a key pair beside the file.
pub fn signing_lines(key: &str, public_key: &str) -> String {
    format!("key = \"{key}\"\npublic_key = \"{public_key}\"\n")
}

/// A `releases.toml` whose registries are `source` and `target` (full
/// locations such as `http://127.0.0.1:5000/dev`), without a vulnerability
/// source, signing with the demo key; services in order of first mention.
pub fn releases_toml(source: &str, target: &str, releases: &[Declared<'_>]) -> String {
    releases_toml_with(
        source,
        target,
        NO_SCANNING,
        &signing_lines(DEMO_KEY, DEMO_PUBLIC_KEY),
        releases,
    )
}

/// [`releases_toml`] with the given `[policy]` and `[signing]` lines (each
/// ending in a newline).
pub fn releases_toml_with(
    source: &str,
    target: &str,
    policy: &str,
    signing: &str,
    releases: &[Declared<'_>],
) -> String {
    let mut text = format!(
        "version = 1\n\n[registries]\nsource = \"{source}\"\ntarget = \"{target}\"\n\n\
         [policy]\n{policy}\n[signing]\n{signing}"
    );
    let mut services: Vec<&str> = Vec::new();
    for (service, _, _) in releases {
        if !services.contains(service) {
            services.push(service);
        }
    }
    for service in services {
        text.push_str(&format!("\n[services.{service}.releases]\n"));
        for (_, tag, digest) in releases.iter().filter(|(s, _, _)| *s == service) {
            text.push_str(&format!("\"{tag}\" = \"{digest}\"\n"));
        }
    }
    text
}

pub fn write_releases(dir: &Path, source: &str, target: &str, releases: &[Declared<'_>]) {
    std::fs::write(
        dir.join("releases.toml"),
        releases_toml(source, target, releases),
    )
    .expect("write releases.toml");
}

/// Pushes the quickstart's `dev/<service>` layout image tagged `tag` to
/// `docker://<destination>` (`host/repository:tag`) with skopeo, keeping its
/// digest.
pub fn skopeo_push(service: &str, tag: &str, destination: &str) {
    super::tools::require(super::tools::SKOPEO);
    let layout = quickstart().join("dev").join(service);
    let output = Command::new("skopeo")
        .args([
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
        ])
        .arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker://{destination}"))
        .output()
        .expect("skopeo runs");
    assert!(
        output.status.success(),
        "skopeo copy {service}:{tag} to {destination} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
