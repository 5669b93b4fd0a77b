//! `oci:` layout repositories through the `Repository` trait: round trips,
//! tags, corruption, concurrency, and absent layouts.

use bytes::Bytes;
use futures::StreamExt;
use quayside::config::location::RepositoryLocation;
use quayside::digest::Digest;
use quayside::registry::layout::{LayoutFailure, LayoutRepository};
use quayside::registry::manifest::{OCI_CONFIG, OCI_INDEX, OCI_MANIFEST};
use quayside::registry::{BlobReader, ManifestRef, Mount, RawManifest, RegistryError, Repository};
use std::path::Path;
use std::sync::Arc;

fn layout(dir: &Path, name: &str) -> LayoutRepository {
    let base = RepositoryLocation::parse("oci:layouts", dir).expect("valid location");
    LayoutRepository::new(base.child(name))
}

fn layout_dir(repository: &LayoutRepository) -> std::path::PathBuf {
    match repository.location() {
        RepositoryLocation::Layout { dir, .. } => dir.clone(),
        other => panic!("expected a layout, got {other}"),
    }
}

/// A blob as a stream of several chunks, like a large layer would arrive.
fn chunked(bytes: &[u8], chunk: usize) -> BlobReader {
    let chunks: Vec<Result<Bytes, RegistryError>> = bytes
        .chunks(chunk)
        .map(Bytes::copy_from_slice)
        .map(Ok)
        .collect();
    BlobReader {
        size: Some(bytes.len() as u64),
        stream: futures::stream::iter(chunks).boxed(),
    }
}

async fn read_all(blob: BlobReader) -> Result<Vec<u8>, RegistryError> {
    let mut stream = blob.stream;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

fn image_manifest(config: &Digest, marker: &str) -> RawManifest {
    let text = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{config}","size":2}},"layers":[],"annotations":{{"marker":"{marker}"}}}}"#
    );
    RawManifest::from_bytes(Bytes::from(text), None).expect("valid manifest")
}

fn temp_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for sub in [dir.to_path_buf(), dir.join("blobs/sha256")] {
        for entry in std::fs::read_dir(sub).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.starts_with(".quayside-tmp-") {
                found.push(name);
            }
        }
    }
    found
}

#[tokio::test]
async fn a_missing_layout_is_an_empty_repository() {
    let root = tempfile::tempdir().unwrap();
    let repository = layout(root.path(), "gateway");
    let digest = Digest::of_bytes(b"nothing");
    assert!(repository.list_tags().await.unwrap().is_empty());
    assert_eq!(repository.resolve_tag("v1.0.0").await.unwrap(), None);
    assert!(!repository.manifest_exists(&digest).await.unwrap());
    assert!(!repository.blob_exists(&digest).await.unwrap());
    assert_eq!(
        repository
            .get_manifest(ManifestRef::Tag("v1.0.0"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        repository
            .get_manifest(ManifestRef::Digest(&digest))
            .await
            .unwrap(),
        None
    );
    let error = repository
        .get_blob(&digest)
        .await
        .err()
        .expect("absent blob is an error");
    assert!(
        error.to_string().contains("is not in the layout"),
        "{error}"
    );
    assert!(
        !layout_dir(&repository).exists(),
        "reads must not create the layout"
    );
}

#[tokio::test]
async fn blobs_round_trip_and_the_layout_is_created_on_first_write() {
    let root = tempfile::tempdir().unwrap();
    let repository = layout(root.path(), "gateway");
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let digest = Digest::of_bytes(&content);
    repository
        .put_blob(&digest, chunked(&content, 7_000))
        .await
        .unwrap();
    // A second put of a present blob is a no-op.
    repository
        .put_blob(&digest, chunked(&content, 50_000))
        .await
        .unwrap();
    assert!(repository.blob_exists(&digest).await.unwrap());
    let blob = repository.get_blob(&digest).await.unwrap();
    assert_eq!(blob.size, Some(content.len() as u64));
    assert_eq!(read_all(blob).await.unwrap(), content);

    let dir = layout_dir(&repository);
    assert_eq!(
        std::fs::read_to_string(dir.join("oci-layout")).unwrap(),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["manifests"], serde_json::json!([]));
    assert!(dir.join("blobs/sha256").join(digest.hex()).is_file());
    assert!(temp_files(&dir).is_empty());
}

#[tokio::test]
async fn a_blob_that_does_not_match_its_digest_is_refused_and_leaves_nothing() {
    let root = tempfile::tempdir().unwrap();
    let repository = layout(root.path(), "gateway");
    let claimed = Digest::of_bytes(b"what was promised");
    let error = repository
        .put_blob(&claimed, chunked(b"what arrived", 4))
        .await
        .expect_err("mismatch must fail");
    match error {
        RegistryError::DigestMismatch {
            expected, actual, ..
        } => {
            assert_eq!(expected, claimed);
            assert_eq!(actual, Digest::of_bytes(b"what arrived"));
        }
        other => panic!("expected DigestMismatch, got {other}"),
    }
    assert!(!repository.blob_exists(&claimed).await.unwrap());
    assert!(temp_files(&layout_dir(&repository)).is_empty());
}

#[tokio::test]
async fn manifests_round_trip_by_tag_and_by_digest() {
    let root = tempfile::tempdir().unwrap();
    let repository = layout(root.path(), "gateway");
    let manifest = image_manifest(&Digest::of_bytes(b"{}"), "one");
    repository
        .put_manifest(&manifest, Some("v1.0.0"))
        .await
        .unwrap();

    assert_eq!(repository.list_tags().await.unwrap(), vec!["v1.0.0"]);
    assert_eq!(
        repository.resolve_tag("v1.0.0").await.unwrap(),
        Some(manifest.digest.clone())
    );
    assert!(repository.manifest_exists(&manifest.digest).await.unwrap());
    let by_tag = repository
        .get_manifest(ManifestRef::Tag("v1.0.0"))
        .await
        .unwrap();
    let by_digest = repository
        .get_manifest(ManifestRef::Digest(&manifest.digest))
        .await
        .unwrap();
    assert_eq!(by_tag.as_ref(), Some(&manifest));
    assert_eq!(by_digest.as_ref(), Some(&manifest));

    // An index without a mediaType field takes the media type the
    // descriptor in index.json gives it.
    let index_bytes = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"digest":"{}","size":1}}]}}"#,
        manifest.digest
    );
    let index = RawManifest::from_bytes(Bytes::from(index_bytes), Some(OCI_INDEX)).unwrap();
    repository.put_manifest(&index, Some("dev")).await.unwrap();
    let read = repository
        .get_manifest(ManifestRef::Tag("dev"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.media_type, OCI_INDEX);
    assert_eq!(repository.list_tags().await.unwrap(), vec!["v1.0.0", "dev"]);
}

#[tokio::test]
async fn put_by_digest_stores_the_blob_and_leaves_tags_untouched() {
    let root = tempfile::tempdir().unwrap();
    let repository = layout(root.path(), "gateway");
    let tagged = image_manifest(&Digest::of_bytes(b"{}"), "tagged");
    repository
        .put_manifest(&tagged, Some("v1.0.0"))
        .await
        .unwrap();
    let index_path = layout_dir(&repository).join("index.json");
    let before = std::fs::read(&index_path).unwrap();

    let untagged = image_manifest(&Digest::of_bytes(b"{}"), "untagged");
    repository.put_manifest(&untagged, None).await.unwrap();

    assert_eq!(std::fs::read(&index_path).unwrap(), before);
    assert!(repository.manifest_exists(&untagged.digest).await.unwrap());
    assert_eq!(repository.list_tags().await.unwrap(), vec!["v1.0.0"]);
}

#[tokio::test]
async fn retagging_replaces_the_descriptor_in_place() {
    let root = tempfile::tempdir().unwrap();
    let repository = layout(root.path(), "gateway");
    let first = image_manifest(&Digest::of_bytes(b"{}"), "first");
    let second = image_manifest(&Digest::of_bytes(b"{}"), "second");
    repository.put_manifest(&first, Some("dev")).await.unwrap();
    repository
        .put_manifest(&first, Some("other"))
        .await
        .unwrap();
    repository.put_manifest(&second, Some("dev")).await.unwrap();
    assert_eq!(repository.list_tags().await.unwrap(), vec!["dev", "other"]);
    assert_eq!(
        repository.resolve_tag("dev").await.unwrap(),
        Some(second.digest.clone())
    );
    assert_eq!(
        repository.resolve_tag("other").await.unwrap(),
        Some(first.digest)
    );
}

#[tokio::test]
async fn invalid_tags_and_inconsistent_manifests_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let repository = layout(root.path(), "gateway");
    let manifest = image_manifest(&Digest::of_bytes(b"{}"), "x");
    let error = repository
        .put_manifest(&manifest, Some("no/slash"))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(
            error,
            RegistryError::Layout {
                failure: LayoutFailure::InvalidTag { .. },
                ..
            }
        ),
        "{error}"
    );
    let mut lying = manifest.clone();
    lying.digest = Digest::of_bytes(b"something else");
    let error = repository.put_manifest(&lying, None).await.err().unwrap();
    assert!(
        matches!(error, RegistryError::DigestMismatch { .. }),
        "{error}"
    );
    assert!(
        !layout_dir(&repository).exists(),
        "refused writes create nothing"
    );
}

#[tokio::test]
async fn corrupted_blobs_and_manifests_are_detected() {
    let root = tempfile::tempdir().unwrap();
    let repository = layout(root.path(), "gateway");
    let content = b"layer bytes that will rot".to_vec();
    let digest = Digest::of_bytes(&content);
    repository
        .put_blob(&digest, chunked(&content, 5))
        .await
        .unwrap();
    let manifest = image_manifest(&digest, "m");
    repository
        .put_manifest(&manifest, Some("v1.0.0"))
        .await
        .unwrap();

    let blobs = layout_dir(&repository).join("blobs/sha256");
    std::fs::write(blobs.join(digest.hex()), b"layer bytes that have rotted").unwrap();
    std::fs::write(blobs.join(manifest.digest.hex()), br#"{"schemaVersion":2}"#).unwrap();

    let streamed = read_all(repository.get_blob(&digest).await.unwrap()).await;
    assert!(
        matches!(streamed, Err(RegistryError::DigestMismatch { .. })),
        "{streamed:?}"
    );
    let small = repository.get_small_blob(&digest, 1024).await;
    assert!(
        matches!(small, Err(RegistryError::DigestMismatch { .. })),
        "{small:?}"
    );
    for reference in [
        ManifestRef::Tag("v1.0.0"),
        ManifestRef::Digest(&manifest.digest),
    ] {
        let read = repository.get_manifest(reference).await;
        assert!(
            matches!(read, Err(RegistryError::DigestMismatch { .. })),
            "{read:?}"
        );
    }
}

#[tokio::test]
async fn a_damaged_index_is_reported_with_its_path_and_position() {
    let root = tempfile::tempdir().unwrap();
    let repository = layout(root.path(), "gateway");
    let dir = layout_dir(&repository);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.json"), "{\n  \"manifests\": [,]\n}\n").unwrap();
    let error = repository.list_tags().await.expect_err("damaged index");
    let message = error.to_string();
    assert!(message.contains("index.json:2:"), "{message}");
    assert!(message.contains("restore"), "{message}");
}

#[tokio::test]
async fn a_tag_whose_manifest_blob_is_missing_is_an_error_not_an_absence() {
    let root = tempfile::tempdir().unwrap();
    let repository = layout(root.path(), "gateway");
    let manifest = image_manifest(&Digest::of_bytes(b"{}"), "gone");
    repository
        .put_manifest(&manifest, Some("v1.0.0"))
        .await
        .unwrap();
    std::fs::remove_file(
        layout_dir(&repository)
            .join("blobs/sha256")
            .join(manifest.digest.hex()),
    )
    .unwrap();
    let error = repository
        .get_manifest(ManifestRef::Tag("v1.0.0"))
        .await
        .err()
        .unwrap();
    assert!(error.to_string().contains("damaged"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_do_not_lose_tags() {
    let root = tempfile::tempdir().unwrap();
    let root_path = Arc::new(root.path().to_path_buf());
    let mut tasks = Vec::new();
    for writer in 0..16 {
        let root_path = root_path.clone();
        tasks.push(tokio::spawn(async move {
            // A repository object per writer, as separate processes would have.
            let repository = layout(&root_path, "gateway");
            for round in 0..4 {
                let manifest =
                    image_manifest(&Digest::of_bytes(b"{}"), &format!("{writer}-{round}"));
                let tag = format!("w{writer}-r{round}");
                repository
                    .put_manifest(&manifest, Some(&tag))
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let repository = layout(root.path(), "gateway");
    let mut tags = repository.list_tags().await.unwrap();
    tags.sort();
    let mut expected: Vec<String> = (0..16)
        .flat_map(|w| (0..4).map(move |r| format!("w{w}-r{r}")))
        .collect();
    expected.sort();
    assert_eq!(tags, expected);
    assert!(temp_files(&layout_dir(&repository)).is_empty());
}

#[tokio::test]
async fn mounting_between_layouts_links_the_blob() {
    let root = tempfile::tempdir().unwrap();
    let dev = layout(root.path(), "dev-gateway");
    let prod = layout(root.path(), "prod-gateway");
    let content = b"shared layer".to_vec();
    let digest = Digest::of_bytes(&content);
    dev.put_blob(&digest, chunked(&content, 3)).await.unwrap();

    assert_eq!(
        prod.mount_blob(&digest, dev.location()).await.unwrap(),
        Mount::Mounted
    );
    assert_eq!(
        read_all(prod.get_blob(&digest).await.unwrap())
            .await
            .unwrap(),
        content
    );
    // Mounting again is harmless.
    assert_eq!(
        prod.mount_blob(&digest, dev.location()).await.unwrap(),
        Mount::Mounted
    );

    let absent = Digest::of_bytes(b"absent");
    assert_eq!(
        prod.mount_blob(&absent, dev.location()).await.unwrap(),
        Mount::Declined
    );
    let remote = RepositoryLocation::parse("quay.io/jordigilh/gateway", root.path()).unwrap();
    assert_eq!(
        prod.mount_blob(&digest, &remote).await.unwrap(),
        Mount::Declined
    );
}
