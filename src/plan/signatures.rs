//! Whether an image is signed as a release must be: every manifest carries a
//! signature the key accepts for the target repository (children of an index
//! checked by signature tag in a plan). Shared by the planner and `verify`.

use crate::digest::Digest;
use crate::live::ImageSignatures;
use crate::signing::{PublicKey, SignatureEntry};

/// Decides whether a stored signature is valid for a digest in a repository.
/// `PublicKey` is the implementation; keyless verification can be another.
pub trait SignatureCheck {
    fn accepts(&self, entry: &SignatureEntry, digest: &Digest, identity: &str) -> bool;
}

impl SignatureCheck for PublicKey {
    fn accepts(&self, entry: &SignatureEntry, digest: &Digest, identity: &str) -> bool {
        PublicKey::accepts(self, entry, digest, identity)
    }
}

/// Every manifest of the image carries a signature: the root, and children
/// read in full, one the verifier accepts for this repository; children checked
/// by presence only, a listed signature tag.
pub(crate) fn fully_signed(
    image: &ImageSignatures,
    identity: &str,
    verifier: Option<&dyn SignatureCheck>,
) -> bool {
    let Some(verifier) = verifier else {
        return false;
    };
    !image.manifests.is_empty() && unsigned_manifests(image, identity, verifier).is_empty()
}

/// The manifests of the image without a signature: read ones with none the
/// verifier accepts, then children whose signature tag is not listed.
pub fn unsigned_manifests<'a>(
    image: &'a ImageSignatures,
    identity: &str,
    verifier: &dyn SignatureCheck,
) -> Vec<&'a Digest> {
    let unverified = image.manifests.iter().filter(|manifest| {
        !manifest
            .entries
            .iter()
            .any(|entry| verifier.accepts(entry, &manifest.digest, identity))
    });
    let unlisted = image.listed_children.iter().filter(|child| !child.listed);
    unverified
        .map(|manifest| &manifest.digest)
        .chain(unlisted.map(|child| &child.digest))
        .collect()
}
