//! Signing against an independent implementation: the `sigstore` crate's
//! cosign code reads our keys, verifies our signatures and reads our
//! signature manifests back from a registry; we verify its signatures.

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use quayside::config::location::RepositoryLocation;
use quayside::digest::Digest;
use quayside::registry::manifest::{OCI_CONFIG, OCI_MANIFEST};
use quayside::registry::{BlobReader, ManifestRef, Mount, RawManifest, RegistryError, Repository};
use quayside::signing::payload::SIMPLE_SIGNING_MEDIA_TYPE;
use quayside::signing::store::{self, SIGNATURE_ANNOTATION};
use quayside::signing::{KeyError, Payload, PublicKey, SignatureEntry, SigningKey};
use secrecy::{ExposeSecret, SecretString};
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraintVec};
use sigstore::cosign::verify_constraints;
use sigstore::crypto::signing_key::SigStoreKeyPair;
use sigstore::crypto::signing_key::ecdsa::{ECDSAKeys, EllipticCurve};
use sigstore::crypto::{CosignVerificationKey, Signature, SigningScheme};
use sigstore::registry::{Auth, OciReference};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const IDENTITY: &str = "127.0.0.1:5000/prod/gateway";

fn sigstore_keys() -> SigStoreKeyPair {
    SigStoreKeyPair::ECDSA(ECDSAKeys::new(EllipticCurve::P256).expect("sigstore generates a key"))
}

fn secret(text: &str) -> SecretString {
    SecretString::from(text.to_string())
}

fn entry(key: &SigningKey, identity: &str, digest: &Digest) -> SignatureEntry {
    SignatureEntry::create(key, identity, digest).expect("a local key signs")
}

// ---------------------------------------------------------------- keys

#[test]
fn a_key_encrypted_by_sigstore_loads_with_its_password() {
    let theirs = sigstore_keys();
    let pem = theirs.private_key_to_encrypted_pem(b"s3cret").unwrap();
    assert!(pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"));
    let ours = SigningKey::from_pem(pem.as_bytes(), Some(&secret("s3cret"))).unwrap();
    let their_public = PublicKey::from_pem(theirs.public_key_to_pem().unwrap().as_bytes()).unwrap();
    assert_eq!(ours.public_key(), their_public);

    let error = SigningKey::from_pem(pem.as_bytes(), Some(&secret("guess"))).unwrap_err();
    assert!(matches!(error, KeyError::WrongPassword { .. }), "{error:?}");
    assert!(!error.to_string().contains("guess") && !error.to_string().contains("s3cret"));
}

#[test]
fn a_key_encrypted_by_us_loads_in_sigstore() {
    let ours = SigningKey::generate().unwrap();
    let pem = ours.to_encrypted_pem(&secret("pw")).unwrap();
    let theirs =
        SigStoreKeyPair::from_encrypted_pem(pem.expose_secret().as_bytes(), b"pw").unwrap();
    let their_public = PublicKey::from_pem(theirs.public_key_to_pem().unwrap().as_bytes()).unwrap();
    assert_eq!(their_public, ours.public_key());
}

// ---------------------------------------------------------- signatures

#[test]
fn our_signature_verifies_with_sigstore() {
    let key = SigningKey::generate().unwrap();
    let digest = Digest::of_bytes(b"image");
    let signed = entry(&key, IDENTITY, &digest);
    let verifier = CosignVerificationKey::from_pem(
        key.public_key().to_pem().unwrap().as_bytes(),
        &SigningScheme::ECDSA_P256_SHA256_ASN1,
    )
    .unwrap();
    verifier
        .verify_signature(
            Signature::Base64Encoded(signed.signature.as_bytes()),
            &signed.payload,
        )
        .unwrap();
    // sigstore reads our payload and finds the digest in it.
    let parsed: sigstore::cosign::payload::SimpleSigning =
        serde_json::from_slice(&signed.payload).unwrap();
    assert!(parsed.satisfies_manifest_digest(digest.as_str()));

    // ...and refuses it once tampered with.
    let mut tampered = signed.payload.to_vec();
    let last = tampered.len() - 3;
    tampered[last] ^= 1;
    assert!(
        verifier
            .verify_signature(
                Signature::Base64Encoded(signed.signature.as_bytes()),
                &tampered
            )
            .is_err()
    );
}

#[test]
fn a_sigstore_signature_verifies_with_our_public_key() {
    let theirs = sigstore_keys();
    let signer = theirs
        .to_sigstore_signer(&SigningScheme::ECDSA_P256_SHA256_ASN1)
        .unwrap();
    let digest = Digest::of_bytes(b"image");
    let payload = Payload::new(IDENTITY, digest.clone()).to_bytes();
    let signature = base64_encode(&signer.sign(&payload).unwrap());
    let public = PublicKey::from_pem(theirs.public_key_to_pem().unwrap().as_bytes()).unwrap();
    let signed = SignatureEntry {
        payload: Bytes::from(payload),
        signature,
    };
    assert!(public.verify(&signed.payload, &signed.signature));
    assert!(public.accepts(&signed, &digest, IDENTITY));
}

#[test]
fn we_read_the_payload_sigstore_writes() {
    let digest = Digest::of_bytes(b"image");
    let reference: OciReference = format!("{IDENTITY}@{digest}").parse().unwrap();
    let theirs = sigstore::cosign::payload::SimpleSigning::new(&reference, digest.as_str());
    let payload = Payload::parse(&serde_json::to_vec(&theirs).unwrap()).unwrap();
    assert_eq!(payload.manifest_digest, digest);
}

#[test]
fn accepts_refuses_other_keys_tampering_other_digests_and_identities() {
    let key = SigningKey::generate().unwrap();
    let public = key.public_key();
    let digest = Digest::of_bytes(b"image");
    let good = entry(&key, IDENTITY, &digest);
    assert!(public.accepts(&good, &digest, IDENTITY));

    // Signed by someone else.
    let stranger = entry(&SigningKey::generate().unwrap(), IDENTITY, &digest);
    assert!(!public.accepts(&stranger, &digest, IDENTITY));
    // Payload altered after signing (pointing it at another image).
    let other = Digest::of_bytes(b"other image");
    let tampered = SignatureEntry {
        payload: Bytes::from(Payload::new(IDENTITY, other.clone()).to_bytes()),
        signature: good.signature.clone(),
    };
    assert!(!public.accepts(&tampered, &other, IDENTITY));
    // A genuine signature, but for another digest.
    let for_other = entry(&key, IDENTITY, &other);
    assert!(!public.accepts(&for_other, &digest, IDENTITY));
    // A genuine signature, but for another repository (the dev one).
    let for_dev = entry(&key, "quay.io/jordigilh/gateway", &digest);
    assert!(!public.accepts(&for_dev, &digest, IDENTITY));
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

// ------------------------------------------------- in-memory repository

/// A repository in memory, counting writes, for testing the store without
/// a registry process.
struct MemoryRepository {
    location: RepositoryLocation,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    manifests: HashMap<Digest, RawManifest>,
    tags: HashMap<String, Digest>,
    blobs: HashMap<Digest, Bytes>,
    manifest_puts: usize,
    blob_puts: usize,
}

impl MemoryRepository {
    fn new(location: &str) -> Arc<Self> {
        Arc::new(MemoryRepository {
            location: RepositoryLocation::parse(location, Path::new(".")).unwrap(),
            state: Mutex::new(State::default()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Stores a small image (config + one layer) and returns its digest.
    fn add_image(&self, tag: &str) -> Digest {
        let config = Bytes::from_static(br#"{"architecture":"amd64","os":"linux"}"#);
        let layer = Bytes::from(format!("layer of {tag}"));
        let text = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":{}}}]}}"#,
            Digest::of_bytes(&config),
            config.len(),
            Digest::of_bytes(&layer),
            layer.len()
        );
        let manifest = RawManifest::from_bytes(Bytes::from(text), None).unwrap();
        let digest = manifest.digest.clone();
        let mut state = self.state();
        state.blobs.insert(Digest::of_bytes(&config), config);
        state.blobs.insert(Digest::of_bytes(&layer), layer);
        state.tags.insert(tag.to_string(), digest.clone());
        state.manifests.insert(digest.clone(), manifest);
        digest
    }

    fn manifest(&self, reference: &str) -> Option<RawManifest> {
        let state = self.state();
        let digest = match Digest::parse(reference) {
            Ok(digest) => digest,
            Err(_) => state.tags.get(reference)?.clone(),
        };
        state.manifests.get(&digest).cloned()
    }

    /// What a registry answers for an absent object: HTTP 404.
    fn missing(&self, what: String) -> RegistryError {
        RegistryError::Http {
            registry: "memory".into(),
            repository: self.location.reference(),
            operation: format!("get {what}"),
            status: 404,
            oci: Box::default(),
            hint: format!("{what} not found"),
        }
    }
}

#[async_trait]
impl Repository for MemoryRepository {
    fn location(&self) -> &RepositoryLocation {
        &self.location
    }

    async fn list_tags(&self) -> Result<Vec<String>, RegistryError> {
        let mut tags: Vec<String> = self.state().tags.keys().cloned().collect();
        tags.sort();
        Ok(tags)
    }

    async fn resolve_tag(&self, tag: &str) -> Result<Option<Digest>, RegistryError> {
        Ok(self.state().tags.get(tag).cloned())
    }

    async fn manifest_exists(&self, digest: &Digest) -> Result<bool, RegistryError> {
        Ok(self.state().manifests.contains_key(digest))
    }

    async fn get_manifest(
        &self,
        reference: ManifestRef<'_>,
    ) -> Result<Option<RawManifest>, RegistryError> {
        Ok(match reference {
            ManifestRef::Tag(tag) => self.manifest(tag),
            ManifestRef::Digest(digest) => self.manifest(digest.as_str()),
        })
    }

    async fn put_manifest(
        &self,
        manifest: &RawManifest,
        tag: Option<&str>,
    ) -> Result<(), RegistryError> {
        let mut state = self.state();
        state.manifest_puts += 1;
        state
            .manifests
            .insert(manifest.digest.clone(), manifest.clone());
        if let Some(tag) = tag {
            state.tags.insert(tag.to_string(), manifest.digest.clone());
        }
        Ok(())
    }

    async fn blob_exists(&self, digest: &Digest) -> Result<bool, RegistryError> {
        Ok(self.state().blobs.contains_key(digest))
    }

    async fn get_blob(&self, digest: &Digest) -> Result<BlobReader, RegistryError> {
        let blob = self.state().blobs.get(digest).cloned();
        blob.map(BlobReader::from_bytes)
            .ok_or_else(|| self.missing(format!("blob {digest}")))
    }

    async fn put_blob(&self, digest: &Digest, mut blob: BlobReader) -> Result<(), RegistryError> {
        let mut bytes = Vec::new();
        while let Some(chunk) = blob.stream.next().await {
            bytes.extend_from_slice(&chunk?);
        }
        let actual = Digest::of_bytes(&bytes);
        if &actual != digest {
            return Err(RegistryError::DigestMismatch {
                repository: self.location.reference(),
                what: "blob".into(),
                expected: digest.clone(),
                actual,
            });
        }
        let mut state = self.state();
        state.blob_puts += 1;
        state.blobs.insert(actual, Bytes::from(bytes));
        Ok(())
    }

    async fn mount_blob(
        &self,
        _digest: &Digest,
        _from: &RepositoryLocation,
    ) -> Result<Mount, RegistryError> {
        Ok(Mount::Declined)
    }
}

// -------------------------------------------------------------- store

#[tokio::test]
async fn store_reads_nothing_then_extends_and_is_idempotent() {
    let repository = MemoryRepository::new("http://127.0.0.1:5000/prod/gateway");
    let digest = repository.add_image("v1.0.0");
    let identity = repository.location().signed_identity();
    assert_eq!(identity, IDENTITY);

    assert!(
        store::read_signatures(repository.as_ref(), &digest)
            .await
            .unwrap()
            .is_empty()
    );

    let first_key = SigningKey::generate().unwrap();
    let first = entry(&first_key, &identity, &digest);
    store::add_signature(repository.as_ref(), &digest, &first)
        .await
        .unwrap();
    let read = store::read_signatures(repository.as_ref(), &digest)
        .await
        .unwrap();
    assert_eq!(read, vec![first.clone()]);
    assert!(first_key.public_key().accepts(&read[0], &digest, &identity));

    // A second key's signature is added next to the first, never over it.
    let second_key = SigningKey::generate().unwrap();
    let second = entry(&second_key, &identity, &digest);
    store::add_signature(repository.as_ref(), &digest, &second)
        .await
        .unwrap();
    let read = store::read_signatures(repository.as_ref(), &digest)
        .await
        .unwrap();
    assert_eq!(read, vec![first.clone(), second.clone()]);
    assert!(
        second_key
            .public_key()
            .accepts(&read[1], &digest, &identity)
    );

    // Re-adding either writes nothing at all.
    let (manifests, blobs) = {
        let state = repository.state();
        (state.manifest_puts, state.blob_puts)
    };
    assert_eq!(manifests, 2);
    store::add_signature(repository.as_ref(), &digest, &first)
        .await
        .unwrap();
    store::add_signature(repository.as_ref(), &digest, &second)
        .await
        .unwrap();
    let state = repository.state();
    assert_eq!((state.manifest_puts, state.blob_puts), (manifests, blobs));
    // The image itself was never touched.
    assert_eq!(state.tags.get("v1.0.0"), Some(&digest));
}

#[tokio::test]
async fn store_skips_layers_that_are_not_signatures() {
    let repository = MemoryRepository::new("http://127.0.0.1:5000/prod/gateway");
    let digest = repository.add_image("v1.0.0");
    let payload = Bytes::from_static(b"{}");
    let text = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{d}","size":2}},"layers":[{{"mediaType":"application/vnd.dsse.envelope.v1+json","digest":"{d}","size":2}},{{"mediaType":"{SIMPLE_SIGNING_MEDIA_TYPE}","digest":"{d}","size":2}}]}}"#,
        d = Digest::of_bytes(&payload)
    );
    let manifest = RawManifest::from_bytes(Bytes::from(text), None).unwrap();
    repository
        .put_manifest(&manifest, Some(&digest.signature_tag()))
        .await
        .unwrap();
    assert!(
        store::read_signatures(repository.as_ref(), &digest)
            .await
            .unwrap()
            .is_empty()
    );

    // Adding keeps both foreign layers and appends ours.
    let key = SigningKey::generate().unwrap();
    store::add_signature(
        repository.as_ref(),
        &digest,
        &entry(&key, IDENTITY, &digest),
    )
    .await
    .unwrap();
    let read = store::read_signatures(repository.as_ref(), &digest)
        .await
        .unwrap();
    assert_eq!(read.len(), 1);
    let stored = repository.manifest(&digest.signature_tag()).unwrap();
    let document: serde_json::Value = serde_json::from_slice(&stored.bytes).unwrap();
    assert_eq!(document["layers"].as_array().unwrap().len(), 3);
    assert_eq!(
        document["layers"][2]["annotations"][SIGNATURE_ANNOTATION],
        read[0].signature.as_str()
    );
}

// ------------------------------------- sigstore reads our manifests back

/// Serves a [`MemoryRepository`] read-only over the OCI distribution API
/// (plain HTTP on loopback), enough for sigstore's cosign client.
async fn serve(repository: Arc<MemoryRepository>) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let repository = repository.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&request);
                let mut words = text.split_whitespace();
                let method = words.next().unwrap_or_default().to_string();
                let path = words.next().unwrap_or_default().to_string();
                let response = respond(&repository, &method, &path);
                let _ = socket.write_all(&response).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (address, task)
}

fn respond(repository: &MemoryRepository, method: &str, path: &str) -> Vec<u8> {
    let prefix = format!("/v2/{}/", "prod/gateway");
    let found = if path == "/v2/" {
        Some((
            "application/json".to_string(),
            None,
            Bytes::from_static(b"{}"),
        ))
    } else if let Some(reference) = path
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_prefix("manifests/"))
    {
        repository.manifest(reference).map(|manifest| {
            (
                manifest.media_type.clone(),
                Some(manifest.digest.clone()),
                manifest.bytes,
            )
        })
    } else if let Some(digest) = path
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_prefix("blobs/"))
        .and_then(|digest| Digest::parse(digest).ok())
    {
        let blob = repository.state().blobs.get(&digest).cloned();
        blob.map(|bytes| ("application/octet-stream".to_string(), Some(digest), bytes))
    } else {
        None
    };
    let (status, content_type, digest, body) = match found {
        Some((content_type, digest, body)) => ("200 OK", content_type, digest, body),
        None => (
            "404 Not Found",
            "application/json".to_string(),
            None,
            Bytes::from_static(
                br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"not found"}]}"#,
            ),
        ),
    };
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(digest) = digest {
        head.push_str(&format!("Docker-Content-Digest: {digest}\r\n"));
    }
    head.push_str("\r\n");
    let mut response = head.into_bytes();
    if method != "HEAD" {
        response.extend_from_slice(&body);
    }
    response
}

fn verifier(key: &PublicKey) -> VerificationConstraintVec {
    vec![Box::new(
        PublicKeyVerifier::new(
            key.to_pem().unwrap().as_bytes(),
            &SigningScheme::ECDSA_P256_SHA256_ASN1,
        )
        .unwrap(),
    )]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstore_verifies_the_signature_manifests_we_write() {
    let repository = MemoryRepository::new("http://127.0.0.1:5000/prod/gateway");
    let digest = repository.add_image("v1.0.0");
    let first = SigningKey::generate().unwrap();
    let second = SigningKey::generate().unwrap();
    for key in [&first, &second] {
        store::add_signature(repository.as_ref(), &digest, &entry(key, IDENTITY, &digest))
            .await
            .unwrap();
    }
    let (address, server) = serve(repository.clone()).await;

    let layers = crate::support::verifiers::signature_layers(
        &address.to_string(),
        "prod/gateway",
        &digest,
        &Auth::Anonymous,
    )
    .await;
    assert_eq!(layers.len(), 2, "both signatures are read back");

    // Each key finds its signature, a third key finds none.
    for key in [&first, &second] {
        let constraints = verifier(&key.public_key());
        verify_constraints(&layers, constraints.iter()).unwrap();
    }
    let stranger = verifier(&SigningKey::generate().unwrap().public_key());
    assert!(verify_constraints(&layers, stranger.iter()).is_err());

    // A signature for another image is not a signature for this one.
    let other = repository.add_image("v2.0.0");
    let layers = crate::support::verifiers::signature_layers(
        &address.to_string(),
        "prod/gateway",
        &other,
        &Auth::Anonymous,
    )
    .await;
    assert!(layers.is_empty());
    server.abort();
}
