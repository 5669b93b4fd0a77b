//! `oci:` locations: one OCI image layout directory per repository
//! (image-spec `image-layout.md`), served through the `Repository` trait.
//!
//! Layout of `<dir>`: `oci-layout`, `index.json` (tags are
//! `org.opencontainers.image.ref.name` annotations on its descriptors) and
//! `blobs/sha256/<hex>` (manifests and blobs alike). Every write goes through
//! a temp file, fsync and rename ([`files`]); `index.json` updates hold an
//! advisory lock, so concurrent writers, in one process or several, never
//! lose each other's tags. A missing directory is a repository with no tags.

mod blobs;
mod errors;
mod files;
pub mod index;

pub use errors::LayoutFailure;

use crate::config::location::RepositoryLocation;
use crate::digest::Digest;
use crate::digest::Hasher;
use crate::registry::manifest::MAX_MANIFEST_BYTES;
use crate::registry::{BlobReader, ManifestRef, Mount, RawManifest, RegistryError, Repository};
use async_trait::async_trait;
use blobs::{copy_verified, verifying_stream};
use bytes::Bytes;
use files::{IndexLock, PathError};
use futures::StreamExt;
use index::{LayoutIndex, OCI_LAYOUT_CONTENT};
use std::io;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;
use tokio::sync::OnceCell;

const READ_HINT: &str = "check that the layout directory is readable";
const WRITE_HINT: &str = "check that the layout directory is writable and its disk has space";

/// Chunk size when streaming blobs out of the layout.
const READ_CHUNK: usize = 64 * 1024;

pub struct LayoutRepository {
    location: RepositoryLocation,
    /// `None` when constructed from a remote location by mistake: every
    /// operation then fails with a message instead of touching some folder.
    dir: Option<PathBuf>,
    /// Set once `oci-layout`, `index.json` and `blobs/sha256` exist, so that
    /// later writes skip the checks.
    initialised: OnceCell<()>,
}

impl LayoutRepository {
    pub fn new(location: RepositoryLocation) -> Self {
        let dir = match &location {
            RepositoryLocation::Layout { dir, .. } => Some(dir.clone()),
            RepositoryLocation::Remote { .. } => None,
        };
        LayoutRepository {
            location,
            dir,
            initialised: OnceCell::new(),
        }
    }

    fn repository(&self) -> String {
        self.location.reference()
    }

    fn dir(&self) -> Result<&Path, RegistryError> {
        self.dir
            .as_deref()
            .ok_or_else(|| self.failure(LayoutFailure::NotALayout))
    }

    fn failure(&self, failure: LayoutFailure) -> RegistryError {
        failure_in(self.repository(), failure)
    }

    fn blob_path(&self, digest: &Digest) -> Result<PathBuf, RegistryError> {
        Ok(blobs_dir(self.dir()?).join(digest.hex()))
    }

    fn io(&self, operation: String, hint: &str, error: PathError) -> RegistryError {
        RegistryError::Io {
            repository: self.repository(),
            operation: format!("{operation} failed ({hint})"),
            path: error.path.display().to_string(),
            source: error.source,
        }
    }

    fn io_at(
        &self,
        operation: String,
        hint: &str,
        path: &Path,
        source: io::Error,
    ) -> RegistryError {
        self.io(
            operation,
            hint,
            PathError {
                path: path.to_path_buf(),
                source,
            },
        )
    }

    /// Runs blocking file work off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        operation: &str,
        work: impl FnOnce() -> Result<T, RegistryError> + Send + 'static,
    ) -> Result<T, RegistryError> {
        match tokio::task::spawn_blocking(work).await {
            Ok(result) => result,
            Err(join) => Err(RegistryError::Io {
                repository: self.repository(),
                operation: format!("{operation} was interrupted"),
                path: self
                    .dir
                    .as_deref()
                    .map(|dir| dir.display().to_string())
                    .unwrap_or_default(),
                source: io::Error::other(join.to_string()),
            }),
        }
    }

    /// The current index; `None` when the layout (or its index) does not exist.
    async fn read_index(&self) -> Result<Option<LayoutIndex>, RegistryError> {
        let path = self.dir()?.join("index.json");
        let bytes = match tokio::fs::read(&path).await {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(self.io_at("reading index.json".into(), READ_HINT, &path, error));
            }
        };
        parse_index(&self.repository(), &path, &bytes).map(Some)
    }

    /// Creates `blobs/sha256`, `oci-layout` and an empty `index.json` the
    /// first time this repository is written to.
    async fn ensure_layout(&self) -> Result<(), RegistryError> {
        self.initialised
            .get_or_try_init(|| async {
                let dir = self.dir()?.to_path_buf();
                let io = self.io_closure("creating the layout");
                self.blocking("creating the layout", move || {
                    create_layout(&dir).map_err(|error| match error {
                        CreateError::Path(error) => io(error),
                        CreateError::Registry(error) => *error,
                    })
                })
                .await
            })
            .await
            .map(|_| ())
    }

    /// An owned error builder for closures that run on blocking threads.
    fn io_closure(&self, operation: &str) -> impl Fn(PathError) -> RegistryError + Send + 'static {
        let repository = self.repository();
        let operation = operation.to_string();
        move |error: PathError| RegistryError::Io {
            repository: repository.clone(),
            operation: format!("{operation} failed ({WRITE_HINT})"),
            path: error.path.display().to_string(),
            source: error.source,
        }
    }

    /// Writes a whole small blob (a manifest) if it is not there yet.
    async fn write_blob_bytes(&self, digest: &Digest, bytes: Bytes) -> Result<(), RegistryError> {
        let path = self.blob_path(digest)?;
        let io = self.io_closure(&format!("writing manifest {digest}"));
        self.blocking("writing a manifest", move || {
            if path.is_file() {
                return Ok(());
            }
            files::write_atomic(&path, &bytes).map_err(io)
        })
        .await
    }
}

enum CreateError {
    Path(PathError),
    /// Boxed: a `RegistryError` is large and this one is rare.
    Registry(Box<RegistryError>),
}

impl From<PathError> for CreateError {
    fn from(error: PathError) -> Self {
        CreateError::Path(error)
    }
}

fn blobs_dir(dir: &Path) -> PathBuf {
    dir.join("blobs").join("sha256")
}

fn parse_index(repository: &str, path: &Path, bytes: &[u8]) -> Result<LayoutIndex, RegistryError> {
    LayoutIndex::parse(bytes).map_err(|reason| {
        let path = path.to_path_buf();
        failure_in(
            repository.to_string(),
            LayoutFailure::BadIndex { path, reason },
        )
    })
}

fn failure_in(repository: String, failure: LayoutFailure) -> RegistryError {
    RegistryError::Layout {
        repository,
        failure,
    }
}

/// Blocking: makes `dir` a layout if it is not one yet.
fn create_layout(dir: &Path) -> Result<(), CreateError> {
    let blobs = blobs_dir(dir);
    std::fs::create_dir_all(&blobs).map_err(files::at(&blobs))?;
    let marker = dir.join("oci-layout");
    if !marker.is_file() {
        // Racing creators write identical bytes, so no lock is needed here.
        files::write_atomic(&marker, OCI_LAYOUT_CONTENT)?;
    }
    let index_path = dir.join("index.json");
    if !index_path.is_file() {
        // Under the lock: another writer may be adding its first tag.
        let _lock = IndexLock::acquire(dir)?;
        if !index_path.is_file() {
            files::write_atomic(&index_path, &LayoutIndex::empty().to_bytes())?;
        }
    }
    Ok(())
}

/// Blocking: the locked read-modify-write of `index.json`.
fn update_index(
    dir: &Path,
    repository: &str,
    edit: impl FnOnce(&mut LayoutIndex),
) -> Result<(), CreateError> {
    let _lock = IndexLock::acquire(dir)?;
    let path = dir.join("index.json");
    let mut index = match files::read_optional(&path)? {
        Some(bytes) => parse_index(repository, &path, &bytes)
            .map_err(|error| CreateError::Registry(Box::new(error)))?,
        None => LayoutIndex::empty(),
    };
    edit(&mut index);
    files::write_atomic(&path, &index.to_bytes())?;
    Ok(())
}

#[async_trait]
impl Repository for LayoutRepository {
    fn location(&self) -> &RepositoryLocation {
        &self.location
    }

    async fn list_tags(&self) -> Result<Vec<String>, RegistryError> {
        Ok(self
            .read_index()
            .await?
            .map(|index| index.tagged().into_iter().map(|t| t.tag).collect())
            .unwrap_or_default())
    }

    async fn exists(&self) -> Result<bool, RegistryError> {
        Ok(tokio::fs::metadata(self.dir()?.join("oci-layout"))
            .await
            .is_ok())
    }

    /// The other layouts in the same folder (`oci:dev/gateway` sits beside
    /// `oci:dev/datastorage`).
    async fn neighbours(&self) -> Option<Vec<String>> {
        let parent = self.dir().ok()?.parent()?.to_path_buf();
        let mut entries = tokio::fs::read_dir(&parent).await.ok()?;
        let mut names = Vec::new();
        while let Ok(Some(entry)) = entries.next_entry().await {
            if tokio::fs::metadata(entry.path().join("oci-layout"))
                .await
                .is_ok()
                && let Some(name) = entry.file_name().to_str()
            {
                names.push(name.to_string());
            }
        }
        names.sort();
        Some(names)
    }

    async fn resolve_tag(&self, tag: &str) -> Result<Option<Digest>, RegistryError> {
        Ok(self
            .read_index()
            .await?
            .and_then(|index| index.resolve(tag))
            .map(|tagged| tagged.digest))
    }

    async fn manifest_exists(&self, digest: &Digest) -> Result<bool, RegistryError> {
        self.blob_exists(digest).await
    }

    async fn get_manifest(
        &self,
        reference: ManifestRef<'_>,
    ) -> Result<Option<RawManifest>, RegistryError> {
        let index = self.read_index().await?;
        let (digest, media_type, tag) = match reference {
            ManifestRef::Tag(tag) => match index.as_ref().and_then(|index| index.resolve(tag)) {
                Some(tagged) => (tagged.digest, tagged.media_type, Some(tag)),
                None => return Ok(None),
            },
            ManifestRef::Digest(digest) => {
                let media_type = index.as_ref().and_then(|index| index.media_type_of(digest));
                (digest.clone(), media_type, None)
            }
        };
        let path = self.blob_path(&digest)?;
        let operation = || format!("reading manifest {digest}");
        let size = match tokio::fs::metadata(&path).await {
            Ok(metadata) => metadata.len(),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return match tag {
                    None => Ok(None),
                    Some(tag) => Err(self.failure(LayoutFailure::TaggedManifestMissing {
                        tag: tag.to_string(),
                        digest,
                        path,
                    })),
                };
            }
            Err(error) => return Err(self.io_at(operation(), READ_HINT, &path, error)),
        };
        if size > MAX_MANIFEST_BYTES as u64 {
            return Err(self.failure(LayoutFailure::ManifestTooLarge {
                digest,
                path,
                size,
                limit: MAX_MANIFEST_BYTES,
            }));
        }
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|error| self.io_at(operation(), READ_HINT, &path, error))?;
        let actual = Digest::of_bytes(&bytes);
        if actual != digest {
            return Err(RegistryError::DigestMismatch {
                repository: self.repository(),
                what: format!("manifest {digest} ({})", path.display()),
                expected: digest,
                actual,
            });
        }
        RawManifest::from_bytes(Bytes::from(bytes), media_type.as_deref())
            .map(Some)
            .map_err(|source| self.failure(LayoutFailure::Manifest { path, source }))
    }

    async fn put_manifest(
        &self,
        manifest: &RawManifest,
        tag: Option<&str>,
    ) -> Result<(), RegistryError> {
        let actual = Digest::of_bytes(&manifest.bytes);
        if actual != manifest.digest {
            return Err(RegistryError::DigestMismatch {
                repository: self.repository(),
                what: format!("manifest {} given to put", manifest.digest),
                expected: manifest.digest.clone(),
                actual,
            });
        }
        if let Some(tag) = tag.filter(|tag| !index::is_valid_tag(tag)) {
            return Err(self.failure(LayoutFailure::InvalidTag {
                tag: tag.to_string(),
            }));
        }
        self.ensure_layout().await?;
        // The blob first: a crash between the two leaves an untagged
        // manifest, never a tag pointing at nothing.
        self.write_blob_bytes(&manifest.digest, manifest.bytes.clone())
            .await?;
        let Some(tag) = tag else {
            return Ok(());
        };
        let dir = self.dir()?.to_path_buf();
        let repository = self.repository();
        let io = self.io_closure(&format!("tagging {} as {tag}", manifest.digest));
        let (tag, digest, media_type, size) = (
            tag.to_string(),
            manifest.digest.clone(),
            manifest.media_type.clone(),
            manifest.bytes.len() as u64,
        );
        self.blocking("updating index.json", move || {
            update_index(&dir, &repository, |index| {
                index.set_tag(&tag, &digest, &media_type, size)
            })
            .map_err(|error| match error {
                CreateError::Path(error) => io(error),
                CreateError::Registry(error) => *error,
            })
        })
        .await
    }

    async fn blob_exists(&self, digest: &Digest) -> Result<bool, RegistryError> {
        let path = self.blob_path(digest)?;
        match tokio::fs::metadata(&path).await {
            Ok(metadata) => Ok(metadata.is_file()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(error) => {
                Err(self.io_at(format!("checking blob {digest}"), READ_HINT, &path, error))
            }
        }
    }

    async fn get_blob(&self, digest: &Digest) -> Result<BlobReader, RegistryError> {
        let path = self.blob_path(digest)?;
        let file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(self.failure(LayoutFailure::BlobMissing {
                    digest: digest.clone(),
                    path,
                }));
            }
            Err(error) => {
                return Err(self.io_at(format!("opening blob {digest}"), READ_HINT, &path, error));
            }
        };
        let size = file
            .metadata()
            .await
            .map_err(|error| self.io_at(format!("opening blob {digest}"), READ_HINT, &path, error))?
            .len();
        let stream = verifying_stream(
            tokio_util::io::ReaderStream::with_capacity(file, READ_CHUNK),
            digest.clone(),
            self.repository(),
            path,
        );
        Ok(BlobReader {
            size: Some(size),
            stream,
        })
    }

    async fn put_blob(&self, digest: &Digest, mut blob: BlobReader) -> Result<(), RegistryError> {
        let target = self.blob_path(digest)?;
        if self.blob_exists(digest).await? {
            // Content-addressed: what is there already is this blob.
            return Ok(());
        }
        self.ensure_layout().await?;
        let dir = blobs_dir(self.dir()?);
        let io = self.io_closure(&format!("writing blob {digest}"));
        let temp = self
            .blocking("creating a temp file", move || {
                files::temp_file_in(&dir).map_err(io)
            })
            .await?;
        let (file, temp_path) = temp.into_parts();
        let temp_display = temp_path.to_path_buf();
        let write_error = |error| {
            self.io_at(
                format!("writing blob {digest}"),
                WRITE_HINT,
                &temp_display,
                error,
            )
        };
        let mut file = tokio::fs::File::from_std(file);
        let mut hasher = Hasher::new();
        // On any early return `temp_path` is dropped, which removes the file.
        while let Some(chunk) = blob.stream.next().await {
            let chunk = chunk?;
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(write_error)?;
        }
        file.flush().await.map_err(write_error)?;
        file.sync_all().await.map_err(write_error)?;
        drop(file);
        let actual = Digest::of_hasher(hasher);
        if &actual != digest {
            return Err(RegistryError::DigestMismatch {
                repository: self.repository(),
                what: format!("blob {digest} received for writing"),
                expected: digest.clone(),
                actual,
            });
        }
        let io = self.io_closure(&format!("storing blob {digest}"));
        self.blocking("storing a blob", move || {
            temp_path
                .persist(&target)
                .map_err(files::at(&target))
                .and_then(|()| files::sync_parent(&target))
                .map_err(io)
        })
        .await
    }

    async fn mount_blob(
        &self,
        digest: &Digest,
        from: &RepositoryLocation,
    ) -> Result<Mount, RegistryError> {
        let RepositoryLocation::Layout { dir: from_dir, .. } = from else {
            return Ok(Mount::Declined);
        };
        let source = blobs_dir(from_dir).join(digest.hex());
        if !tokio::fs::try_exists(&source).await.unwrap_or(false) {
            // Let the caller stream it and report the absence properly.
            return Ok(Mount::Declined);
        }
        if self.blob_exists(digest).await? {
            return Ok(Mount::Mounted);
        }
        self.ensure_layout().await?;
        let target = self.blob_path(digest)?;
        let io = self.io_closure(&format!("mounting blob {digest} from {from}"));
        let expected = digest.clone();
        let mismatch = self
            .blocking("mounting a blob", move || {
                // A hard link shares the immutable blob without copying it; the
                // link appears atomically under its final name.
                match std::fs::hard_link(&source, &target) {
                    Ok(()) => files::sync_parent(&target).map(|()| None).map_err(io),
                    Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(None),
                    // Another file system, or links not permitted: copy instead.
                    Err(_) => copy_verified(&source, &target, &expected).map_err(io),
                }
            })
            .await?;
        match mismatch {
            None => Ok(Mount::Mounted),
            Some(actual) => Err(RegistryError::DigestMismatch {
                repository: from.reference(),
                what: format!("blob {digest} being mounted into {}", self.repository()),
                expected: digest.clone(),
                actual,
            }),
        }
    }
}
