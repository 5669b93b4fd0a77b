//! Cosign "simple signing" signatures as data: payloads, keys, signing and
//! verification (pure), and their storage in `sha256-<hex>.sig` manifests;
//! beside them Sigstore bundles (`bundle`, pure) stored as OCI referrers
//! (`referrer` pure, `bundles` through the registry seam), and the
//! promotion provenance attestations `apply` signs (`provenance`, pure).

pub mod bundle;
pub mod bundles;
mod der;
mod encrypted;
pub mod inline;
pub mod keys;
pub mod payload;
mod pem;
pub mod provenance;
pub mod referrer;
pub mod signer;
pub mod store;

pub use keys::{KeyError, PublicKey, SigningKey};
pub use payload::{Payload, PayloadError};
pub use signer::{SignError, Signer};

use crate::digest::Digest;
use bytes::Bytes;

/// One signature as stored in a cosign signature manifest: the payload blob
/// and the base64 ASN.1 ECDSA signature from the layer annotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureEntry {
    pub payload: Bytes,
    pub signature: String,
}

impl SignatureEntry {
    /// Signs the payload for `digest` released as `identity` (the target
    /// repository without scheme or tag, see `RepositoryLocation::signed_identity`).
    pub fn create(
        signer: &dyn Signer,
        identity: &str,
        digest: &Digest,
    ) -> Result<SignatureEntry, SignError> {
        let payload = Payload::new(identity, digest.clone()).to_bytes();
        let signature = signer.sign(&payload)?;
        Ok(SignatureEntry {
            payload: Bytes::from(payload),
            signature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_an_entry_the_public_key_accepts() {
        let key = SigningKey::generate().unwrap();
        let digest = Digest::of_bytes(b"image");
        let entry = SignatureEntry::create(&key, "quay.io/kubernaut/gateway", &digest).unwrap();
        assert_eq!(
            Payload::parse(&entry.payload).unwrap(),
            Payload::new("quay.io/kubernaut/gateway", digest.clone())
        );
        assert!(
            key.public_key()
                .accepts(&entry, &digest, "quay.io/kubernaut/gateway")
        );
    }
}
