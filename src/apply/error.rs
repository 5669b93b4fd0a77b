//! Why one release could not be carried out: a registry failure, or what
//! apply itself found (a source without the manifest, a tag that reads back
//! wrong, a signer that failed).

use crate::digest::Digest;
use crate::registry::RegistryError;
use crate::registry::manifest::ManifestError;
use crate::signing::SignError;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(
        "{target}: the plan names service {service} which {file} does not declare; make a new plan"
    )]
    UnknownService {
        target: String,
        service: String,
        file: String,
    },
    #[error("{repository}: manifest {digest} is missing; push it to the source again")]
    SourceManifestMissing { repository: String, digest: Digest },
    #[error(
        "{repository}: {digest} is an index nested inside an index; quayside copies indexes of images only"
    )]
    NestedIndex { repository: String, digest: Digest },
    #[error("{repository}: cannot sign {digest}: the manifest is not in the repository")]
    SignedManifestMissing { repository: String, digest: Digest },
    #[error("{repository}: signing {digest} failed: {source}")]
    Sign {
        repository: String,
        digest: Digest,
        source: SignError,
    },
    #[error(
        "{repository}: tag {tag} reads back as {} instead of {expected}; check the registry for a concurrent writer",
        found.as_ref().map_or("nothing".to_string(), Digest::to_string)
    )]
    ReadBack {
        repository: String,
        tag: String,
        expected: Digest,
        found: Option<Digest>,
    },
}

impl ApplyError {
    /// The referrer manifest of a bundle for `subject` in `repository` could
    /// not be built (it cannot fail for an image the copy accepted: said,
    /// not panicked, if it does).
    pub(crate) fn referrer(repository: String, subject: &Digest, error: ManifestError) -> Self {
        ApplyError::Registry(RegistryError::SignatureTag {
            repository,
            message: format!(
                "bundle manifest for {subject}: {error}; this is a quayside bug, please report it with this message"
            ),
        })
    }
}

/// What the synchronous builders return (boxed: `RegistryError` makes an
/// `ApplyError` large), unboxed by `?` in the async callers.
impl From<Box<ApplyError>> for ApplyError {
    fn from(boxed: Box<ApplyError>) -> Self {
        *boxed
    }
}
