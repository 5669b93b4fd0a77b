//! Many releases at once: deterministic two-platform images pushed to a
//! registry's `dev/<service>` repositories, the releases that declare them,
//! and their promotion with `quayside apply`.

use crate::quayside::Quayside;
use crate::support::images::{push, two_platform_image};
use crate::support::releases::{Declared, releases_toml};
use futures::{StreamExt, stream};
use quayside::config::location::{RepositoryLocation, Scheme};
use quayside::registry::Connector;
use std::path::Path;

/// One declared release, owned.
#[derive(Clone, Debug)]
pub struct Release {
    pub service: String,
    pub tag: String,
    pub digest: String,
}

/// Borrowed form for [`releases_toml`].
pub fn declared(releases: &[Release]) -> Vec<Declared<'_>> {
    releases
        .iter()
        .map(|r| (r.service.as_str(), r.tag.as_str(), r.digest.as_str()))
        .collect()
}

/// `svc-00`, `svc-01`, …
pub fn service_name(index: usize) -> String {
    format!("svc-{index:02}")
}

/// Pushes `releases` distinct images for each of `services` services to
/// `http://<host>/dev/<service>` (tagged `build-<n>`, as CI would) and returns
/// the releases `v1.<n>.0` that declare them.
pub async fn push_images(
    connector: &Connector,
    host: &str,
    services: usize,
    releases: usize,
) -> Vec<Release> {
    let work: Vec<(String, usize)> = (0..services)
        .flat_map(|s| (0..releases).map(move |r| (service_name(s), r)))
        .collect();
    stream::iter(work)
        .map(|(service, n)| async move {
            let repository = connector.open(&RepositoryLocation::Remote {
                scheme: Scheme::Http,
                host: host.to_string(),
                path: format!("dev/{service}"),
            });
            let image = two_platform_image(&format!("{service} build {n}"));
            push(repository.as_ref(), &image, Some(&format!("build-{n}"))).await;
            Release {
                tag: format!("v1.{n}.0"),
                digest: image.digest().to_string(),
                service,
            }
        })
        .buffered(8)
        .collect()
        .await
}

/// Writes `releases.toml` for `http://<source>/dev` -> `http://<target>/prod`
/// and returns its text.
pub fn write_file(dir: &Path, source: &str, target: &str, releases: &[Release]) -> String {
    let text = releases_toml(
        &format!("http://{source}/dev"),
        &format!("http://{target}/prod"),
        &declared(releases),
    );
    std::fs::write(dir.join("releases.toml"), &text).expect("write releases.toml");
    text
}

/// `quayside apply` in `dir`; panics with its output unless it exits 0.
pub fn promote(dir: &Path) {
    let out = Quayside::new(dir).args(["apply"]).run();
    assert_eq!(out.code, 0, "quayside apply: {out:?}");
}
