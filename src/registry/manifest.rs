//! Manifests as original bytes plus what we read out of them (children of an
//! index, config and layers of an image). Bytes are never re-serialised, so
//! digests never change.

use crate::digest::Digest;
use bytes::Bytes;
use serde::Deserialize;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// Every manifest type we read, for `Accept` headers.
pub const ACCEPTED: [&str; 4] = [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST];

/// Manifests larger than this are refused: real ones are a few KiB, and a
/// hostile registry must not make us allocate without bound.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawManifest {
    pub bytes: Bytes,
    pub media_type: String,
    pub digest: Digest,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: Digest,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
    #[serde(default)]
    pub annotations: Option<std::collections::BTreeMap<String, String>>,
    /// OCI 1.1 `data`: the content inlined, base64. Untrusted until checked
    /// against `digest` and `size` (see `signing::store`).
    #[serde(default)]
    pub data: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// What a manifest references.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManifestKind {
    /// An index or manifest list: child manifests, one per platform.
    Index { children: Vec<Descriptor> },
    /// A single image: its config and layer blobs.
    Image {
        config: Descriptor,
        layers: Vec<Descriptor>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("manifest {digest} is not a valid image manifest or index: {reason}")]
pub struct ManifestError {
    pub digest: Digest,
    pub reason: String,
}

#[derive(Deserialize)]
struct AnyManifest {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
}

impl RawManifest {
    /// Wraps bytes read from somewhere, computing their digest. The media type
    /// comes from the transport if it gave one, else from the document.
    pub fn from_bytes(bytes: Bytes, media_type: Option<&str>) -> Result<Self, ManifestError> {
        let digest = Digest::of_bytes(&bytes);
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError {
                digest,
                reason: format!(
                    "{} bytes, more than the {MAX_MANIFEST_BYTES} allowed",
                    bytes.len()
                ),
            });
        }
        let parsed = parse(&bytes, &digest)?;
        let media_type = match media_type.filter(|m| ACCEPTED.contains(m)) {
            Some(given) => {
                // A type that contradicts the bytes would be copied along
                // with them and make the target registry refuse the manifest
                // (or store it mistyped); say so where it is read instead.
                // Found by `tests/all/apply_lying.rs`.
                let declared_index = parsed.manifests.is_some();
                let given_index = given == OCI_INDEX || given == DOCKER_LIST;
                let contradiction = match &parsed.media_type {
                    Some(declared) => declared != given,
                    None => declared_index != given_index,
                };
                if contradiction {
                    return Err(ManifestError {
                        digest,
                        reason: format!(
                            "it is served with media type {given} but its content is {}; the registry misreports it",
                            parsed.media_type.as_deref().unwrap_or(if declared_index {
                                "an index"
                            } else {
                                "an image manifest"
                            })
                        ),
                    });
                }
                given.to_string()
            }
            None => parsed.media_type.clone().unwrap_or_else(|| {
                // Some manifests omit mediaType: infer it from their shape.
                if parsed.manifests.is_some() {
                    OCI_INDEX.to_string()
                } else {
                    OCI_MANIFEST.to_string()
                }
            }),
        };
        Ok(RawManifest {
            bytes,
            media_type,
            digest,
        })
    }

    pub fn kind(&self) -> Result<ManifestKind, ManifestError> {
        let parsed = parse(&self.bytes, &self.digest)?;
        match (parsed.manifests, parsed.config) {
            (Some(children), None) => Ok(ManifestKind::Index { children }),
            (None, Some(config)) => Ok(ManifestKind::Image {
                config,
                layers: parsed.layers.unwrap_or_default(),
            }),
            _ => Err(ManifestError {
                digest: self.digest.clone(),
                reason: "it has neither `manifests` (index) nor `config` (image), or both".into(),
            }),
        }
    }

    /// Child manifests of an index; empty for an image.
    pub fn children(&self) -> Result<Vec<Descriptor>, ManifestError> {
        Ok(match self.kind()? {
            ManifestKind::Index { children } => children,
            ManifestKind::Image { .. } => Vec::new(),
        })
    }
}

fn parse(bytes: &[u8], digest: &Digest) -> Result<AnyManifest, ManifestError> {
    serde_json::from_slice(bytes).map_err(|error| ManifestError {
        digest: digest.clone(),
        reason: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn refuses_a_media_type_that_contradicts_the_content() {
        let image = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"digest":"{}","size":1}},"layers":[]}}"#,
            digest('c')
        );
        let error = RawManifest::from_bytes(Bytes::from(image.clone()), Some(OCI_INDEX))
            .unwrap_err()
            .to_string();
        assert!(error.contains("served with media type"), "{error}");
        let untyped = image.replace(&format!(r#""mediaType":"{OCI_MANIFEST}","#), "");
        assert!(RawManifest::from_bytes(Bytes::from(untyped.clone()), Some(DOCKER_LIST)).is_err());
        let manifest =
            RawManifest::from_bytes(Bytes::from(untyped), Some(DOCKER_MANIFEST)).unwrap();
        assert_eq!(manifest.media_type, DOCKER_MANIFEST);
        let manifest = RawManifest::from_bytes(Bytes::from(image), Some(OCI_MANIFEST)).unwrap();
        assert_eq!(manifest.media_type, OCI_MANIFEST);
    }

    #[test]
    fn reads_an_index_without_media_type() {
        let text = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"digest":"{}","size":10,"platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#,
            digest('a')
        );
        let manifest = RawManifest::from_bytes(Bytes::from(text.clone()), None).unwrap();
        assert_eq!(manifest.media_type, OCI_INDEX);
        assert_eq!(manifest.digest, Digest::of_bytes(text.as_bytes()));
        let children = manifest.children().unwrap();
        assert_eq!(children.len(), 1);
        assert_eq!(
            children[0].platform.as_ref().unwrap().to_string(),
            "linux/amd64"
        );
    }

    #[test]
    fn reads_an_image() {
        let text = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{}","size":2}},"layers":[{{"mediaType":"x","digest":"{}","size":3}}]}}"#,
            digest('b'),
            digest('c')
        );
        let manifest = RawManifest::from_bytes(Bytes::from(text), None).unwrap();
        match manifest.kind().unwrap() {
            ManifestKind::Image { config, layers } => {
                assert_eq!(config.digest.as_str(), digest('b'));
                assert_eq!(layers.len(), 1);
            }
            other => panic!("expected an image, got {other:?}"),
        }
    }

    #[test]
    fn refuses_garbage_and_oversize() {
        assert!(RawManifest::from_bytes(Bytes::from_static(b"{not json"), None).is_err());
        assert!(
            RawManifest::from_bytes(Bytes::from_static(b"{}"), None)
                .unwrap()
                .kind()
                .is_err()
        );
        let huge = Bytes::from(vec![b' '; MAX_MANIFEST_BYTES + 1]);
        assert!(RawManifest::from_bytes(huge, None).is_err());
    }
}
