//! The committed `examples/quickstart/` data is what the README promises:
//! real two-platform images in `dev/`, a release in `prod/` signed in both
//! default formats, and a `releases.toml` whose digests point at them.

use futures::StreamExt;
use quayside::config::location::RepositoryLocation;
use quayside::digest::Digest;
use quayside::registry::layout::LayoutRepository;
use quayside::registry::{ManifestKind, ManifestRef, Repository};
use quayside::signing::{PublicKey, bundle, bundles, store};
use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;

fn quickstart() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart")
}

fn repository(registry: &str, service: &str) -> LayoutRepository {
    let base = RepositoryLocation::parse(&format!("oci:{registry}"), &quickstart()).unwrap();
    LayoutRepository::new(base.child(service))
}

async fn blob_bytes(repository: &LayoutRepository, digest: &Digest) -> Vec<u8> {
    let mut stream = repository.get_blob(digest).await.unwrap().stream;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

/// Checks one tagged image: two platforms, each a real image whose config
/// names the platform and whose diff_id is the uncompressed layer's digest.
async fn check_image(repository: &LayoutRepository, service: &str, tag: &str) -> Digest {
    let index = repository
        .get_manifest(ManifestRef::Tag(tag))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{service}:{tag} is missing"));
    let children = index.children().unwrap();
    let platforms: Vec<String> = children
        .iter()
        .map(|child| child.platform.as_ref().unwrap().to_string())
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    for child in &children {
        let manifest = repository
            .get_manifest(ManifestRef::Digest(&child.digest))
            .await
            .unwrap()
            .unwrap();
        let ManifestKind::Image { config, layers } = manifest.kind().unwrap() else {
            panic!("{service}:{tag} child {} is not an image", child.digest);
        };
        let config: serde_json::Value = serde_json::from_slice(
            &repository
                .get_small_blob(&config.digest, 64 * 1024)
                .await
                .unwrap(),
        )
        .unwrap();
        let platform = child.platform.as_ref().unwrap();
        assert_eq!(config["architecture"], platform.architecture.as_str());
        assert_eq!(config["os"], "linux");
        assert_eq!(layers.len(), 1);
        let compressed = blob_bytes(repository, &layers[0].digest).await;
        assert!(compressed.len() < 4096, "layers stay small");
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(compressed.as_slice())
            .read_to_end(&mut tar)
            .unwrap();
        assert_eq!(
            config["rootfs"]["diff_ids"][0],
            Digest::of_bytes(&tar).as_str()
        );
        let mut archive = tar::Archive::new(tar.as_slice());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|entry| entry.unwrap().path().unwrap().display().to_string())
            .collect();
        assert!(
            names.contains(&format!("etc/{service}-release")),
            "{names:?}"
        );
    }
    index.digest
}

fn declared_releases() -> Vec<(String, String, Digest)> {
    let text = std::fs::read_to_string(quickstart().join("releases.toml")).unwrap();
    let document: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(document["registries"]["source"].as_str(), Some("oci:dev"));
    assert_eq!(document["registries"]["target"].as_str(), Some("oci:prod"));
    let mut releases = Vec::new();
    for (service, table) in document["services"].as_table().unwrap() {
        for (tag, digest) in table["releases"].as_table().unwrap() {
            let digest = Digest::parse(digest.as_str().unwrap()).unwrap();
            releases.push((service.clone(), tag.clone(), digest));
        }
    }
    releases
}

#[tokio::test]
async fn dev_holds_distinct_two_platform_images() {
    for (service, minimum) in [("gateway", 3), ("datastorage", 2)] {
        let dev = repository("dev", service);
        let mut distinct = BTreeSet::new();
        for tag in dev.list_tags().await.unwrap() {
            distinct.insert(check_image(&dev, service, &tag).await);
        }
        assert!(distinct.len() >= minimum, "{service}: {distinct:?}");
    }
}

#[tokio::test]
async fn prod_holds_one_signed_release_of_gateway() {
    let prod = repository("prod", "gateway");
    let released = check_image(&prod, "gateway", "v1.0.0").await;
    let release_tags: Vec<String> = prod
        .list_tags()
        .await
        .unwrap()
        .into_iter()
        // `.sig` tags, and the bundles' fallback index tag `sha256-<hex>`.
        .filter(|tag| !tag.starts_with("sha256-"))
        .collect();
    assert_eq!(release_tags, ["v1.0.0"]);
    let datastorage = repository("prod", "datastorage");
    assert!(datastorage.list_tags().await.unwrap().is_empty());

    let public =
        PublicKey::from_pem(&std::fs::read(quickstart().join("demo-cosign.pub")).unwrap()).unwrap();
    let identity = prod.location().signed_identity();
    assert_eq!(identity, "prod/gateway");
    let index = prod
        .get_manifest(ManifestRef::Digest(&released))
        .await
        .unwrap()
        .unwrap();
    // The bundle format (a layout has no referrers API: the fallback index).
    let bundles = bundles::read_bundles(&prod, &released, bundles::Wanted::Signatures)
        .await
        .unwrap();
    assert_eq!(bundles.bundles.len(), 1, "one bundle in the fallback index");
    assert!(
        bundle::verify(&bundles.bundles[0], &public, &released, &identity).is_ok(),
        "the bundle of {released} is not a valid demo signature"
    );
    let mut signed = vec![released];
    signed.extend(
        index
            .children()
            .unwrap()
            .into_iter()
            .map(|child| child.digest),
    );
    for digest in signed {
        let entries = store::read_signatures(&prod, &digest).await.unwrap();
        assert!(
            entries
                .iter()
                .any(|entry| public.accepts(entry, &digest, &identity)),
            "{digest} has no valid demo signature"
        );
    }
}

#[tokio::test]
async fn releases_toml_points_at_dev_builds_and_prod_v1() {
    let releases = declared_releases();
    let declared: BTreeSet<(&str, &str)> = releases
        .iter()
        .map(|(service, tag, _)| (service.as_str(), tag.as_str()))
        .collect();
    let expected = [
        ("gateway", "v1.0.0"),
        ("gateway", "v1.1.0-rc1"),
        ("datastorage", "v1.0.0"),
    ];
    assert_eq!(declared, BTreeSet::from(expected));
    for (service, tag, digest) in &releases {
        assert!(
            repository("dev", service)
                .manifest_exists(digest)
                .await
                .unwrap(),
            "{service} {tag}: {digest} is not in dev"
        );
    }
    let prod = repository("prod", "gateway");
    let (_, _, released) = releases
        .iter()
        .find(|(service, tag, _)| service == "gateway" && tag == "v1.0.0")
        .unwrap();
    assert_eq!(
        prod.resolve_tag("v1.0.0").await.unwrap().as_ref(),
        Some(released)
    );

    // The commented-out release must name a digest that no dev repository has.
    let text = std::fs::read_to_string(quickstart().join("releases.toml")).unwrap();
    let line = text
        .lines()
        .find(|line| line.starts_with("# REFUSE: \"v1.1.0\" = "))
        .expect("the commented-out refusal example");
    let digest = Digest::parse(line.rsplit('"').nth(1).unwrap()).unwrap();
    for service in ["gateway", "datastorage"] {
        assert!(
            !repository("dev", service)
                .manifest_exists(&digest)
                .await
                .unwrap()
        );
    }
}
