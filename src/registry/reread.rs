//! Reads that are read again when their bytes arrive broken: a manifest or a
//! small blob whose body was cut short, or whose bytes do not match their
//! digest, is fetched again (at most [`READS`] times in all) before the error
//! is reported.
//!
//! The transport already retries lost answers and 5xx; these faults show up
//! only while the body is read, after it handed the answer over. They are
//! usually transient (a proxy or cache dropping a connection mid-body), and
//! one of them among the hundreds of reads of a plan would otherwise fail the
//! whole `plan` or `apply`, run after run (found by
//! `tests/all/apply_faults.rs`). Nothing is trusted: every read is checked as
//! before, and a registry that keeps sending wrong bytes still gets the error.
//! Streamed blobs are not wrapped: they flow straight into an upload, and a
//! broken one fails only that release, which the next `apply` completes.

use super::{BlobReader, ManifestRef, Mount, RawManifest, RegistryError, Repository};
use crate::config::location::RepositoryLocation;
use crate::digest::Digest;
use async_trait::async_trait;
use bytes::Bytes;
use std::sync::Arc;

/// Reads of one manifest or small blob, the first included.
pub const READS: u32 = 3;

pub struct Reread {
    inner: Arc<dyn Repository>,
}

impl Reread {
    pub fn wrap(inner: Arc<dyn Repository>) -> Arc<dyn Repository> {
        Arc::new(Reread { inner })
    }
}

/// Broken bytes, as opposed to an answer that means what it says: wrong
/// bytes for a digest, or a body that failed while being read (the
/// transport's send errors were retried already and are not repeated).
fn is_broken_body(error: &RegistryError) -> bool {
    matches!(
        error,
        RegistryError::DigestMismatch { .. } | RegistryError::BrokenBody { .. }
    )
}

async fn reread<T, F, Fut>(mut read: F) -> Result<T, RegistryError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, RegistryError>>,
{
    let mut reads = 1;
    loop {
        match read().await {
            Err(error) if reads < READS && is_broken_body(&error) => {
                tracing::debug!(%error, reads, "reading again after a broken body");
                reads += 1;
            }
            result => return result,
        }
    }
}

#[async_trait]
impl Repository for Reread {
    fn location(&self) -> &RepositoryLocation {
        self.inner.location()
    }

    async fn list_tags(&self) -> Result<Vec<String>, RegistryError> {
        reread(|| self.inner.list_tags()).await
    }

    async fn resolve_tag(&self, tag: &str) -> Result<Option<Digest>, RegistryError> {
        reread(|| self.inner.resolve_tag(tag)).await
    }

    async fn manifest_exists(&self, digest: &Digest) -> Result<bool, RegistryError> {
        self.inner.manifest_exists(digest).await
    }

    async fn exists(&self) -> Result<bool, RegistryError> {
        self.inner.exists().await
    }

    async fn neighbours(&self) -> Option<Vec<String>> {
        self.inner.neighbours().await
    }

    async fn get_manifest(
        &self,
        reference: ManifestRef<'_>,
    ) -> Result<Option<RawManifest>, RegistryError> {
        reread(|| self.inner.get_manifest(reference.clone())).await
    }

    async fn put_manifest(
        &self,
        manifest: &RawManifest,
        tag: Option<&str>,
    ) -> Result<(), RegistryError> {
        self.inner.put_manifest(manifest, tag).await
    }

    async fn blob_exists(&self, digest: &Digest) -> Result<bool, RegistryError> {
        self.inner.blob_exists(digest).await
    }

    async fn get_blob(&self, digest: &Digest) -> Result<BlobReader, RegistryError> {
        self.inner.get_blob(digest).await
    }

    async fn put_blob(&self, digest: &Digest, blob: BlobReader) -> Result<(), RegistryError> {
        self.inner.put_blob(digest, blob).await
    }

    async fn mount_blob(
        &self,
        digest: &Digest,
        from: &RepositoryLocation,
    ) -> Result<Mount, RegistryError> {
        self.inner.mount_blob(digest, from).await
    }

    async fn referrers(&self, digest: &Digest) -> Result<Option<Bytes>, RegistryError> {
        reread(|| self.inner.referrers(digest)).await
    }

    async fn has_referrers_api(&self) -> Result<bool, RegistryError> {
        reread(|| self.inner.has_referrers_api()).await
    }

    async fn get_small_blob(&self, digest: &Digest, limit: u64) -> Result<Bytes, RegistryError> {
        reread(|| self.inner.get_small_blob(digest, limit)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn mismatch() -> RegistryError {
        RegistryError::DigestMismatch {
            repository: "r".into(),
            what: "blob".into(),
            expected: Digest::of_bytes(b"a"),
            actual: Digest::of_bytes(b"b"),
        }
    }

    #[tokio::test]
    async fn broken_bodies_are_read_again_a_bounded_number_of_times() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = reread(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(mismatch())
        })
        .await;
        assert!(matches!(result, Err(RegistryError::DigestMismatch { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), READS);

        let calls = AtomicU32::new(0);
        let result = reread(|| async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 => Err(mismatch()),
                _ => Ok(7),
            }
        })
        .await;
        assert_eq!(result.ok(), Some(7));
    }

    fn broken_body() -> RegistryError {
        RegistryError::BrokenBody {
            registry: "127.0.0.1:5000".into(),
            repository: "dev/x".into(),
            operation: "get manifest".into(),
            object: "manifest v1".into(),
            detail: "error decoding response body".into(),
        }
    }

    #[tokio::test]
    async fn bodies_cut_short_are_read_again() {
        let calls = AtomicU32::new(0);
        let result = reread(|| async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(broken_body()),
                _ => Ok(7),
            }
        })
        .await;
        assert_eq!(result.ok(), Some(7));
        assert_eq!(calls.load(Ordering::SeqCst), READS);

        let calls = AtomicU32::new(0);
        let result: Result<(), _> = reread(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(broken_body())
        })
        .await;
        assert!(matches!(result, Err(RegistryError::BrokenBody { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), READS);
    }

    #[tokio::test]
    async fn answers_that_mean_what_they_say_are_not_repeated() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = reread(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(RegistryError::Transport {
                registry: "h".into(),
                repository: "r".into(),
                operation: "get manifest".into(),
                // Words no longer matter: only the variant does.
                message: "error sending request body: connection refused".into(),
                hint: String::new(),
            })
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
