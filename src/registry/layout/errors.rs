//! What the `oci:` layout backend finds wrong in a layout directory, or in
//! what it is asked to store there.

use crate::digest::Digest;
use crate::registry::ManifestError;
use std::path::PathBuf;

/// A layout failure; each reads after `repository: `. File system errors
/// are `RegistryError::Io`.
#[derive(Debug, thiserror::Error)]
pub enum LayoutFailure {
    #[error("is not an `oci:` location, so it cannot be opened as a layout directory")]
    NotALayout,
    #[error(
        "{}:{reason}; this is not a valid OCI layout index: restore the file or recreate the layout",
        path.display()
    )]
    BadIndex { path: PathBuf, reason: String },
    #[error(
        "tag {tag} points at manifest {digest}, but {} is missing; the layout is damaged: copy the image into it again",
        path.display()
    )]
    TaggedManifestMissing {
        tag: String,
        digest: Digest,
        path: PathBuf,
    },
    #[error(
        "manifest {digest} ({}) is {size} bytes, more than the {limit} a manifest may have; the layout holds something else under that name",
        path.display()
    )]
    ManifestTooLarge {
        digest: Digest,
        path: PathBuf,
        size: u64,
        limit: usize,
    },
    #[error("{}: {source}", path.display())]
    Manifest {
        path: PathBuf,
        source: ManifestError,
    },
    #[error(
        "`{tag}` is not a valid tag: use up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`"
    )]
    InvalidTag { tag: String },
    #[error(
        "blob {digest} is not in the layout ({} is missing); copy the image into it again",
        path.display()
    )]
    BlobMissing { digest: Digest, path: PathBuf },
}
