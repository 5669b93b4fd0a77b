//! How a Sigstore bundle is stored next to an image (pure): an OCI 1.1
//! artifact manifest whose `subject` is the image, as cosign v3 writes it
//! (cosign's `specs/BUNDLE_SPEC.md`), and, for registries without the
//! referrers API, the fallback index under the tag `sha256-<hex>` with
//! `artifactType` and the annotations copied onto each descriptor (the
//! omission reported as cosign#4641).

use crate::digest::Digest;
use crate::registry::RawManifest;
use crate::registry::manifest::{ManifestError, OCI_INDEX, OCI_MANIFEST};
use crate::signing::bundle::{BUNDLE_MEDIA_TYPE, MAX_BUNDLE_BYTES};
use crate::signing::inline;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde_json::{Map, Value, json};

/// The OCI empty descriptor's media type, content (`{}`) and digest.
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
pub const EMPTY_CONTENT: &[u8] = b"{}";
/// What the bundle holds (`dsse-envelope` or `message-signature`).
pub const CONTENT_ANNOTATION: &str = "dev.sigstore.bundle.content";
pub const PREDICATE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";
pub const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";
pub const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";

/// A referrer manifest ready to push: first its blobs (the empty config and
/// the bundle), then the manifest by digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferrerManifest {
    pub manifest: RawManifest,
    pub blobs: Vec<(Digest, Bytes)>,
    /// The bundle its layer holds (also among `blobs`).
    pub bundle: Bytes,
    /// The manifest's top-level annotations, for a fallback index entry.
    pub annotations: Map<String, Value>,
}

/// The tag of the fallback referrers index of `subject` (OCI referrers tag
/// schema): `sha256-<hex>`, beside cosign's legacy `sha256-<hex>.sig`.
pub fn fallback_tag(subject: &Digest) -> String {
    format!("sha256-{}", subject.hex())
}

/// The artifact manifest holding `bundle` as its single layer, attached to
/// `subject` (the signed image's own manifest). `predicate_type`: what the
/// bundle's statement is (cosign's annotation, which tells a signature from
/// an attestation without reading the bundle). `created`: RFC 3339 time.
/// The layer carries the bundle inline too (`data`, as the `.sig` payloads
/// do): a reader saves the blob request; cosign reads the blob.
pub fn bundle_manifest(
    subject: &RawManifest,
    bundle: Bytes,
    predicate_type: &str,
    created: &str,
) -> Result<ReferrerManifest, ManifestError> {
    let bundle_digest = Digest::of_bytes(&bundle);
    let mut annotations = Map::new();
    annotations.insert(CONTENT_ANNOTATION.into(), json!("dsse-envelope"));
    annotations.insert(PREDICATE_ANNOTATION.into(), json!(predicate_type));
    annotations.insert(CREATED_ANNOTATION.into(), json!(created));
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE_MEDIA_TYPE,
        "config": {
            "mediaType": EMPTY_MEDIA_TYPE,
            "digest": Digest::of_bytes(EMPTY_CONTENT).as_str(),
            "size": EMPTY_CONTENT.len(),
        },
        "layers": [{
            "mediaType": BUNDLE_MEDIA_TYPE,
            "digest": bundle_digest.as_str(),
            "size": bundle.len(),
            "annotations": {
                TITLE_ANNOTATION: format!("sha256-{}.sigstore.json", bundle_digest.hex()),
            },
            "data": BASE64.encode(&bundle),
        }],
        "subject": {
            "mediaType": subject.media_type,
            "digest": subject.digest.as_str(),
            "size": subject.bytes.len(),
        },
        "annotations": annotations,
    });
    let manifest = RawManifest::from_bytes(Bytes::from(manifest.to_string()), Some(OCI_MANIFEST))?;
    Ok(ReferrerManifest {
        manifest,
        blobs: vec![
            (
                Digest::of_bytes(EMPTY_CONTENT),
                Bytes::from_static(EMPTY_CONTENT),
            ),
            (bundle_digest, bundle.clone()),
        ],
        bundle,
        annotations,
    })
}

/// One entry of a referrers index (the API's answer or the fallback tag).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Referrer {
    pub digest: Digest,
    pub artifact_type: Option<String>,
    /// The entry's `dev.sigstore.bundle.predicateType` annotation, if any.
    pub predicate_type: Option<String>,
}

/// The entries of a referrers index. Entries that are not descriptors are
/// skipped: they cannot point at a bundle.
pub fn referrers_of(index: &[u8]) -> Result<Vec<Referrer>, String> {
    let document: Value = serde_json::from_slice(index).map_err(|error| error.to_string())?;
    let Some(manifests) = document.get("manifests").and_then(Value::as_array) else {
        return Err("it has no `manifests` list".into());
    };
    Ok(manifests
        .iter()
        .filter_map(|entry| {
            let digest = Digest::parse(entry.get("digest")?.as_str()?).ok()?;
            let artifact_type = entry
                .get("artifactType")
                .and_then(Value::as_str)
                .map(str::to_string);
            let predicate_type = entry
                .get("annotations")
                .and_then(|annotations| annotations.get(PREDICATE_ANNOTATION))
                .and_then(Value::as_str)
                .map(str::to_string);
            Some(Referrer {
                digest,
                artifact_type,
                predicate_type,
            })
        })
        .collect())
}

/// The fallback index holding the entries of `existing` (kept verbatim) and
/// one for each of `referrers`, with its `artifactType` and annotations.
/// `None` when `existing` already lists them all.
pub fn fallback_index(
    existing: Option<&RawManifest>,
    referrers: &[&ReferrerManifest],
) -> Result<Option<RawManifest>, ManifestError> {
    let refuse = |manifest: &RawManifest, reason: String| ManifestError {
        digest: manifest.digest.clone(),
        reason: format!("{reason}; it is not a referrers index"),
    };
    let mut entries: Vec<Value> = match existing {
        None => Vec::new(),
        Some(manifest) => {
            let document: Value = serde_json::from_slice(&manifest.bytes)
                .map_err(|error| refuse(manifest, error.to_string()))?;
            match document.get("manifests") {
                Some(Value::Array(entries)) => entries.clone(),
                None | Some(Value::Null) => Vec::new(),
                Some(_) => return Err(refuse(manifest, "`manifests` is not a list".into())),
            }
        }
    };
    let mut added = false;
    for referrer in referrers {
        let digest = referrer.manifest.digest.as_str();
        if entries
            .iter()
            .any(|entry| entry.get("digest").and_then(Value::as_str) == Some(digest))
        {
            continue;
        }
        entries.push(json!({
            "mediaType": OCI_MANIFEST,
            "digest": digest,
            "size": referrer.manifest.bytes.len(),
            "artifactType": BUNDLE_MEDIA_TYPE,
            "annotations": referrer.annotations,
        }));
        added = true;
    }
    if !added {
        return Ok(None);
    }
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries});
    RawManifest::from_bytes(Bytes::from(index.to_string()), Some(OCI_INDEX)).map(Some)
}

/// The bundle layer of a Sigstore bundle artifact manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleLayer {
    pub digest: Digest,
    /// The bundle itself when the layer carries it inline and exactly (see
    /// `signing::inline`); otherwise read the blob.
    pub inline: Option<Bytes>,
}

/// The bundle layer of an artifact manifest read back, when the manifest is
/// a Sigstore bundle artifact with exactly one bundle layer.
pub fn bundle_layer(manifest: &RawManifest) -> Option<BundleLayer> {
    let document: Value = serde_json::from_slice(&manifest.bytes).ok()?;
    if document.get("artifactType").and_then(Value::as_str) != Some(BUNDLE_MEDIA_TYPE) {
        return None;
    }
    let layers = document.get("layers")?.as_array()?;
    let [layer] = layers.as_slice() else {
        return None;
    };
    if layer.get("mediaType").and_then(Value::as_str) != Some(BUNDLE_MEDIA_TYPE) {
        return None;
    }
    let digest = Digest::parse(layer.get("digest")?.as_str()?).ok()?;
    let inline = match (layer.get("data"), layer.get("size").and_then(Value::as_u64)) {
        (Some(Value::String(data)), Some(size)) => {
            inline::exact_content(data, size, &digest, MAX_BUNDLE_BYTES)
        }
        _ => None,
    };
    Some(BundleLayer { digest, inline })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::bundle::SIGN_PREDICATE_TYPE;

    fn image() -> RawManifest {
        let bytes = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
        RawManifest::from_bytes(Bytes::from_static(bytes), None).unwrap()
    }

    fn referrer() -> ReferrerManifest {
        bundle_manifest(
            &image(),
            Bytes::from_static(b"{\"b\":1}"),
            SIGN_PREDICATE_TYPE,
            "2026-12-01T00:00:00Z",
        )
        .unwrap()
    }

    fn document(manifest: &RawManifest) -> Value {
        serde_json::from_slice(&manifest.bytes).unwrap()
    }

    #[test]
    fn the_artifact_manifest_is_shaped_as_cosign_v3_writes_it() {
        let built = referrer();
        let doc = document(&built.manifest);
        assert_eq!(doc["mediaType"], OCI_MANIFEST);
        assert_eq!(doc["artifactType"], BUNDLE_MEDIA_TYPE);
        assert_eq!(doc["config"]["mediaType"], EMPTY_MEDIA_TYPE);
        assert_eq!(
            doc["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(doc["layers"].as_array().unwrap().len(), 1);
        assert_eq!(doc["layers"][0]["mediaType"], BUNDLE_MEDIA_TYPE);
        assert_eq!(doc["subject"]["digest"], image().digest.as_str());
        assert_eq!(doc["subject"]["size"], image().bytes.len());
        assert_eq!(doc["annotations"][CONTENT_ANNOTATION], "dsse-envelope");
        assert_eq!(
            doc["annotations"][PREDICATE_ANNOTATION],
            SIGN_PREDICATE_TYPE
        );
        assert_eq!(
            doc["annotations"][CREATED_ANNOTATION],
            "2026-12-01T00:00:00Z"
        );
        for (digest, bytes) in &built.blobs {
            assert_eq!(&Digest::of_bytes(bytes), digest);
        }
        assert_eq!(
            bundle_layer(&built.manifest),
            Some(BundleLayer {
                digest: built.blobs[1].0.clone(),
                inline: Some(Bytes::from_static(b"{\"b\":1}")),
            })
        );
    }

    #[test]
    fn an_inline_bundle_that_is_not_the_layer_is_ignored() {
        let built = referrer();
        let mut doc = document(&built.manifest);
        doc["layers"][0]["data"] = json!(BASE64.encode(b"{\"b\":2}"));
        let lying = RawManifest::from_bytes(Bytes::from(doc.to_string()), None).unwrap();
        let layer = bundle_layer(&lying).unwrap();
        assert_eq!(layer.digest, built.blobs[1].0);
        assert_eq!(layer.inline, None, "read the blob instead");
    }

    #[test]
    fn the_fallback_index_carries_artifact_type_and_annotations() {
        let built = referrer();
        let index = fallback_index(None, &[&built]).unwrap().unwrap();
        let doc = document(&index);
        assert_eq!(doc["mediaType"], OCI_INDEX);
        let entry = &doc["manifests"][0];
        assert_eq!(entry["digest"], built.manifest.digest.as_str());
        assert_eq!(entry["artifactType"], BUNDLE_MEDIA_TYPE);
        assert_eq!(entry["annotations"][CONTENT_ANNOTATION], "dsse-envelope");
        assert_eq!(
            referrers_of(&index.bytes).unwrap(),
            vec![Referrer {
                digest: built.manifest.digest.clone(),
                artifact_type: Some(BUNDLE_MEDIA_TYPE.into()),
                predicate_type: Some(SIGN_PREDICATE_TYPE.into()),
            }]
        );
        // Listed already: nothing to write.
        assert_eq!(fallback_index(Some(&index), &[&built]).unwrap(), None);
    }

    #[test]
    fn the_fallback_index_keeps_other_referrers_verbatim() {
        let foreign = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": Digest::of_bytes(b"sbom").as_str(), "size": 9,
             "artifactType": "application/spdx+json", "x-extra": true}]});
        let existing = RawManifest::from_bytes(Bytes::from(foreign.to_string()), None).unwrap();
        let index = fallback_index(Some(&existing), &[&referrer()])
            .unwrap()
            .unwrap();
        let doc = document(&index);
        assert_eq!(doc["manifests"][0], foreign["manifests"][0]);
        assert_eq!(doc["manifests"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn one_fallback_index_put_lists_a_signature_and_an_attestation() {
        let signature = referrer();
        let attestation = bundle_manifest(
            &image(),
            Bytes::from_static(b"{\"a\":2}"),
            "https://example.com/attestation/v1",
            "2026-12-01T00:00:00Z",
        )
        .unwrap();
        let index = fallback_index(None, &[&signature, &attestation])
            .unwrap()
            .unwrap();
        let listed = referrers_of(&index.bytes).unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(
            listed[1].predicate_type.as_deref(),
            Some("https://example.com/attestation/v1")
        );
        // One already listed, one new: only the new one is added.
        let first = fallback_index(None, &[&signature]).unwrap().unwrap();
        let both = fallback_index(Some(&first), &[&signature, &attestation])
            .unwrap()
            .unwrap();
        assert_eq!(referrers_of(&both.bytes).unwrap(), listed);
    }

    #[test]
    fn other_artifacts_have_no_bundle_layer() {
        assert_eq!(bundle_layer(&image()), None);
        assert!(referrers_of(b"{}").is_err());
        assert_eq!(
            fallback_tag(&image().digest),
            format!("sha256-{}", image().digest.hex())
        );
    }
}
