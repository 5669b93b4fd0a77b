//! Whether an image is signed as a release must be: every manifest carries a
//! signature the key accepts for the target repository (children of an index
//! checked by signature tag in a plan), in each format the file requires
//! (`signing.formats`). Shared by the planner and `verify`.

use crate::config::model::SignatureFormat;
use crate::digest::Digest;
use crate::live::{ImageSignatures, ManifestSignatures};
use crate::signing::provenance::{self, AttestedRelease, Promotion, ProvenanceRejection};
use crate::signing::{Payload, PublicKey, SignatureEntry, bundle};

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

/// The children an index's own signature names
/// ([`CHILDREN_ANNOTATION`](crate::signing::payload::CHILDREN_ANNOTATION)),
/// from a signature of `root` that the verifier accepts for `identity`; `None`
/// when no accepted signature names them, and the index must be read. The
/// claim is trusted because the release key made it: a stranger's signature,
/// or ours over another digest, names nothing.
pub(crate) fn claimed_children(
    root: &ManifestSignatures,
    (verifier, identity): (&dyn SignatureCheck, &str),
) -> Option<Vec<Digest>> {
    root.entries
        .iter()
        .filter(|entry| verifier.accepts(entry, &root.digest, identity))
        .find_map(|entry| Payload::parse(&entry.payload).ok()?.children())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::SigningKey;
    use bytes::Bytes;

    fn signed(key: &SigningKey, digest: &Digest, children: Option<&str>) -> SignatureEntry {
        let mut payload = Payload::new("quay.io/prod/gateway", digest.clone());
        if let Some(children) = children {
            payload.optional.insert(
                crate::signing::payload::CHILDREN_ANNOTATION.into(),
                children.into(),
            );
        }
        let bytes = payload.to_bytes();
        let signature = crate::signing::Signer::sign(key, &bytes).expect("signs");
        SignatureEntry {
            payload: Bytes::from(bytes),
            signature,
        }
    }

    #[test]
    fn children_come_only_from_a_signature_the_key_verifies() {
        let key = SigningKey::generate().unwrap();
        let other = SigningKey::generate().unwrap();
        let root = Digest::of_bytes(b"index");
        let (a, b) = (Digest::of_bytes(b"a"), Digest::of_bytes(b"b"));
        let named = format!("{a},{b}");
        let public = key.public_key();
        let claims = (&public as &dyn SignatureCheck, "quay.io/prod/gateway");
        let manifest = |entries| ManifestSignatures {
            digest: root.clone(),
            entries,
        };

        let ours = manifest(vec![signed(&key, &root, Some(&named))]);
        assert_eq!(claimed_children(&ours, claims), Some(vec![a.clone(), b]));
        // Another key's claim, or ours without one: the index must be read.
        let foreign = manifest(vec![
            signed(&other, &root, Some(&a.to_string())),
            signed(&key, &root, None),
        ]);
        assert_eq!(claimed_children(&foreign, claims), None);
        // A claim over another digest does not verify for this one.
        let moved = manifest(vec![signed(&key, &a, Some(&named))]);
        assert_eq!(claimed_children(&moved, claims), None);
        // A malformed list names nothing.
        let broken = manifest(vec![signed(&key, &root, Some("sha256:zz"))]);
        assert_eq!(claimed_children(&broken, claims), None);
    }
}
