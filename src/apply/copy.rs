//! Copies an image between repositories by digest: blobs first (skipping what
//! the target has, mounting within a registry, streaming otherwise), then
//! child manifests, then the root manifest, untagged. Manifests keep their
//! original bytes, so digests never change.

use crate::digest::Digest;
use crate::registry::manifest::ManifestKind;
use crate::registry::{ManifestRef, Mount, RawManifest, RegistryError, Repository};
use futures::{StreamExt, TryStreamExt, stream};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// Blobs copied at once for one image; the registry client bounds requests
/// per host on top of this.
const BLOBS_IN_FLIGHT: usize = 8;

/// Byte and blob counters for the apply summary.
#[derive(Debug, Default)]
pub struct CopyStats {
    pub bytes_copied: AtomicU64,
    pub bytes_mounted: AtomicU64,
    pub blobs_copied: AtomicU64,
    pub blobs_mounted: AtomicU64,
    pub blobs_present: AtomicU64,
    pub manifests_written: AtomicU64,
}

/// One cell per (target repository, blob): the first task to need the blob
/// copies it, the others wait for that copy.
type BlobCells = Mutex<HashMap<(String, Digest), Arc<OnceCell<()>>>>;

/// Copies shared by every image of one apply run, so that a blob used by
/// several images or platforms is copied once per target repository.
#[derive(Default)]
pub struct Copier {
    pub stats: CopyStats,
    blobs: BlobCells,
}

impl Copier {
    /// Copies the image `digest` (an index with its children, or one image)
    /// from `source` into `target`, untagged. Returns the root manifest.
    pub async fn copy_image(
        &self,
        source: &dyn Repository,
        target: &dyn Repository,
        digest: &Digest,
    ) -> Result<RawManifest, RegistryError> {
        let root = fetch_manifest(source, digest).await?;
        match kind_of(source, &root)? {
            ManifestKind::Index { children } => {
                for child in children {
                    if target.manifest_exists(&child.digest).await? {
                        continue;
                    }
                    let manifest = fetch_manifest(source, &child.digest).await?;
                    self.copy_single(source, target, &manifest).await?;
                }
                self.put_untagged(target, &root).await?;
            }
            ManifestKind::Image { .. } => self.copy_single(source, target, &root).await?,
        }
        Ok(root)
    }

    /// One image manifest: its config and layers, then the manifest itself.
    async fn copy_single(
        &self,
        source: &dyn Repository,
        target: &dyn Repository,
        manifest: &RawManifest,
    ) -> Result<(), RegistryError> {
        let ManifestKind::Image { config, layers } = kind_of(source, manifest)? else {
            return Err(RegistryError::Invalid {
                repository: source.location().reference(),
                message: format!(
                    "{} is an index nested inside an index; quayside copies indexes of images only",
                    manifest.digest
                ),
            });
        };
        stream::iter(std::iter::once(config).chain(layers))
            .map(|blob| async move {
                self.copy_blob(source, target, &blob.digest, blob.size)
                    .await
            })
            .buffer_unordered(BLOBS_IN_FLIGHT)
            .try_collect::<()>()
            .await?;
        self.put_untagged(target, manifest).await
    }

    async fn put_untagged(
        &self,
        target: &dyn Repository,
        manifest: &RawManifest,
    ) -> Result<(), RegistryError> {
        if target.manifest_exists(&manifest.digest).await? {
            return Ok(());
        }
        target.put_manifest(manifest, None).await?;
        self.stats.manifests_written.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Copies one blob at most once per target repository in this run.
    async fn copy_blob(
        &self,
        source: &dyn Repository,
        target: &dyn Repository,
        digest: &Digest,
        size: u64,
    ) -> Result<(), RegistryError> {
        let cell = {
            let mut blobs = self
                .blobs
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            Arc::clone(
                blobs
                    .entry((target.location().reference(), digest.clone()))
                    .or_default(),
            )
        };
        cell.get_or_try_init(|| self.transfer_blob(source, target, digest, size))
            .await
            .map(|_| ())
    }

    async fn transfer_blob(
        &self,
        source: &dyn Repository,
        target: &dyn Repository,
        digest: &Digest,
        size: u64,
    ) -> Result<(), RegistryError> {
        if source.location().same_registry(target.location()) {
            // A mount answers "already there" too, so no HEAD first.
            if target.mount_blob(digest, source.location()).await? == Mount::Mounted {
                self.stats.blobs_mounted.fetch_add(1, Ordering::Relaxed);
                self.stats.bytes_mounted.fetch_add(size, Ordering::Relaxed);
                return Ok(());
            }
        }
        if target.blob_exists(digest).await? {
            self.stats.blobs_present.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let blob = source.get_blob(digest).await?;
        target.put_blob(digest, blob).await?;
        self.stats.blobs_copied.fetch_add(1, Ordering::Relaxed);
        self.stats.bytes_copied.fetch_add(size, Ordering::Relaxed);
        Ok(())
    }
}

async fn fetch_manifest(
    repository: &dyn Repository,
    digest: &Digest,
) -> Result<RawManifest, RegistryError> {
    repository
        .get_manifest(ManifestRef::Digest(digest))
        .await?
        .ok_or_else(|| RegistryError::Invalid {
            repository: repository.location().reference(),
            message: format!("manifest {digest} is missing; push it to the source again"),
        })
}

fn kind_of(
    repository: &dyn Repository,
    manifest: &RawManifest,
) -> Result<ManifestKind, RegistryError> {
    manifest.kind().map_err(|error| RegistryError::Invalid {
        repository: repository.location().reference(),
        message: error.to_string(),
    })
}
