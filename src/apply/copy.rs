//! Copies an image between repositories by digest: blobs first (mounting
//! within a registry, streaming otherwise), then child manifests, then the
//! root manifest, untagged. Manifests keep their original bytes, so digests
//! never change.
//!
//! Each blob upload and each manifest put happens at most once per target
//! repository in a run, however many releases need it (their copies run
//! concurrently): distribution 2.8 rewrites a blob's link file on each upload,
//! so two uploads of one blob into one repository race with a manifest put
//! that reads it.

use crate::apply::ApplyError;
use crate::config::location::RepositoryLocation;
use crate::digest::Digest;
use crate::live::SourceRoots;
use crate::registry::manifest::ManifestKind;
use crate::registry::race::put_manifest_racing;
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

/// One cell per (target repository or registry, blob or manifest): the first
/// task to need the object copies it, the others wait for that copy (and get
/// what it recorded, `T`).
type Cells<T = ()> = Mutex<HashMap<(String, Digest), Arc<OnceCell<T>>>>;

/// The cell of `digest` under `reference`, created on first use.
fn cell<T>(cells: &Cells<T>, reference: String, digest: &Digest) -> Arc<OnceCell<T>> {
    let mut cells = cells
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    Arc::clone(cells.entry((reference, digest.clone())).or_default())
}

/// Copies shared by every image of one apply run, so that a blob used by
/// several images or platforms is copied once per target repository, and a
/// manifest (a platform manifest shared by two indexes) put once.
#[derive(Default)]
pub struct Copier {
    pub stats: CopyStats,
    blobs: Cells,
    manifests: Cells,
    /// One cell per (target registry, blob) for blobs streamed across
    /// registries, holding the target repository that streamed it: the
    /// others mount it from there (a base layer shared by every service
    /// crosses the network once).
    crossings: Cells<RepositoryLocation>,
    /// Root manifests the plan read from the source, by source reference and
    /// digest: copied from these bytes, not read again.
    source_roots: SourceRoots,
}

impl Copier {
    /// A copier that takes the root manifests the plan already read.
    pub fn with_source_roots(source_roots: SourceRoots) -> Self {
        Copier {
            source_roots,
            ..Copier::default()
        }
    }

    /// Copies the image `digest` (an index with its children, or one image)
    /// from `source` into `target`, untagged. Returns the root manifest.
    pub async fn copy_image(
        &self,
        source: &dyn Repository,
        target: &dyn Repository,
        digest: &Digest,
    ) -> Result<RawManifest, ApplyError> {
        let known = self
            .source_roots
            .get(&(source.location().reference(), digest.clone()));
        let root = match known {
            Some(root) => root.clone(),
            None => fetch_manifest(source, digest).await?,
        };
        // The one "already there?" check that crash recovery needs: the root
        // is put last, after everything it references, so a root in the
        // target means a complete image.
        if target.manifest_exists(digest).await? {
            return Ok(root);
        }
        match kind_of(source, &root)? {
            ManifestKind::Index { children } => {
                // Children one at a time: their blobs already go in parallel,
                // and platforms usually share layers.
                for child in children {
                    let once = cell(
                        &self.manifests,
                        target.location().reference(),
                        &child.digest,
                    );
                    once.get_or_try_init(|| async {
                        let manifest = fetch_manifest(source, &child.digest).await?;
                        self.copy_single(source, target, &manifest).await
                    })
                    .await?;
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
    ) -> Result<(), ApplyError> {
        let ManifestKind::Image { config, layers } = kind_of(source, manifest)? else {
            return Err(ApplyError::NestedIndex {
                repository: source.location().reference(),
                digest: manifest.digest.clone(),
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

    /// Puts a manifest by digest. No HEAD first: a put of a manifest that is
    /// there already changes nothing, and costs what the HEAD would.
    async fn put_untagged(
        &self,
        target: &dyn Repository,
        manifest: &RawManifest,
    ) -> Result<(), ApplyError> {
        put_manifest_racing(target, manifest, None).await?;
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
    ) -> Result<(), ApplyError> {
        cell(&self.blobs, target.location().reference(), digest)
            .get_or_try_init(|| self.transfer_blob(source, target, digest, size))
            .await
            .map(|_| ())
    }

    async fn transfer_blob(
        &self,
        source: &dyn Repository,
        target: &dyn Repository,
        digest: &Digest,
        size: u64,
    ) -> Result<(), ApplyError> {
        // Within a registry: mount from the source. A mount answers "already
        // there" too, so no HEAD first.
        if source.location().same_registry(target.location()) {
            if self.mount(target, digest, size, source.location()).await? {
                return Ok(());
            }
            return self.stream_blob(source, target, digest, size).await;
        }
        let Some(registry) = registry_key(target.location()) else {
            return self.stream_blob(source, target, digest, size).await;
        };
        // Across registries: the first repository of the target registry
        // streams the blob; the others mount it from there. (`copy_blob`
        // comes here once per target repository, so only the streaming one
        // finds itself in the cell.)
        let crossing = cell(&self.crossings, registry, digest);
        let streamed_into = crossing
            .get_or_try_init(|| async {
                self.stream_blob(source, target, digest, size).await?;
                Ok::<_, ApplyError>(target.location().clone())
            })
            .await?;
        if streamed_into.reference() == target.location().reference()
            || self.mount(target, digest, size, streamed_into).await?
        {
            return Ok(());
        }
        self.stream_blob(source, target, digest, size).await
    }

    /// Mounts `digest` into `target` from `from`; `false` when declined.
    async fn mount(
        &self,
        target: &dyn Repository,
        digest: &Digest,
        size: u64,
        from: &RepositoryLocation,
    ) -> Result<bool, ApplyError> {
        if target.mount_blob(digest, from).await? != Mount::Mounted {
            return Ok(false);
        }
        self.stats.blobs_mounted.fetch_add(1, Ordering::Relaxed);
        self.stats.bytes_mounted.fetch_add(size, Ordering::Relaxed);
        Ok(true)
    }

    /// Streams `digest` from `source` into `target` unless `target` has it.
    async fn stream_blob(
        &self,
        source: &dyn Repository,
        target: &dyn Repository,
        digest: &Digest,
        size: u64,
    ) -> Result<(), ApplyError> {
        if target.blob_exists(digest).await? {
            self.stats.blobs_present.fetch_add(1, Ordering::Relaxed);
        } else {
            let blob = source.get_blob(digest).await?;
            target.put_blob(digest, blob).await?;
            self.stats.blobs_copied.fetch_add(1, Ordering::Relaxed);
            self.stats.bytes_copied.fetch_add(size, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The registry part of a remote location (`scheme://host`); `None` for
/// `oci:` layouts, which have no mounts across repositories.
fn registry_key(location: &RepositoryLocation) -> Option<String> {
    match location {
        RepositoryLocation::Remote { scheme, host, .. } => Some(format!("{scheme:?}://{host}")),
        RepositoryLocation::Layout { .. } => None,
    }
}

async fn fetch_manifest(
    repository: &dyn Repository,
    digest: &Digest,
) -> Result<RawManifest, ApplyError> {
    repository
        .get_manifest(ManifestRef::Digest(digest))
        .await?
        .ok_or_else(|| ApplyError::SourceManifestMissing {
            repository: repository.location().reference(),
            digest: digest.clone(),
        })
}

fn kind_of(
    repository: &dyn Repository,
    manifest: &RawManifest,
) -> Result<ManifestKind, RegistryError> {
    manifest.kind().map_err(|source| RegistryError::Manifest {
        repository: repository.location().reference(),
        source,
    })
}
