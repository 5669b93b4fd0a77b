//! The registry seam: what plan, apply and verify need from a repository,
//! behind one trait, with one implementation per backend (`oci:` layouts in
//! `layout`, the OCI distribution API in `distribution`).

pub mod distribution;
pub mod layout;
pub mod manifest;
pub mod race;
pub mod reread;

use crate::config::location::RepositoryLocation;
use crate::digest::Digest;
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use std::sync::Arc;

pub use manifest::{ManifestError, ManifestKind, RawManifest};

/// A registry operation failed. Every variant names where it happened and says
/// what to do; none ever carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "{registry}: {operation} on {repository} failed: HTTP {status}{}. {hint}",
        oci.detail
    )]
    Http {
        registry: String,
        repository: String,
        operation: String,
        status: u16,
        /// What the answer's OCI error body said (boxed: rarely read, and
        /// it keeps every `Result<_, RegistryError>` small).
        oci: Box<distribution::OciErrors>,
        hint: String,
    },
    #[error("{registry}: {operation} on {repository} failed: {message}. {hint}")]
    Transport {
        registry: String,
        repository: String,
        operation: String,
        message: String,
        hint: String,
    },
    /// The answer's status and headers arrived, then its body failed while
    /// being read (cut short, connection reset, read timeout): distinct from
    /// `Transport`, whose request never got an answer, because a body read
    /// again usually arrives whole (see `reread`).
    #[error(
        "{registry}: {operation} on {repository} failed while reading {object}: {detail}. The registry cut the answer short (or the connection broke while reading it); run the command again — nothing was written from it"
    )]
    BrokenBody {
        registry: String,
        repository: String,
        operation: String,
        /// What was being read, e.g. `blob sha256:…` or `manifest v1.0.0`.
        object: String,
        /// The transport's words for the failure, without any URL.
        detail: String,
    },
    #[error("{repository}: {operation}: {path}: {source}")]
    Io {
        repository: String,
        operation: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{repository}: {what} does not match its digest: expected {expected}, got {actual}; the registry returned wrong content, nothing was written"
    )]
    DigestMismatch {
        repository: String,
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error(
        "{repository}: tag {tag} already exists and the registry refuses to overwrite it (immutable tag)"
    )]
    TagImmutable { repository: String, tag: String },
    /// A manifest's bytes are not an image manifest or index quayside reads.
    #[error("{repository}: {source}")]
    Manifest {
        repository: String,
        source: ManifestError,
    },
    /// A small blob (config, signature payload) is larger than its reader takes.
    #[error("{repository}: blob {digest} is {size} bytes, more than the {limit} allowed here")]
    BlobTooLarge {
        repository: String,
        digest: Digest,
        size: u64,
        limit: u64,
    },
    /// The OCI distribution backend's own failures.
    #[error("{repository}: {failure}")]
    Distribution {
        repository: String,
        failure: distribution::DistributionFailure,
    },
    /// The `oci:` layout backend's own failures.
    #[error("{repository}: {failure}")]
    Layout {
        repository: String,
        failure: layout::LayoutFailure,
    },
    /// What a `sha256-<hex>.sig` tag holds is not a cosign signature manifest
    /// that can be read or extended (see `signing::store`).
    #[error("{repository}: {message}")]
    SignatureTag { repository: String, message: String },
}

impl RegistryError {
    /// Whether the registry's error body carried the OCI error `code`.
    pub fn has_code(&self, code: &str) -> bool {
        match self {
            RegistryError::Http { oci, .. } => oci.codes.iter().any(|c| c == code),
            _ => false,
        }
    }
}

/// A blob being read: its size when known, and its bytes as a stream, so that
/// large layers are never held in memory.
pub struct BlobReader {
    pub size: Option<u64>,
    pub stream: BoxStream<'static, Result<Bytes, RegistryError>>,
}

impl BlobReader {
    pub fn from_bytes(bytes: Bytes) -> Self {
        BlobReader {
            size: Some(bytes.len() as u64),
            stream: futures::stream::once(async move { Ok(bytes) }).boxed(),
        }
    }
}

/// Reference to a manifest: by tag or by digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManifestRef<'a> {
    Tag(&'a str),
    Digest(&'a Digest),
}

/// Outcome of a cross-repository blob mount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mount {
    Mounted,
    /// The registry (or backend) declined; the caller streams the blob instead.
    Declined,
}

/// One repository of one registry.
#[async_trait]
pub trait Repository: Send + Sync {
    fn location(&self) -> &RepositoryLocation;

    /// Every tag, following pagination.
    async fn list_tags(&self) -> Result<Vec<String>, RegistryError>;

    /// The digest a tag points at, `None` if the tag does not exist (HEAD only).
    async fn resolve_tag(&self, tag: &str) -> Result<Option<Digest>, RegistryError>;

    async fn manifest_exists(&self, digest: &Digest) -> Result<bool, RegistryError>;

    /// The manifest's original bytes; `None` if absent. When fetched by digest
    /// the bytes are checked against it.
    async fn get_manifest(
        &self,
        reference: ManifestRef<'_>,
    ) -> Result<Option<RawManifest>, RegistryError>;

    /// Stores the manifest's exact bytes, by digest when `tag` is `None`.
    async fn put_manifest(
        &self,
        manifest: &RawManifest,
        tag: Option<&str>,
    ) -> Result<(), RegistryError>;

    async fn blob_exists(&self, digest: &Digest) -> Result<bool, RegistryError>;

    /// `Err` if absent.
    async fn get_blob(&self, digest: &Digest) -> Result<BlobReader, RegistryError>;

    /// Stores a blob; the backend verifies the digest of what it received.
    async fn put_blob(&self, digest: &Digest, blob: BlobReader) -> Result<(), RegistryError>;

    /// Mounts a blob from another repository of the same registry.
    async fn mount_blob(
        &self,
        digest: &Digest,
        from: &RepositoryLocation,
    ) -> Result<Mount, RegistryError>;

    /// Whether the repository exists at all (a mistyped service name names
    /// one that does not). Backends that cannot tell say it does.
    async fn exists(&self) -> Result<bool, RegistryError> {
        Ok(true)
    }

    /// The names of the repositories beside this one (same namespace) that
    /// the registry lists, for a "did you mean" hint; `None` where it lists
    /// none or refuses to. Best effort: never an error.
    async fn neighbours(&self) -> Option<Vec<String>> {
        None
    }

    /// The OCI 1.1 referrers index of the manifest `digest` as the registry
    /// answers it; `None` where there is no referrers API (the registry
    /// answers 404, or the backend has none): referrers are then listed in
    /// the fallback tag `sha256-<hex>` (see `signing::referrer`).
    async fn referrers(&self, digest: &Digest) -> Result<Option<Bytes>, RegistryError> {
        let _ = digest;
        Ok(None)
    }

    /// Whether the registry has the referrers API, asked without listing any
    /// image's referrers (Quay caches a list read for 60 s, which would hide
    /// a referrer written next). Backends without the API say no.
    async fn has_referrers_api(&self) -> Result<bool, RegistryError> {
        Ok(false)
    }

    /// A small blob (config, signature payload) in memory, refusing anything
    /// larger than `limit` bytes.
    async fn get_small_blob(&self, digest: &Digest, limit: u64) -> Result<Bytes, RegistryError> {
        let mut blob = self.get_blob(digest).await?;
        let too_large = |size: u64| RegistryError::BlobTooLarge {
            repository: self.location().reference(),
            digest: digest.clone(),
            size,
            limit,
        };
        if let Some(size) = blob.size.filter(|size| *size > limit) {
            return Err(too_large(size));
        }
        let mut buffer = Vec::new();
        while let Some(chunk) = blob.stream.next().await {
            buffer.extend_from_slice(&chunk?);
            if buffer.len() as u64 > limit {
                return Err(too_large(buffer.len() as u64));
            }
        }
        let actual = Digest::of_bytes(&buffer);
        if &actual != digest {
            return Err(RegistryError::DigestMismatch {
                repository: self.location().reference(),
                what: format!("blob {digest}"),
                expected: digest.clone(),
                actual,
            });
        }
        Ok(Bytes::from(buffer))
    }
}

/// Opens repositories, sharing per-registry state (HTTP clients, credentials,
/// concurrency limits, request counters) between them.
pub struct Connector {
    distribution: distribution::DistributionClient,
}

impl Connector {
    pub fn new(options: distribution::ClientOptions) -> Self {
        Connector {
            distribution: distribution::DistributionClient::new(options),
        }
    }

    pub fn open(&self, location: &RepositoryLocation) -> Arc<dyn Repository> {
        match location {
            RepositoryLocation::Layout { .. } => {
                Arc::new(layout::LayoutRepository::new(location.clone()))
            }
            RepositoryLocation::Remote { .. } => {
                reread::Reread::wrap(self.distribution.repository(location.clone()))
            }
        }
    }

    /// The live registries' shared HTTP state, for a registry's own REST
    /// API beside this seam (its requests share the host's concurrency limit,
    /// retries and counters).
    pub fn distribution(&self) -> &distribution::DistributionClient {
        &self.distribution
    }

    /// Says that this run will write the repository at `location`, copying
    /// from `source`: one token then serves its reads, writes and mounts.
    pub fn will_write(&self, location: &RepositoryLocation, source: &RepositoryLocation) {
        self.distribution.will_write(location, source);
    }

    /// Requests sent so far, by HTTP method.
    pub fn request_counts(&self) -> distribution::RequestCounts {
        self.distribution.request_counts()
    }
}
