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

/// The OCI error codes of a put refused for a blob being rewritten.
const RACE_CODES: [&str; 3] = ["DIGEST_INVALID", "MANIFEST_BLOB_UNKNOWN", "BLOB_UNKNOWN"];

impl RegistryError {
    /// The registry refused a write for content a concurrent writer of the
    /// same blob was rewriting (see the module comment).
    pub fn is_write_race(&self) -> bool {
        match self {
            RegistryError::Http { status, .. } => {
                matches!(status, 400 | 404) && RACE_CODES.iter().any(|code| self.has_code(code))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, codes: &[&str], detail: &str) -> RegistryError {
        RegistryError::Http {
            registry: "127.0.0.1:5000".into(),
            repository: "prod/gateway".into(),
            operation: "put manifest".into(),
            status,
            oci: Box::new(crate::registry::distribution::OciErrors {
                codes: codes.iter().map(|code| code.to_string()).collect(),
                detail: detail.into(),
            }),
            hint: String::new(),
        }
    }

    #[test]
    fn a_race_is_read_from_the_error_codes_not_the_words() {
        assert!(refused(400, &["MANIFEST_INVALID", "DIGEST_INVALID"], "").is_write_race());
        assert!(refused(404, &["BLOB_UNKNOWN"], "").is_write_race());
        assert!(!refused(409, &["BLOB_UNKNOWN"], "").is_write_race());
        assert!(!refused(400, &["MANIFEST_INVALID"], ": BLOB_UNKNOWN in the text").is_write_race());
    }
}
