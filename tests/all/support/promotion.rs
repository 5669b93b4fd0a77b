//! A promotion set-up for the apply tests: a real registry with `dev/`
//! images, a counting proxy in front of it (what quayside talks to), a
//! scratch folder holding `releases.toml` and the quickstart's demo key pair,
//! and helpers to run the CLI and to fingerprint the registry's storage.

use crate::quayside::{Outcome, Quayside};
use crate::support::images::{TestImage, push, push_single, two_platform_image};
use crate::support::proxy::Proxy;
use crate::support::registry::TestRegistry;
use crate::support::releases::{
    DEMO_KEY, DEMO_PUBLIC_KEY, NO_SCANNING, ServiceReleases, demo_public_key, releases_toml_with,
    scratch_dir, signing_lines,
};
use bytes::Bytes;
use quayside::config::location::RepositoryLocation;
use quayside::digest::Digest;
use quayside::digest::Hasher;
use quayside::registry::manifest::{OCI_CONFIG, OCI_INDEX, OCI_MANIFEST};
use quayside::registry::{Connector, RawManifest, Repository};
use quayside::signing::PublicKey;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct Promotion {
    pub registry: TestRegistry,
    pub proxy: Proxy,
    pub dir: tempfile::TempDir,
    /// Straight to the registry, bypassing the proxy (set-up and checks).
    pub connector: Arc<Connector>,
}

impl Promotion {
    pub async fn start() -> Self {
        let registry = TestRegistry::start();
        let proxy = Proxy::start(&registry.host()).await;
        Promotion {
            registry,
            proxy,
            dir: scratch_dir(),
            connector: Arc::new(Connector::new(Default::default())),
        }
    }

    /// What quayside is pointed at: the proxy.
    pub fn host(&self) -> String {
        self.proxy.host()
    }

    /// `<service>` under `path` on the registry itself.
    pub fn direct(&self, path: &str, service: &str) -> Arc<dyn Repository> {
        self.connector
            .open(&self.registry.location(&format!("{path}/{service}")))
    }

    /// Where the watcher reads `<path>/<service>` (the registry itself).
    pub fn direct_location(&self, path: &str, service: &str) -> RepositoryLocation {
        self.registry.location(&format!("{path}/{service}"))
    }

    /// The `docker-reference` apply signs for `<path>/<service>`.
    pub fn identity(&self, path: &str, service: &str) -> String {
        format!("{}/{path}/{service}", self.host())
    }

    pub fn demo_public_key(&self) -> PublicKey {
        demo_public_key(self.dir.path())
    }

    /// Pushes a two-platform image into `dev/<service>`, tagged `dev`.
    pub async fn push_two_platform(&self, service: &str, seed: &str) -> TestImage {
        let image = two_platform_image(seed);
        push(self.direct("dev", service).as_ref(), &image, Some("dev")).await;
        image
    }

    /// Pushes a single-platform image into `dev/<service>`, tagged `dev`.
    pub async fn push_single(&self, service: &str, seed: &str) -> Digest {
        push_single(self.direct("dev", service).as_ref(), seed, "dev").await
    }

    /// Pushes three services' images and declares them: gateway, an rc and
    /// its final on one two-platform image; datastorage, a two-platform
    /// image; notifier, a single-platform image. Returns the declarations
    /// and the three digests.
    pub async fn three_services(&self) -> (Vec<ServiceReleases>, Digest, Digest, Digest) {
        let gateway = self.push_two_platform("gateway", "gateway 1").await;
        let datastorage = self.push_two_platform("datastorage", "datastorage 1").await;
        let notifier = self.push_single("notifier", "notifier 1").await;
        let services = vec![
            ServiceReleases::new(
                "gateway",
                &[
                    ("v1.0.0-rc1", gateway.digest()),
                    ("v1.0.0", gateway.digest()),
                ],
            ),
            ServiceReleases::new("datastorage", &[("v0.3.0", datastorage.digest())]),
            ServiceReleases::new("notifier", &[("v2.0.0", &notifier)]),
        ];
        (
            services,
            gateway.digest().clone(),
            datastorage.digest().clone(),
            notifier,
        )
    }

    /// Writes `releases.toml` promoting `dev/<service>` to `<target>/<service>`
    /// through the proxy, signed with the demo key, scanning off.
    pub fn write_releases(&self, target: &str, services: &[ServiceReleases]) -> PathBuf {
        self.write_releases_with_key(target, services, DEMO_KEY, DEMO_PUBLIC_KEY)
    }

    pub fn write_releases_with_key(
        &self,
        target: &str,
        services: &[ServiceReleases],
        key: &str,
        public_key: &str,
    ) -> PathBuf {
        self.write_releases_with(
            target,
            services,
            NO_SCANNING,
            &signing_lines(key, public_key),
        )
    }

    /// [`Promotion::write_releases`] with the given `[policy]` and
    /// `[signing]` lines (each ending in a newline).
    pub fn write_releases_with(
        &self,
        target: &str,
        services: &[ServiceReleases],
        policy: &str,
        signing: &str,
    ) -> PathBuf {
        let host = self.host();
        let text = releases_toml_with(
            &format!("http://{host}/dev"),
            &format!("http://{host}/{target}"),
            policy,
            signing,
            &ServiceReleases::declared(services),
        );
        let path = self.dir.path().join("releases.toml");
        std::fs::write(&path, text).expect("write releases.toml");
        path
    }

    /// The CLI, run in the scratch folder, with no password or log settings
    /// inherited from the test's environment.
    pub fn quayside(&self) -> Quayside {
        Quayside::new(self.dir.path())
            .env_remove("COSIGN_PASSWORD")
            .env_remove("COSIGN_PRIVATE_KEY")
    }

    /// Runs the CLI without blocking the runtime the proxy serves on.
    pub async fn run<I, S>(&self, args: I) -> Outcome
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        run_async(self.quayside().args(args)).await
    }

    /// A fingerprint of every file the registry stores (paths and bytes).
    pub fn storage_hash(&self) -> String {
        tree_hash(&self.registry.storage())
    }
}

pub async fn run_async(quayside: Quayside) -> Outcome {
    let output = tokio::process::Command::from(quayside.into_command())
        .kill_on_drop(true)
        .output()
        .await
        .expect("the quayside binary runs");
    Outcome::from_output(&output)
}

/// SHA-256 over the sorted relative paths and contents of a directory tree.
pub fn tree_hash(root: &Path) -> String {
    let mut files = Vec::new();
    collect_files(root, &mut files);
    files.sort();
    let mut hasher = Hasher::new();
    for file in files {
        let relative = file.strip_prefix(root).expect("under the root");
        hasher.update(relative.to_string_lossy().as_bytes());
        hasher.update(&[0]);
        hasher.update(&std::fs::read(&file).expect("read a storage file"));
        hasher.update(&[0]);
    }
    Digest::of_hasher(hasher).hex().to_string()
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            collect_files(&path, files);
        } else {
            files.push(path);
        }
    }
}

/// A two-platform image whose layers are `layer_bytes` long each (for the
/// measurements; the contents only need to be distinct per seed).
pub fn sized_two_platform_image(seed: &str, layer_bytes: usize) -> TestImage {
    let mut manifests = Vec::new();
    let mut blobs = Vec::new();
    let mut children = Vec::new();
    for architecture in ["amd64", "arm64"] {
        let line = format!("{seed} linux/{architecture}\n");
        let mut layer = line.repeat(layer_bytes / line.len() + 1);
        layer.truncate(layer_bytes);
        let layer = Bytes::from(layer);
        let layer_digest = Digest::of_bytes(&layer);
        let config = Bytes::from(format!(
            r#"{{"architecture":"{architecture}","os":"linux","rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}}}}"#
        ));
        let config_digest = Digest::of_bytes(&config);
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer_digest}","size":{}}}]}}"#,
            config.len(),
            layer.len()
        );
        let manifest = RawManifest::from_bytes(Bytes::from(manifest), Some(OCI_MANIFEST))
            .expect("a valid manifest");
        children.push(format!(
            r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":{},"platform":{{"architecture":"{architecture}","os":"linux"}}}}"#,
            manifest.digest,
            manifest.bytes.len()
        ));
        manifests.push(manifest);
        blobs.push((config_digest, config));
        blobs.push((layer_digest, layer));
    }
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
        children.join(",")
    );
    TestImage {
        index: RawManifest::from_bytes(Bytes::from(index), Some(OCI_INDEX)).expect("a valid index"),
        manifests,
        blobs,
    }
}
