//! Small in-memory test images, deterministic from a seed: a two-platform OCI
//! index whose children each have a config and one layer, a single-platform
//! image, and helpers that push them through any `Repository`.

use bytes::Bytes;
use quayside::digest::Digest;
use quayside::registry::manifest::{OCI_CONFIG, OCI_INDEX, OCI_MANIFEST};
use quayside::registry::{BlobReader, RawManifest, Repository};

const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

pub struct TestImage {
    pub index: RawManifest,
    /// One image manifest per platform.
    pub manifests: Vec<RawManifest>,
    /// Every config and layer blob.
    pub blobs: Vec<(Digest, Bytes)>,
}

impl TestImage {
    pub fn digest(&self) -> &Digest {
        &self.index.digest
    }
}

/// A single-platform image (manifest, config, layer), for tests that need
/// only one manifest.
pub fn single_image(seed: &str, platform: (&str, &str)) -> (RawManifest, Vec<(Digest, Bytes)>) {
    let (os, architecture) = platform;
    let layer = Bytes::from(format!("layer of {seed} for {os}/{architecture}\n").repeat(64));
    let layer_digest = Digest::of_bytes(&layer);
    let config = Bytes::from(format!(
        r#"{{"architecture":"{architecture}","os":"{os}","rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}},"config":{{"Labels":{{"seed":"{seed}"}}}}}}"#
    ));
    let config_digest = Digest::of_bytes(&config);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"{LAYER}","digest":"{layer_digest}","size":{}}}]}}"#,
        config.len(),
        layer.len()
    );
    let manifest = RawManifest::from_bytes(Bytes::from(manifest), Some(OCI_MANIFEST))
        .expect("test manifest is valid");
    (
        manifest,
        vec![(config_digest, config), (layer_digest, layer)],
    )
}

/// A linux/amd64 + linux/arm64 index.
pub fn two_platform_image(seed: &str) -> TestImage {
    let mut manifests = Vec::new();
    let mut blobs = Vec::new();
    let mut children = Vec::new();
    for (os, architecture) in [("linux", "amd64"), ("linux", "arm64")] {
        let (manifest, image_blobs) = single_image(seed, (os, architecture));
        children.push(format!(
            r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":{},"platform":{{"architecture":"{architecture}","os":"{os}"}}}}"#,
            manifest.digest,
            manifest.bytes.len()
        ));
        manifests.push(manifest);
        blobs.extend(image_blobs);
    }
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
        children.join(",")
    );
    let index =
        RawManifest::from_bytes(Bytes::from(index), Some(OCI_INDEX)).expect("test index is valid");
    TestImage {
        index,
        manifests,
        blobs,
    }
}

/// Pushes blobs, then platform manifests, then the index (the order
/// registries require), tagging the index with `tag` if given.
pub async fn push(repository: &dyn Repository, image: &TestImage, tag: Option<&str>) {
    for (digest, bytes) in &image.blobs {
        if !repository.blob_exists(digest).await.expect("blob HEAD") {
            repository
                .put_blob(digest, BlobReader::from_bytes(bytes.clone()))
                .await
                .expect("blob upload");
        }
    }
    for manifest in &image.manifests {
        repository
            .put_manifest(manifest, None)
            .await
            .expect("manifest upload");
    }
    repository
        .put_manifest(&image.index, None)
        .await
        .expect("index upload");
    if let Some(tag) = tag {
        repository
            .put_manifest(&image.index, Some(tag))
            .await
            .expect("tagging the index");
    }
}

/// Pushes a single-platform image built from `seed` (blobs, then the
/// manifest tagged `tag`) and returns its digest.
pub async fn push_single(repository: &dyn Repository, seed: &str, tag: &str) -> Digest {
    let (manifest, blobs) = single_image(seed, ("linux", "amd64"));
    for (digest, bytes) in blobs {
        repository
            .put_blob(&digest, BlobReader::from_bytes(bytes))
            .await
            .expect("blob upload");
    }
    repository
        .put_manifest(&manifest, Some(tag))
        .await
        .expect("manifest upload");
    manifest.digest
}
