//! Scratch directories for end-to-end runs against registries: a
//! `releases.toml` naming `http://` source and target registries, the
//! quickstart's demo key pair beside it, and `skopeo` to push the quickstart's
//! OCI layouts into a registry the way a CI build would.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One declared release: service, tag, digest.
pub type Declared<'a> = (&'a str, &'a str, &'a str);

/// The quickstart directory (OCI layouts and the demo key pair).
pub fn quickstart() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart")
}

/// A new temporary directory holding the demo signing key pair.
pub fn scratch_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for key in ["demo-cosign.key", "demo-cosign.pub"] {
        std::fs::copy(quickstart().join(key), dir.path().join(key)).expect("copy the demo key");
    }
    dir
}

/// A `releases.toml` whose registries are `source` and `target` (full
/// locations such as `http://127.0.0.1:5000/dev`), without a vulnerability
/// source, signing with the demo key; services in order of first mention.
pub fn releases_toml(source: &str, target: &str, releases: &[Declared<'_>]) -> String {
    let mut text = format!(
        "version = 1\n\n[registries]\nsource = \"{source}\"\ntarget = \"{target}\"\n\n\
         [policy]\nvulnerability_source = \"none\"\n\n\
         [signing]\nkey = \"demo-cosign.key\"\npublic_key = \"demo-cosign.pub\"\n"
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
