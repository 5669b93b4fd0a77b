//! Signature payloads carried inline in the signature manifest, in the OCI 1.1
//! descriptor field `data` (base64 of the content). Reading them saves one blob
//! request per signature; they are trusted only when they are exactly the
//! content the descriptor names, so they never change what is verified.

use crate::digest::Digest;
use crate::registry::manifest::Descriptor;
use crate::signing::store::MAX_PAYLOAD_BYTES;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;

/// The inline payload of a signature layer when its sha256 equals the
/// descriptor's `digest` and its length equals `size`. `None` (absent, not
/// base64, too large, or not the named content) means: read the blob, whose
/// digest the registry seam checks.
pub fn payload(layer: &Descriptor) -> Option<Bytes> {
    let data = layer.data.as_deref()?;
    // Base64 of MAX_PAYLOAD_BYTES is at most 4/3 of it plus padding: do not
    // decode what cannot be a payload.
    if layer.size > MAX_PAYLOAD_BYTES || data.len() as u64 > MAX_PAYLOAD_BYTES / 3 * 4 + 4 {
        return None;
    }
    let bytes = BASE64.decode(data).ok()?;
    (bytes.len() as u64 == layer.size && Digest::of_bytes(&bytes) == layer.digest)
        .then(|| Bytes::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::location::RepositoryLocation;
    use crate::registry::manifest::{OCI_CONFIG, OCI_MANIFEST};
    use crate::registry::{BlobReader, ManifestRef, Mount, RawManifest, RegistryError, Repository};
    use crate::signing::store::{SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, read_signatures};
    use async_trait::async_trait;
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::sync::Mutex;

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

    /// A repository holding one `.sig` manifest and the blobs given, that
    /// counts blob reads.
    struct SignatureRepository {
        location: RepositoryLocation,
        manifest: RawManifest,
        blobs: BTreeMap<Digest, Bytes>,
        blob_reads: Mutex<usize>,
    }

    impl SignatureRepository {
        fn new(data: Option<String>, blobs: &[&'static [u8]]) -> Self {
            let layer = serde_json::json!({
                "mediaType": SIMPLE_SIGNING_MEDIA_TYPE,
                "digest": Digest::of_bytes(PAYLOAD).as_str(),
                "size": PAYLOAD.len(),
                "annotations": {SIGNATURE_ANNOTATION: "c2lnbmF0dXJl"},
                "data": data,
            });
            let manifest = serde_json::json!({
                "schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": Digest::of_bytes(b"{}").as_str(), "size": 2},
                "layers": [layer],
            });
            SignatureRepository {
                location: RepositoryLocation::parse("http://127.0.0.1:5000/prod/x", Path::new("."))
                    .expect("a valid location"),
                manifest: RawManifest::from_bytes(Bytes::from(manifest.to_string()), None)
                    .expect("a valid manifest"),
                blobs: blobs
                    .iter()
                    .map(|b| (Digest::of_bytes(b), Bytes::from_static(b)))
                    .collect(),
                blob_reads: Mutex::new(0),
            }
        }

        fn refused(&self, what: &str) -> RegistryError {
            RegistryError::Transport {
                registry: "the test double".into(),
                repository: self.location.reference(),
                operation: what.into(),
                message: "not part of this test".into(),
                hint: "The double answers only what the test reads".into(),
            }
        }
    }

    #[async_trait]
    impl Repository for SignatureRepository {
        fn location(&self) -> &RepositoryLocation {
            &self.location
        }
        async fn list_tags(&self) -> Result<Vec<String>, RegistryError> {
            Err(self.refused("list tags"))
        }
        async fn resolve_tag(&self, _: &str) -> Result<Option<Digest>, RegistryError> {
            Err(self.refused("resolve tag"))
        }
        async fn manifest_exists(&self, _: &Digest) -> Result<bool, RegistryError> {
            Err(self.refused("manifest exists"))
        }
        async fn get_manifest(
            &self,
            reference: ManifestRef<'_>,
        ) -> Result<Option<RawManifest>, RegistryError> {
            Ok(matches!(reference, ManifestRef::Tag(_)).then(|| self.manifest.clone()))
        }
        async fn put_manifest(
            &self,
            _: &RawManifest,
            _: Option<&str>,
        ) -> Result<(), RegistryError> {
            Err(self.refused("put manifest"))
        }
        async fn blob_exists(&self, digest: &Digest) -> Result<bool, RegistryError> {
            Ok(self.blobs.contains_key(digest))
        }
        async fn get_blob(&self, digest: &Digest) -> Result<BlobReader, RegistryError> {
            *self.blob_reads.lock().expect("not poisoned") += 1;
            let blob = self.blobs.get(digest).cloned();
            blob.map(BlobReader::from_bytes)
                .ok_or_else(|| self.refused("a missing blob"))
        }
        async fn put_blob(&self, _: &Digest, _: BlobReader) -> Result<(), RegistryError> {
            Err(self.refused("put blob"))
        }
        async fn mount_blob(
            &self,
            _: &Digest,
            _: &RepositoryLocation,
        ) -> Result<Mount, RegistryError> {
            Err(self.refused("mount blob"))
        }
    }

    async fn read(repository: &SignatureRepository) -> Result<Vec<Bytes>, RegistryError> {
        let entries = read_signatures(repository, &Digest::of_bytes(b"image")).await?;
        Ok(entries.into_iter().map(|entry| entry.payload).collect())
    }

    #[tokio::test]
    async fn read_signatures_uses_an_exact_inline_payload_without_a_request() {
        let repository = SignatureRepository::new(Some(BASE64.encode(PAYLOAD)), &[]);
        let payloads = read(&repository)
            .await
            .expect("the inline payload suffices");
        assert_eq!(payloads, vec![Bytes::from_static(PAYLOAD)]);
        assert_eq!(*repository.blob_reads.lock().expect("not poisoned"), 0);
    }

    #[tokio::test]
    async fn read_signatures_reads_the_blob_when_data_is_absent_or_lies() {
        let repository = SignatureRepository::new(None, &[PAYLOAD]);
        assert_eq!(
            read(&repository).await.expect("blob"),
            vec![Bytes::from_static(PAYLOAD)]
        );
        assert_eq!(*repository.blob_reads.lock().expect("not poisoned"), 1);

        // `data` claiming other content of the same size: the blob wins, and
        // the lie never reaches the verifier.
        let lie = BASE64.encode(br#"{"critical":{"identity":{"docker-reference":"r/y"}}}"#);
        let repository = SignatureRepository::new(Some(lie.clone()), &[PAYLOAD]);
        assert_eq!(
            read(&repository).await.expect("blob"),
            vec![Bytes::from_static(PAYLOAD)]
        );
        assert_eq!(*repository.blob_reads.lock().expect("not poisoned"), 1);

        // Without the blob a lying `data` is an error, not a payload.
        let repository = SignatureRepository::new(Some(lie), &[]);
        assert!(read(&repository).await.is_err());
    }
}
