//! Signature payloads (and Sigstore bundles) carried inline in the manifest
//! that names them, in the OCI 1.1 descriptor field `data` (base64 of the
//! content). Reading them saves one blob request per signature; they are
//! trusted only when they are exactly the content the descriptor names, so
//! they never change what is verified.

use crate::digest::Digest;
use crate::registry::manifest::Descriptor;
use crate::signing::payload::MAX_PAYLOAD_BYTES;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;

/// The inline payload of a signature layer when its sha256 equals the
/// descriptor's `digest` and its length equals `size`. `None` (absent, not
/// base64, too large, or not the named content) means: read the blob, whose
/// digest the registry seam checks.
pub fn payload(layer: &Descriptor) -> Option<Bytes> {
    exact_content(
        layer.data.as_deref()?,
        layer.size,
        &layer.digest,
        MAX_PAYLOAD_BYTES,
    )
}

/// `data` decoded, when it is exactly `size` bytes hashing to `digest`, and
/// at most `limit` bytes; `None` otherwise (read the blob instead).
pub fn exact_content(data: &str, size: u64, digest: &Digest, limit: u64) -> Option<Bytes> {
    // Base64 of `limit` bytes is at most 4/3 of it plus padding: do not
    // decode what cannot be the content.
    if size > limit || data.len() as u64 > limit / 3 * 4 + 4 {
        return None;
    }
    let bytes = BASE64.decode(data).ok()?;
    (bytes.len() as u64 == size && Digest::of_bytes(&bytes) == *digest).then(|| Bytes::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::payload::SIMPLE_SIGNING_MEDIA_TYPE;

    const PAYLOAD: &[u8] = br#"{"critical":{"identity":{"docker-reference":"r/x"}}}"#;

    fn layer(data: Option<String>, size: u64) -> Descriptor {
        Descriptor {
            media_type: SIMPLE_SIGNING_MEDIA_TYPE.into(),
            digest: Digest::of_bytes(PAYLOAD),
            size,
            platform: None,
            annotations: None,
            data,
        }
    }

    #[test]
    fn an_exact_inline_payload_is_used() {
        let found = payload(&layer(Some(BASE64.encode(PAYLOAD)), PAYLOAD.len() as u64));
        assert_eq!(found.as_deref(), Some(PAYLOAD));
    }

    #[test]
    fn absent_lying_or_malformed_data_is_ignored() {
        let size = PAYLOAD.len() as u64;
        assert_eq!(payload(&layer(None, size)), None);
        // Other content of the same length: the digest does not match.
        let mut other = PAYLOAD.to_vec();
        other[0] = b'[';
        assert_eq!(payload(&layer(Some(BASE64.encode(&other)), size)), None);
        // The right content but a `size` that disagrees with it.
        assert_eq!(
            payload(&layer(Some(BASE64.encode(PAYLOAD)), size + 1)),
            None
        );
        assert_eq!(payload(&layer(Some("not base64!".into()), size)), None);
        let huge = BASE64.encode(vec![0u8; MAX_PAYLOAD_BYTES as usize + 1]);
        assert_eq!(payload(&layer(Some(huge), size)), None);
    }
}
