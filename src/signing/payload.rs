//! The cosign "simple signing" payload: the JSON document a signature covers.
//!
//! Writing is byte-exact (the signature is over these bytes, and cosign
//! writes exactly this shape); reading accepts any key order and whitespace
//! but is strict on structure, because a verifier that guesses is a verifier
//! that can be fooled.

use crate::digest::Digest;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The `critical.type` every cosign container image signature carries.
pub const SIGNATURE_TYPE: &str = "cosign container image signature";
/// Media type of a simple-signing payload (a signature manifest's layer).
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Payloads are a few hundred bytes; anything much larger is not ours.
pub const MAX_PAYLOAD_BYTES: u64 = 64 * 1024;

/// The `optional` annotation of an index's signature payload naming its
/// children (the digests of its `manifests`, comma-separated), which apply
/// writes: signed with the index, so a plan that verified the signature knows
/// them without reading the index (`live::quay_listing`).
pub const CHILDREN_ANNOTATION: &str = "dev.quayside/children";

/// What a signature says: "the image with this manifest digest is released as
/// this repository", plus free-form `optional` annotations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    /// The repository, without tag or digest (`quay.io/kubernaut/gateway`).
    pub docker_reference: String,
    pub manifest_digest: Digest,
    /// Annotations (cosign `-a key=value`); written as `null` when empty.
    /// Values that other signers write as non-strings (containers/image puts
    /// a numeric `timestamp` here) are read as their compact JSON text.
    pub optional: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error(
        "signature payload is not a cosign simple-signing document: {reason}; it was not made by cosign or quayside, or it was altered"
    )]
    Malformed { reason: String },
    #[error(
        "signature payload has type `{found}`, expected `{SIGNATURE_TYPE}`; it signs something other than a container image"
    )]
    WrongType { found: String },
}

// The wire form. `deny_unknown_fields` in `critical` follows the simple
// signing spec: a consumer must reject critical fields it does not know.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    critical: Critical,
    // `optional` is informational and, in cosign, any JSON object: other
    // tools' values are kept (as JSON text) rather than failing the payload.
    #[serde(default)]
    optional: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Critical {
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: Digest,
}

impl Payload {
    /// The children [`CHILDREN_ANNOTATION`] names; `None` without it, or when
    /// any of them is not a digest.
    pub fn children(&self) -> Option<Vec<Digest>> {
        let named = self.optional.get(CHILDREN_ANNOTATION)?;
        named
            .split(',')
            .map(|digest| Digest::parse(digest).ok())
            .collect()
    }

    pub fn new(docker_reference: impl Into<String>, manifest_digest: Digest) -> Self {
        Payload {
            docker_reference: docker_reference.into(),
            manifest_digest,
            optional: BTreeMap::new(),
        }
    }

    /// The exact bytes cosign writes (compact JSON, this key order).
    pub fn to_bytes(&self) -> Vec<u8> {
        // serde_json escapes strings; the layout is fixed by hand so that the
        // key order never depends on a serializer's configuration.
        let json = |text: &str| serde_json::Value::String(text.to_string()).to_string();
        let optional = if self.optional.is_empty() {
            "null".to_string()
        } else {
            let object: serde_json::Map<String, serde_json::Value> = self
                .optional
                .iter()
                .map(|(key, value)| (key.clone(), serde_json::Value::String(value.clone())))
                .collect();
            serde_json::Value::Object(object).to_string()
        };
        format!(
            r#"{{"critical":{{"identity":{{"docker-reference":{}}},"image":{{"docker-manifest-digest":{}}},"type":{}}},"optional":{}}}"#,
            json(&self.docker_reference),
            json(self.manifest_digest.as_str()),
            json(SIGNATURE_TYPE),
            optional
        )
        .into_bytes()
    }

    /// Reads a payload in any key order and spacing; refuses unknown fields,
    /// wrong types in `critical`, a non-object `optional` and a foreign `type`.
    pub fn parse(bytes: &[u8]) -> Result<Payload, PayloadError> {
        let wire: Wire =
            serde_json::from_slice(bytes).map_err(|error| PayloadError::Malformed {
                reason: error.to_string(),
            })?;
        if wire.critical.kind != SIGNATURE_TYPE {
            return Err(PayloadError::WrongType {
                found: wire.critical.kind,
            });
        }
        Ok(Payload {
            docker_reference: wire.critical.identity.docker_reference,
            manifest_digest: wire.critical.image.docker_manifest_digest,
            optional: wire
                .optional
                .unwrap_or_default()
                .into_iter()
                .map(|(key, value)| match value {
                    serde_json::Value::String(text) => (key, text),
                    other => (key, other.to_string()),
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        Digest::of_bytes(b"image")
    }

    #[test]
    fn writes_the_exact_cosign_bytes() {
        let payload = Payload::new("quay.io/kubernaut/gateway", digest());
        let expected = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"quay.io/kubernaut/gateway"}},"image":{{"docker-manifest-digest":"{}"}},"type":"cosign container image signature"}},"optional":null}}"#,
            digest()
        );
        assert_eq!(String::from_utf8(payload.to_bytes()).unwrap(), expected);
    }

    #[test]
    fn writes_annotations_as_an_object_in_key_order() {
        let mut payload = Payload::new("r/p", digest());
        payload.optional.insert("z".into(), "last".into());
        payload
            .optional
            .insert("a".into(), "first \"quoted\"".into());
        let text = String::from_utf8(payload.to_bytes()).unwrap();
        assert!(
            text.ends_with(r#""optional":{"a":"first \"quoted\"","z":"last"}}"#),
            "{text}"
        );
    }

    #[test]
    fn round_trips() {
        let mut payload = Payload::new("127.0.0.1:5001/prod/gateway", digest());
        assert_eq!(Payload::parse(&payload.to_bytes()).unwrap(), payload);
        payload.optional.insert("release".into(), "v1.0.0".into());
        assert_eq!(Payload::parse(&payload.to_bytes()).unwrap(), payload);
    }

    #[test]
    fn reads_any_key_order_and_whitespace() {
        let text = format!(
            "{{ \"optional\": {{\"k\": \"v\"}},\n  \"critical\": {{ \"type\": \"{SIGNATURE_TYPE}\",\n \"image\": {{\"docker-manifest-digest\": \"{}\"}}, \"identity\": {{\"docker-reference\": \"r/p\"}} }} }}",
            digest()
        );
        let payload = Payload::parse(text.as_bytes()).unwrap();
        assert_eq!(payload.docker_reference, "r/p");
        assert_eq!(payload.manifest_digest, digest());
        assert_eq!(payload.optional.get("k").map(String::as_str), Some("v"));
    }

    #[test]
    fn a_missing_optional_reads_as_empty() {
        let text = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"r/p"}},"image":{{"docker-manifest-digest":"{}"}},"type":"{SIGNATURE_TYPE}"}}}}"#,
            digest()
        );
        assert!(Payload::parse(text.as_bytes()).unwrap().optional.is_empty());
    }

    #[test]
    fn keeps_non_string_annotations_as_json_text() {
        // As podman / containers-image sigstore signing writes them.
        let good = String::from_utf8(Payload::new("r/p", digest()).to_bytes()).unwrap();
        let text = good.replace(
            r#""optional":null"#,
            r#""optional":{"creator":"podman","timestamp":1700000000}"#,
        );
        let payload = Payload::parse(text.as_bytes()).unwrap();
        assert_eq!(payload.optional["creator"], "podman");
        assert_eq!(payload.optional["timestamp"], "1700000000");
    }

    #[test]
    fn refuses_a_foreign_type() {
        let text = String::from_utf8(Payload::new("r/p", digest()).to_bytes())
            .unwrap()
            .replace(SIGNATURE_TYPE, "atomic container signature");
        assert_eq!(
            Payload::parse(text.as_bytes()),
            Err(PayloadError::WrongType {
                found: "atomic container signature".into()
            })
        );
    }

    #[test]
    fn refuses_wrong_types_and_unknown_critical_fields() {
        let good = String::from_utf8(Payload::new("r/p", digest()).to_bytes()).unwrap();
        let cases = [
            good.replace(r#""r/p""#, "42"),
            good.replace(digest().as_str(), "sha256:short"),
            good.replace(r#""optional":null"#, r#""optional":[]"#),
            good.replace(r#""identity""#, r#""extra":1,"identity""#),
            good.replace(r#""type":"#, r#""type":1,"x":"#),
            "not json".to_string(),
            "{}".to_string(),
        ];
        for case in cases {
            assert!(
                matches!(
                    Payload::parse(case.as_bytes()),
                    Err(PayloadError::Malformed { .. })
                ),
                "accepted {case}"
            );
        }
    }
}
