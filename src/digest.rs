//! Content digests (`sha256:<64 lowercase hex>`), the identity of every image and blob.

use serde::{Deserialize, Serialize};
use std::fmt;

/// SHA-256 over streamed bytes (ring's, in assembly: blobs hash at full
/// speed in debug builds too).
#[derive(Clone)]
pub struct Hasher(ring::digest::Context);

impl Hasher {
    pub fn new() -> Self {
        Hasher(ring::digest::Context::new(&ring::digest::SHA256))
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher::new()
    }
}

/// A validated `sha256:` digest. Other algorithms are refused: the spec and
/// every registry we target use sha256 for manifests.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a digest: expected `sha256:` followed by 64 lowercase hex characters")]
pub struct DigestError(pub String);

impl Digest {
    pub fn parse(text: &str) -> Result<Self, DigestError> {
        let hex = text
            .strip_prefix("sha256:")
            .ok_or_else(|| DigestError(text.to_string()))?;
        let well_formed = hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if well_formed {
            Ok(Digest(text.to_string()))
        } else {
            Err(DigestError(text.to_string()))
        }
    }

    /// The digest of these exact bytes.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        let mut hasher = Hasher::new();
        hasher.update(bytes);
        Digest::of_hasher(hasher)
    }

    /// The digest of what `hasher` was fed.
    pub fn of_hasher(hasher: Hasher) -> Self {
        Digest(format!("sha256:{}", hex::encode(hasher.0.finish())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 64 hex characters after `sha256:`.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    /// The tag under which cosign stores this image's signatures.
    pub fn signature_tag(&self) -> String {
        format!("sha256-{}.sig", self.hex())
    }

    /// A short form for human output (`sha256:0123abcd4567`).
    pub fn short(&self) -> &str {
        &self.0[..("sha256:".len() + 12)]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.0)
    }
}

impl TryFrom<String> for Digest {
    type Error = DigestError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Digest::parse(&value)
    }
}

impl From<Digest> for String {
    fn from(value: Digest) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_lowercase_sha256() {
        let good = format!("sha256:{}", "a".repeat(64));
        assert!(Digest::parse(&good).is_ok());
        assert!(Digest::parse(&format!("sha256:{}", "A".repeat(64))).is_err());
        assert!(Digest::parse(&format!("sha512:{}", "a".repeat(64))).is_err());
        assert!(Digest::parse(&format!("sha256:{}", "a".repeat(63))).is_err());
        assert!(Digest::parse("").is_err());
    }

    #[test]
    fn digest_of_bytes_matches_known_value() {
        assert_eq!(
            Digest::of_bytes(b"").as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn signature_tag_is_cosign_style() {
        let d = Digest::of_bytes(b"");
        assert_eq!(
            d.signature_tag(),
            "sha256-e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.sig"
        );
    }
}
