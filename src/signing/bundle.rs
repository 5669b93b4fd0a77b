//! Sigstore bundles as data (pure): a v0.3 bundle holding a DSSE envelope
//! whose payload is an in-toto v1 statement. Image signatures are what
//! `cosign sign --new-bundle-format --key` writes (predicate type
//! `https://sigstore.dev/cosign/sign/v1`, subject = the image digest);
//! [`envelope`] and [`open`] serve any statement (the promotion provenance
//! of `signing::provenance` too).
//!
//! cosign v3 signs images as DSSE, not as a `messageSignature`: a message
//! signature covers a blob whose digest the verifier must supply, while the
//! statement names the image digest itself, which policy engines read.
//!
//! The bundle is key-signed and carries no transparency-log entry and no
//! timestamp (no log is reachable from where quayside runs). A verifier must
//! therefore be given the public key and told not to require tlog entries,
//! signed timestamps or certificate transparency (`cosign verify --key K
//! --insecure-ignore-tlog=true --new-bundle-format`; sigstore-js with
//! `tlogThreshold: 0, ctlogThreshold: 0, tsaThreshold: 0`).

use crate::digest::Digest;
use crate::signing::{PublicKey, SignError, Signer};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::json;

/// Media type of a v0.3 Sigstore bundle (the referrer's `artifactType`).
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// DSSE payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The in-toto statement version cosign v3 writes.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The predicate type of a cosign v3 image signature.
pub const SIGN_PREDICATE_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";
/// Bundles are a few kilobytes; anything much larger is not ours.
pub const MAX_BUNDLE_BYTES: u64 = 256 * 1024;

/// Why a bundle does not count as a signature of an image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleRejection {
    #[error("not a Sigstore bundle: {0}")]
    Malformed(String),
    #[error("the bundle's media type is `{0}`, expected `{BUNDLE_MEDIA_TYPE}`")]
    MediaType(String),
    #[error("the bundle holds no DSSE envelope (a message signature does not name the image)")]
    NotDsse,
    #[error("no signature in the bundle verifies with the public key")]
    BadSignature,
    #[error("the signed payload is not an in-toto v1 statement: {0}")]
    Statement(String),
    #[error("the signed statement's predicate type is `{found}`, expected `{expected}`")]
    PredicateType {
        found: String,
        expected: &'static str,
    },
    #[error("the signed statement names other images, not {0}")]
    OtherSubject(Digest),
}

/// The bytes a DSSE signature covers (DSSE v1 pre-authentication encoding).
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The statement "the image `digest`, released as `identity`, is signed".
pub fn statement(identity: &str, digest: &Digest) -> Vec<u8> {
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": identity, "digest": {"sha256": digest.hex()}}],
        "predicateType": SIGN_PREDICATE_TYPE,
        "predicate": {},
    })
    .to_string()
    .into_bytes()
}

/// A signed bundle for `digest` released as `identity` (the target repository
/// without scheme or tag). `key_hint` names the key for verifiers that hold
/// several (`verificationMaterial.publicKey.hint`).
pub fn create(
    signer: &dyn Signer,
    key_hint: &str,
    identity: &str,
    digest: &Digest,
) -> Result<Vec<u8>, SignError> {
    envelope(signer, key_hint, &statement(identity, digest))
}

/// A key-signed bundle holding `statement` (an in-toto statement's JSON) in
/// a DSSE envelope: no tlog entry, no timestamp.
pub fn envelope(
    signer: &dyn Signer,
    key_hint: &str,
    statement: &[u8],
) -> Result<Vec<u8>, SignError> {
    let signature = signer.sign(&pae(IN_TOTO_PAYLOAD_TYPE, statement))?;
    Ok(json!({
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {
            "publicKey": {"hint": key_hint},
            "tlogEntries": [],
            "timestampVerificationData": {"rfc3161Timestamps": []},
        },
        "dsseEnvelope": {
            "payload": BASE64.encode(statement),
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "signatures": [{"sig": signature, "keyid": ""}],
        },
    })
    .to_string()
    .into_bytes())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    media_type: String,
    dsse_envelope: Option<Envelope>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    payload: String,
    payload_type: String,
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Deserialize)]
struct EnvelopeSignature {
    sig: String,
}

/// An in-toto v1 statement whose DSSE signature verified (see [`open`]).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    #[serde(rename = "_type")]
    kind: String,
    subject: Vec<Subject>,
    pub predicate_type: String,
    #[serde(default)]
    pub predicate: serde_json::Value,
}

#[derive(Clone, Debug, Deserialize)]
struct Subject {
    #[serde(default)]
    name: Option<String>,
    digest: std::collections::BTreeMap<String, String>,
}

impl Statement {
    /// Whether a subject is the image `digest` (and, where the subject has
    /// a name, the repository `identity`).
    pub fn names_image(&self, digest: &Digest, identity: &str) -> bool {
        self.subject.iter().any(|subject| {
            subject.digest.get("sha256").map(String::as_str) == Some(digest.hex())
                && subject.name.as_deref().is_none_or(|name| name == identity)
        })
    }

    /// `Ok` when the predicate type is `expected`.
    pub fn require_predicate(&self, expected: &'static str) -> Result<(), BundleRejection> {
        if self.predicate_type == expected {
            Ok(())
        } else {
            Err(BundleRejection::PredicateType {
                found: self.predicate_type.clone(),
                expected,
            })
        }
    }
}

/// The statement `bundle` carries, if `key` signed it: a v0.3 bundle with a
/// DSSE envelope whose signature verifies over the PAE, of payload type
/// in-toto, parsing as an in-toto v1 statement. Nothing unsigned is read.
pub fn open(bundle: &[u8], key: &PublicKey) -> Result<Statement, BundleRejection> {
    let wire: Wire = serde_json::from_slice(bundle)
        .map_err(|error| BundleRejection::Malformed(error.to_string()))?;
    if wire.media_type != BUNDLE_MEDIA_TYPE {
        return Err(BundleRejection::MediaType(wire.media_type));
    }
    let envelope = wire.dsse_envelope.ok_or(BundleRejection::NotDsse)?;
    let payload = BASE64
        .decode(envelope.payload.as_bytes())
        .map_err(|error| BundleRejection::Malformed(format!("DSSE payload: {error}")))?;
    let signed = pae(&envelope.payload_type, &payload);
    if !envelope
        .signatures
        .iter()
        .any(|signature| key.verify(&signed, &signature.sig))
    {
        return Err(BundleRejection::BadSignature);
    }
    // Only what the key signed is read from here on.
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(BundleRejection::Statement(format!(
            "payload type `{}`",
            envelope.payload_type
        )));
    }
    let statement: Statement = serde_json::from_slice(&payload)
        .map_err(|error| BundleRejection::Statement(error.to_string()))?;
    if statement.kind != STATEMENT_TYPE {
        return Err(BundleRejection::Statement(format!(
            "`_type` is `{}`, expected `{STATEMENT_TYPE}`",
            statement.kind
        )));
    }
    Ok(statement)
}

/// The predicate type a bundle's statement claims, read WITHOUT checking
/// any signature: only to tell, in a report, what a rejected bundle was
/// meant to be.
pub fn claimed_predicate_type(bundle: &[u8]) -> Option<String> {
    let wire: Wire = serde_json::from_slice(bundle).ok()?;
    let payload = BASE64.decode(wire.dsse_envelope?.payload.as_bytes()).ok()?;
    let statement: serde_json::Value = serde_json::from_slice(&payload).ok()?;
    Some(statement.get("predicateType")?.as_str()?.to_string())
}

/// Whether `bundle` is a signature by `key` of the image `digest` released as
/// `identity`: a DSSE envelope signed by the key over an in-toto statement
/// of cosign's sign predicate whose subject is that digest (and, where the
/// subject has a name, that repository).
pub fn verify(
    bundle: &[u8],
    key: &PublicKey,
    digest: &Digest,
    identity: &str,
) -> Result<(), BundleRejection> {
    let statement = open(bundle, key)?;
    statement.require_predicate(SIGN_PREDICATE_TYPE)?;
    if !statement.names_image(digest, identity) {
        return Err(BundleRejection::OtherSubject(digest.clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::SigningKey;
    use serde_json::Value;

    const IDENTITY: &str = "quay.io/kubernaut/gateway";

    fn digest() -> Digest {
        Digest::of_bytes(b"image")
    }

    fn signed(key: &SigningKey) -> Vec<u8> {
        create(key, "hint", IDENTITY, &digest()).unwrap()
    }

    #[test]
    fn pae_is_the_dsse_v1_encoding() {
        assert_eq!(pae("t/x", b"hello"), b"DSSEv1 3 t/x 5 hello".to_vec());
    }

    #[test]
    fn writes_a_key_signed_dsse_bundle_without_tlog_entries() {
        let bundle: Value =
            serde_json::from_slice(&signed(&SigningKey::generate().unwrap())).unwrap();
        assert_eq!(bundle["mediaType"], BUNDLE_MEDIA_TYPE);
        assert_eq!(bundle["verificationMaterial"]["publicKey"]["hint"], "hint");
        assert_eq!(bundle["verificationMaterial"]["tlogEntries"], json!([]));
        assert_eq!(bundle["dsseEnvelope"]["payloadType"], IN_TOTO_PAYLOAD_TYPE);
        let payload = BASE64
            .decode(bundle["dsseEnvelope"]["payload"].as_str().unwrap())
            .unwrap();
        let statement: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(statement["predicateType"], SIGN_PREDICATE_TYPE);
        assert_eq!(statement["subject"][0]["digest"]["sha256"], digest().hex());
        assert_eq!(statement["subject"][0]["name"], IDENTITY);
    }

    #[test]
    fn the_signing_key_accepts_its_bundle() {
        let key = SigningKey::generate().unwrap();
        assert_eq!(
            verify(&signed(&key), &key.public_key(), &digest(), IDENTITY),
            Ok(())
        );
    }

    #[test]
    fn a_strangers_bundle_is_not_a_signature() {
        let stranger = SigningKey::generate().unwrap();
        let ours = SigningKey::generate().unwrap();
        assert_eq!(
            verify(&signed(&stranger), &ours.public_key(), &digest(), IDENTITY),
            Err(BundleRejection::BadSignature)
        );
    }

    #[test]
    fn another_image_or_repository_is_refused() {
        let key = SigningKey::generate().unwrap();
        let other = Digest::of_bytes(b"other");
        assert_eq!(
            verify(&signed(&key), &key.public_key(), &other, IDENTITY),
            Err(BundleRejection::OtherSubject(other))
        );
        assert!(verify(&signed(&key), &key.public_key(), &digest(), "quay.io/x/y").is_err());
    }

    #[test]
    fn an_altered_statement_fails_the_signature() {
        let key = SigningKey::generate().unwrap();
        let mut bundle: Value = serde_json::from_slice(&signed(&key)).unwrap();
        let forged = statement(IDENTITY, &Digest::of_bytes(b"forged"));
        bundle["dsseEnvelope"]["payload"] = json!(BASE64.encode(forged));
        let bytes = bundle.to_string().into_bytes();
        assert_eq!(
            verify(
                &bytes,
                &key.public_key(),
                &Digest::of_bytes(b"forged"),
                IDENTITY
            ),
            Err(BundleRejection::BadSignature)
        );
    }

    #[test]
    fn malformed_or_foreign_bundles_are_refused() {
        let key = SigningKey::generate().unwrap().public_key();
        assert!(matches!(
            verify(b"not json", &key, &digest(), IDENTITY),
            Err(BundleRejection::Malformed(_))
        ));
        let message = json!({"mediaType": BUNDLE_MEDIA_TYPE, "messageSignature": {}});
        assert_eq!(
            verify(message.to_string().as_bytes(), &key, &digest(), IDENTITY),
            Err(BundleRejection::NotDsse)
        );
        let old = json!({"mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1"});
        assert!(matches!(
            verify(old.to_string().as_bytes(), &key, &digest(), IDENTITY),
            Err(BundleRejection::MediaType(_))
        ));
    }
}
