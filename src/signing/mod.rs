//! Cosign "simple signing" signatures as data: payloads, keys, signing and
//! verification (pure), and their storage in `sha256-<hex>.sig` manifests.
//!
//! CONTRACT (skeleton): the signing helper replaces the `todo!()` bodies.

pub mod keys;
pub mod payload;
pub mod store;

pub use keys::{KeyError, PublicKey, SigningKey};
pub use payload::Payload;

use bytes::Bytes;

/// One signature as stored in a cosign signature manifest: the payload blob
/// and the base64 ASN.1 ECDSA signature from the layer annotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureEntry {
    pub payload: Bytes,
    pub signature: String,
}
