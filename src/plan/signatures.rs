//! Whether an image is signed as a release must be: every manifest carries a
//! signature the key accepts for the target repository (children of an index
//! checked by signature tag in a plan), in each format the file requires
//! (`signing.formats`). Shared by the planner and `verify`.

use crate::config::model::SignatureFormat;
use crate::digest::Digest;
use crate::live::ImageSignatures;
use crate::signing::provenance::{self, AttestedRelease, Promotion, ProvenanceRejection};
use crate::signing::{PublicKey, SignatureEntry, bundle};

/// Decides whether a stored signature is valid for a digest in a repository.
/// `PublicKey` is the implementation; keyless verification can be another.
pub trait SignatureCheck {
    fn accepts(&self, entry: &SignatureEntry, digest: &Digest, identity: &str) -> bool;

    /// Whether a Sigstore bundle signs `digest` released as `identity`.
    /// Checks that know no bundles accept none.
    fn accepts_bundle(&self, bundle: &[u8], digest: &Digest, identity: &str) -> bool {
        let _ = (bundle, digest, identity);
        false
    }

    /// The promotion a provenance attestation records, if it counts for
    /// `release` (see `signing::provenance::check`). Checks that know no
    /// attestations accept none.
    fn promotion(
        &self,
        attestation: &[u8],
        release: AttestedRelease<'_>,
    ) -> Result<Promotion, ProvenanceRejection> {
        let _ = (attestation, release);
        Err(ProvenanceRejection::Unchecked)
    }
}

impl SignatureCheck for PublicKey {
    fn accepts(&self, entry: &SignatureEntry, digest: &Digest, identity: &str) -> bool {
        PublicKey::accepts(self, entry, digest, identity)
    }

    fn accepts_bundle(&self, bytes: &[u8], digest: &Digest, identity: &str) -> bool {
        bundle::verify(bytes, self, digest, identity).is_ok()
    }

    fn promotion(
        &self,
        attestation: &[u8],
        release: AttestedRelease<'_>,
    ) -> Result<Promotion, ProvenanceRejection> {
        provenance::check(attestation, self, release)
    }
}

/// Every manifest of the image carries a signature: the root, and children
/// read in full, one the verifier accepts for this repository; children checked
/// by presence only, a listed signature tag.
pub(crate) fn fully_signed(
    image: &ImageSignatures,
    identity: &str,
    verifier: Option<&dyn SignatureCheck>,
    required: &[SignatureFormat],
) -> bool {
    let Some(verifier) = verifier else {
        return false;
    };
    let present = formats_present(image, identity, verifier);
    !required.is_empty() && required.iter().all(|format| present.contains(format))
}

/// The formats in which the image is validly signed: legacy when every
/// manifest carries an accepted `.sig` signature (see
/// [`unsigned_manifests`]), bundle when an accepted bundle is attached to
/// the root manifest (bundles were read).
pub fn formats_present(
    image: &ImageSignatures,
    identity: &str,
    verifier: &dyn SignatureCheck,
) -> Vec<SignatureFormat> {
    let Some(root) = image.manifests.first() else {
        return Vec::new();
    };
    let mut present = Vec::new();
    if unsigned_manifests(image, identity, verifier).is_empty() {
        present.push(SignatureFormat::Legacy);
    }
    let bundled = image
        .bundles
        .iter()
        .flatten()
        .any(|bundle| verifier.accepts_bundle(bundle, &root.digest, identity));
    if bundled {
        present.push(SignatureFormat::Bundle);
    }
    present
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
