//! Reading and extending `sha256-<hex>.sig` manifests through the registry
//! seam, in the layout cosign writes (and every cosign verifier reads): an
//! OCI image manifest whose layers are simple-signing payloads, each with its
//! base64 signature in a layer annotation.
//!
//! Existing signatures are kept byte for byte: a new signature is appended as
//! a new layer, never substituted (cosign's own `push_signature` in the
//! sigstore crate replaces the manifest, losing signatures made by others).

use crate::digest::Digest;
use crate::registry::manifest::{ManifestError, ManifestKind, OCI_CONFIG, OCI_MANIFEST};
use crate::registry::race::put_manifest_racing;
use crate::registry::{BlobReader, ManifestRef, RawManifest, RegistryError, Repository};
use crate::signing::payload::{MAX_PAYLOAD_BYTES, SIMPLE_SIGNING_MEDIA_TYPE};
use crate::signing::{SignatureEntry, inline};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// Layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// A signature manifest ready to push: its blobs (config and new payloads)
/// then the manifest itself under `digest.signature_tag()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureManifest {
    pub manifest: RawManifest,
    /// Blobs the manifest references that may be missing from the registry.
    pub blobs: Vec<(Digest, Bytes)>,
}

/// Every signature stored for `digest`; empty when there is no `.sig` tag.
/// Layers that are not simple-signing signatures (attestations, layers
/// without a signature annotation) are skipped, as cosign skips them.
pub async fn read_signatures(
    repository: &dyn Repository,
    digest: &Digest,
) -> Result<Vec<SignatureEntry>, RegistryError> {
    let tag = digest.signature_tag();
    let Some(manifest) = repository.get_manifest(ManifestRef::Tag(&tag)).await? else {
        return Ok(Vec::new());
    };
    entries_of(repository, &manifest).await
}

/// The simple-signing signatures of a `.sig` manifest already read (other
/// layers skipped, as cosign skips them). A payload carried inline (`data`)
/// is used when it is exactly the content its descriptor names; otherwise
/// the payload blob is read.
pub async fn entries_of(
    repository: &dyn Repository,
    manifest: &RawManifest,
) -> Result<Vec<SignatureEntry>, RegistryError> {
    let layers = match manifest.kind() {
        Ok(ManifestKind::Image { layers, .. }) => layers,
        Ok(ManifestKind::Index { .. }) => {
            return Err(invalid(
                repository,
                format!(
                    "{} holds an index under a signature tag, not a cosign signature manifest; remove or fix that tag",
                    manifest.digest
                ),
            ));
        }
        Err(error) => return Err(invalid(repository, format!("{}: {error}", manifest.digest))),
    };
    let mut entries = Vec::new();
    for layer in layers {
        if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE {
            continue;
        }
        let Some(signature) = layer
            .annotations
            .as_ref()
            .and_then(|annotations| annotations.get(SIGNATURE_ANNOTATION))
        else {
            continue;
        };
        let payload = match inline::payload(&layer) {
            Some(payload) => payload,
            None => {
                repository
                    .get_small_blob(&layer.digest, MAX_PAYLOAD_BYTES)
                    .await?
            }
        };
        entries.push(SignatureEntry {
            payload,
            signature: signature.clone(),
        });
    }
    Ok(entries)
}

/// Adds `entry` to the signature manifest of `digest`, keeping existing ones.
/// Does nothing when the same signature over the same payload is already
/// there, so a re-run of apply writes nothing.
pub async fn add_signature(
    repository: &dyn Repository,
    digest: &Digest,
    entry: &SignatureEntry,
) -> Result<(), RegistryError> {
    add_signatures(repository, digest, std::slice::from_ref(entry)).await
}

/// [`add_signature`] for several entries at once (one manifest write).
pub async fn add_signatures(
    repository: &dyn Repository,
    digest: &Digest,
    entries: &[SignatureEntry],
) -> Result<(), RegistryError> {
    let existing = read_signature_tag(repository, digest).await?;
    extend_signatures(
        repository,
        digest,
        existing,
        entries,
        SignatureConfig::PerManifest,
    )
    .await
}

/// The `.sig` manifest of `digest` as stored, `None` when there is no tag:
/// what [`extend_signatures`] extends.
pub async fn read_signature_tag(
    repository: &dyn Repository,
    digest: &Digest,
) -> Result<Option<RawManifest>, RegistryError> {
    let tag = digest.signature_tag();
    repository.get_manifest(ManifestRef::Tag(&tag)).await
}

/// Adds `entries` to `existing`, the `.sig` manifest of `digest` as the
/// caller read it (`None`: the caller knows there is no tag), and stores the
/// result: no second read when the write goes through. Payloads are uploaded
/// without a HEAD first (an upload is one request; asking first would cost
/// as much); the config as `config` says.
///
/// Read-modify-write: a writer that puts the tag between our read and our put
/// is overwritten (the tag holds one manifest). If our put fails, the tag is
/// read again and extended once more. Two `apply` runs signing with one key
/// leave a valid signature either way; a signature by another key written in
/// that window is lost.
pub async fn extend_signatures(
    repository: &dyn Repository,
    digest: &Digest,
    existing: Option<RawManifest>,
    entries: &[SignatureEntry],
    config: SignatureConfig<'_>,
) -> Result<(), RegistryError> {
    let tag = digest.signature_tag();
    let mut uploaded: Vec<Digest> = Vec::new();
    let mut existing = existing;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let built = signature_manifest(existing.as_ref(), entries, config.is_shared())
            .map_err(|error| invalid(repository, format!("tag {tag}: {error}")))?;
        let Some(built) = built else {
            return Ok(());
        };
        if let SignatureConfig::Shared(shared) = config {
            shared.ensure(repository).await?;
        }
        for (blob_digest, bytes) in built.blobs {
            if uploaded.contains(&blob_digest) {
                continue;
            }
            repository
                .put_blob(&blob_digest, BlobReader::from_bytes(bytes))
                .await?;
            uploaded.push(blob_digest);
        }
        match put_manifest_racing(repository, &built.manifest, Some(&tag)).await {
            Ok(()) => return Ok(()),
            Err(error) if attempt >= 2 => return Err(error),
            Err(error) => {
                tracing::debug!(%error, %tag, "signature manifest put failed; reading the tag again");
                existing = read_signature_tag(repository, digest).await?;
            }
        }
    }
}

/// Which config blob a signature manifest names.
#[derive(Clone, Copy)]
pub enum SignatureConfig<'a> {
    /// cosign's own: one history entry and one diff_id per layer, so a new
    /// config (one more upload) with every manifest written.
    PerManifest,
    /// [`SHARED_CONFIG`] for every manifest, uploaded once per repository in
    /// a run (`apply`): verifiers read the layers and their annotations,
    /// never the config (Quay 3.18 and distribution accept it:
    /// `bench/probes/quay_shared_config.py`, `tests/all/independent_verify.rs`).
    Shared(&'a SharedConfig),
}

impl SignatureConfig<'_> {
    fn is_shared(self) -> bool {
        matches!(self, SignatureConfig::Shared(_))
    }
}

/// The config of every signature manifest `apply` writes: go-containerregistry's
/// empty image, as cosign's, without per-layer history or diff_ids.
pub const SHARED_CONFIG: &str = r#"{"architecture":"","created":"0001-01-01T00:00:00Z","history":[],"os":"","rootfs":{"type":"layers","diff_ids":[]},"config":{}}"#;

/// Config blobs that many manifests of a run name, known to be stored: one
/// cell per repository and blob, so that each is asked for (HEAD) and
/// uploaded at most once per run: [`SHARED_CONFIG`] for `.sig` manifests,
/// the OCI empty blob `{}` for bundle referrers.
#[derive(Default)]
pub struct SharedConfig {
    blobs: std::sync::Mutex<HashMap<StoredBlob, Arc<OnceCell<()>>>>,
}

/// A blob in a repository: its reference and the blob's digest.
type StoredBlob = (String, Digest);

impl SharedConfig {
    /// Makes sure `repository` holds [`SHARED_CONFIG`] (see [`Self::ensure_blob`]).
    async fn ensure(&self, repository: &dyn Repository) -> Result<(), RegistryError> {
        let bytes = Bytes::from_static(SHARED_CONFIG.as_bytes());
        self.ensure_blob(repository, &Digest::of_bytes(&bytes), bytes)
            .await
    }

    /// Makes sure `repository` holds the blob `digest` (`bytes`): HEAD, then
    /// upload when absent, once per repository and run; a failure is tried
    /// again by the next caller.
    pub async fn ensure_blob(
        &self,
        repository: &dyn Repository,
        digest: &Digest,
        bytes: Bytes,
    ) -> Result<(), RegistryError> {
        let cell = {
            let mut cells = self
                .blobs
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let key = (repository.location().reference(), digest.clone());
            Arc::clone(cells.entry(key).or_default())
        };
        cell.get_or_try_init(|| async {
            if !repository.blob_exists(digest).await? {
                repository
                    .put_blob(digest, BlobReader::from_bytes(bytes))
                    .await?;
            }
            Ok::<_, RegistryError>(())
        })
        .await
        .map(|_| ())
    }
}

/// Builds the signature manifest that holds the layers of `existing` (kept
/// verbatim, whatever they are) followed by one layer per entry not already
/// present. `None` when every entry is already present: nothing to write.
/// With `shared_config` the manifest names [`SHARED_CONFIG`], which is not
/// among its blobs (see [`SharedConfig`]); otherwise cosign's config, the
/// first blob.
pub fn signature_manifest(
    existing: Option<&RawManifest>,
    entries: &[SignatureEntry],
    shared_config: bool,
) -> Result<Option<SignatureManifest>, ManifestError> {
    let mut layers: Vec<Value> = match existing {
        Some(manifest) => existing_layers(manifest)?,
        None => Vec::new(),
    };
    let mut blobs = Vec::new();
    let mut added = false;
    for entry in entries {
        let payload_digest = Digest::of_bytes(&entry.payload);
        let present = layers
            .iter()
            .any(|layer| is_signature_layer(layer, &payload_digest, &entry.signature));
        if present {
            continue;
        }
        layers.push(json!({
            "mediaType": SIMPLE_SIGNING_MEDIA_TYPE,
            "size": entry.payload.len(),
            "digest": payload_digest.as_str(),
            "annotations": { SIGNATURE_ANNOTATION: entry.signature },
            // OCI 1.1 embedded content: readers that know the field need no
            // blob request for the payload; the blob is still uploaded, as
            // cosign reads it.
            "data": BASE64.encode(&entry.payload),
        }));
        blobs.push((payload_digest, entry.payload.clone()));
        added = true;
    }
    if !added {
        return Ok(None);
    }

    let config_bytes = if shared_config {
        Bytes::from_static(SHARED_CONFIG.as_bytes())
    } else {
        cosign_config(&layers)
    };
    let config_digest = Digest::of_bytes(&config_bytes);

    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG,
            "size": config_bytes.len(),
            "digest": config_digest.as_str(),
        },
        "layers": layers,
    });
    let manifest = RawManifest::from_bytes(Bytes::from(manifest.to_string()), Some(OCI_MANIFEST))?;
    if !shared_config {
        blobs.insert(0, (config_digest, config_bytes));
    }
    Ok(Some(SignatureManifest { manifest, blobs }))
}

/// The config cosign writes (go-containerregistry's empty image plus one
/// history entry and one diff_id per layer), in Go's field order.
fn cosign_config(layers: &[Value]) -> Bytes {
    let diff_ids: Vec<Value> = layers
        .iter()
        .filter_map(|layer| layer.get("digest").cloned())
        .collect();
    let history: Vec<Value> = layers
        .iter()
        .map(|_| json!({"created": "0001-01-01T00:00:00Z"}))
        .collect();
    let config = json!({
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": history,
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {},
    });
    Bytes::from(config.to_string())
}

/// The layer objects of an existing signature manifest, untouched.
fn existing_layers(manifest: &RawManifest) -> Result<Vec<Value>, ManifestError> {
    let refuse = |reason: &str| ManifestError {
        digest: manifest.digest.clone(),
        reason: format!("{reason}; it is not a cosign signature manifest"),
    };
    match manifest.kind()? {
        ManifestKind::Image { .. } => {}
        ManifestKind::Index { .. } => return Err(refuse("it is an index")),
    }
    let document: Value =
        serde_json::from_slice(&manifest.bytes).map_err(|error| ManifestError {
            digest: manifest.digest.clone(),
            reason: error.to_string(),
        })?;
    match document.get("layers") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(layers)) => Ok(layers.clone()),
        Some(_) => Err(refuse("its `layers` is not an array")),
    }
}

fn is_signature_layer(layer: &Value, payload_digest: &Digest, signature: &str) -> bool {
    layer.get("mediaType").and_then(Value::as_str) == Some(SIMPLE_SIGNING_MEDIA_TYPE)
        && layer.get("digest").and_then(Value::as_str) == Some(payload_digest.as_str())
        && layer
            .get("annotations")
            .and_then(|annotations| annotations.get(SIGNATURE_ANNOTATION))
            .and_then(Value::as_str)
            == Some(signature)
}

fn invalid(repository: &dyn Repository, message: String) -> RegistryError {
    RegistryError::SignatureTag {
        repository: repository.location().reference(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::location::RepositoryLocation;
    use crate::registry::Mount;
    use async_trait::async_trait;
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::sync::Mutex;

    const PAYLOAD: &[u8] = br#"{"critical":{"identity":{"docker-reference":"r/x"}}}"#;

    fn entry(text: &str, signature: &str) -> SignatureEntry {
        SignatureEntry {
            payload: Bytes::from(text.to_string()),
            signature: signature.to_string(),
        }
    }

    fn document(manifest: &RawManifest) -> Value {
        serde_json::from_slice(&manifest.bytes).unwrap()
    }

    #[test]
    fn builds_a_cosign_shaped_manifest() {
        let built = signature_manifest(None, &[entry("p1", "s1")], false)
            .unwrap()
            .unwrap();
        let doc = document(&built.manifest);
        assert_eq!(doc["schemaVersion"], 2);
        assert_eq!(doc["mediaType"], OCI_MANIFEST);
        assert_eq!(doc["config"]["mediaType"], OCI_CONFIG);
        let layer = &doc["layers"][0];
        assert_eq!(layer["mediaType"], SIMPLE_SIGNING_MEDIA_TYPE);
        assert_eq!(layer["digest"], Digest::of_bytes(b"p1").as_str());
        assert_eq!(layer["size"], 2);
        assert_eq!(layer["annotations"][SIGNATURE_ANNOTATION], "s1");
        assert_eq!(layer["data"], BASE64.encode(b"p1"));
        // Config first, then the payload; both match their digests.
        assert_eq!(built.blobs.len(), 2);
        for (digest, bytes) in &built.blobs {
            assert_eq!(&Digest::of_bytes(bytes), digest);
        }
        assert_eq!(doc["config"]["digest"], built.blobs[0].0.as_str());
        let config: Value = serde_json::from_slice(&built.blobs[0].1).unwrap();
        assert_eq!(
            config["rootfs"]["diff_ids"][0],
            Digest::of_bytes(b"p1").as_str()
        );
    }

    #[test]
    fn a_shared_config_is_named_and_not_carried() {
        let built = signature_manifest(None, &[entry("p1", "s1")], true)
            .unwrap()
            .unwrap();
        let doc = document(&built.manifest);
        assert_eq!(
            doc["config"]["digest"],
            Digest::of_bytes(SHARED_CONFIG.as_bytes()).as_str()
        );
        assert_eq!(doc["config"]["size"], SHARED_CONFIG.len());
        assert_eq!(doc["config"]["mediaType"], OCI_CONFIG);
        // Only the payload is the manifest's own blob.
        assert_eq!(
            built.blobs,
            vec![(Digest::of_bytes(b"p1"), Bytes::from("p1"))]
        );
        // Extending keeps naming the same config.
        let second = signature_manifest(Some(&built.manifest), &[entry("p2", "s2")], true)
            .unwrap()
            .unwrap();
        assert_eq!(document(&second.manifest)["config"], doc["config"]);
        assert_eq!(second.blobs.len(), 1);
    }

    #[test]
    fn extends_and_keeps_foreign_layers_verbatim() {
        let first = signature_manifest(None, &[entry("p1", "s1")], false)
            .unwrap()
            .unwrap();
        // A layer from another tool, with fields we do not model.
        let mut doc = document(&first.manifest);
        doc["layers"].as_array_mut().unwrap().push(json!({
            "mediaType": SIMPLE_SIGNING_MEDIA_TYPE, "size": 1,
            "digest": Digest::of_bytes(b"x").as_str(),
            "annotations": {SIGNATURE_ANNOTATION: "sx", "dev.sigstore.cosign/bundle": "{}"},
            "urls": ["https://example.invalid"]
        }));
        let foreign = RawManifest::from_bytes(Bytes::from(doc.to_string()), None).unwrap();
        let second = signature_manifest(Some(&foreign), &[entry("p2", "s2")], false)
            .unwrap()
            .unwrap();
        let layers = document(&second.manifest)["layers"].clone();
        assert_eq!(layers.as_array().unwrap().len(), 3);
        assert_eq!(layers[0], doc["layers"][0]);
        assert_eq!(layers[1], doc["layers"][1]);
        assert_eq!(layers[2]["annotations"][SIGNATURE_ANNOTATION], "s2");
        // Only the new payload (and the new config) need pushing.
        assert_eq!(second.blobs.len(), 2);
        assert_eq!(second.blobs[1].0, Digest::of_bytes(b"p2"));
    }

    #[test]
    fn is_idempotent() {
        let first = signature_manifest(None, &[entry("p1", "s1")], false)
            .unwrap()
            .unwrap();
        assert_eq!(
            signature_manifest(Some(&first.manifest), &[entry("p1", "s1")], false).unwrap(),
            None
        );
        // Same payload, different signature (another key): a new layer.
        assert!(
            signature_manifest(Some(&first.manifest), &[entry("p1", "other")], false)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn refuses_an_index_under_the_signature_tag() {
        let index =
            RawManifest::from_bytes(Bytes::from_static(br#"{"manifests":[]}"#), None).unwrap();
        assert!(signature_manifest(Some(&index), &[entry("p", "s")], false).is_err());
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
