//! Writes that lose a race with a concurrent writer of the same content
//! (another `apply` run, or another release of this run): distribution 2.8
//! rewrites a blob's link file in place on each upload, so a manifest put
//! that reads it meanwhile is refused with `DIGEST_INVALID` or
//! `MANIFEST_BLOB_UNKNOWN` although every blob is there. Such a put succeeds
//! when sent again a moment later.

use super::{RawManifest, RegistryError, Repository};
use std::time::Duration;

/// Attempts of a manifest put refused for a racing write.
const ATTEMPTS: u32 = 4;

impl RegistryError {
    /// The registry refused a write for content a concurrent writer of the
    /// same blob was rewriting (see the module comment).
    pub fn is_write_race(&self) -> bool {
        match self {
            RegistryError::Http { status, detail, .. } => {
                matches!(status, 400 | 404)
                    && ["DIGEST_INVALID", "MANIFEST_BLOB_UNKNOWN", "BLOB_UNKNOWN"]
                        .iter()
                        .any(|code| detail.contains(code))
            }
            _ => false,
        }
    }
}

/// `put_manifest`, sent again (after a short pause) while it loses a race
/// with a concurrent writer.
pub async fn put_manifest_racing(
    repository: &dyn Repository,
    manifest: &RawManifest,
    tag: Option<&str>,
) -> Result<(), RegistryError> {
    let mut attempt = 1;
    loop {
        match repository.put_manifest(manifest, tag).await {
            Err(error) if error.is_write_race() && attempt < ATTEMPTS => {
                tracing::debug!(%error, attempt, "manifest put lost a race; sending it again");
                tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}
