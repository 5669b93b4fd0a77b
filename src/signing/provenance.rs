//! Promotion provenance as data (pure): the in-toto v1 statement `apply`
//! signs when it creates a release tag, saying how the image got there, and
//! the check `verify` makes of one read back. No IO: `apply::attest` writes
//! it, `verify` judges what `live` read.
//!
//! The statement's subject is the image (its sha256, named by the target
//! repository as cosign names subjects); its predicate type is
//! [`PROMOTION_PREDICATE_TYPE`] and its predicate a [`Promotion`]:
//!
//! ```json
//! {"source": {"repository": "quay.io/jordigilh/gateway", "digest": "sha256:…"},
//!  "target": {"repository": "quay.io/kubernaut/gateway", "tag": "v1.0.0"},
//!  "releasesFile": {"path": "deploy/releases.toml", "commit": "<40 hex>"},
//!  "plan": {"digest": "sha256:…", "saved": false},
//!  "promotedAt": "2026-12-01T17:20:00Z",
//!  "promoter": {"name": "quayside", "version": "0.1.0"}}
//! ```
//!
//! It is signed like the bundle signature (`signing::bundle`: DSSE in a
//! key-signed v0.3 bundle, no transparency log), with the release key.
//! An attestation records a promotion when it happens: releases apply did
//! not create (tags that existed before, imported ones) never get one.

use crate::digest::Digest;
use crate::signing::bundle::{self, BundleRejection, STATEMENT_TYPE};
use crate::signing::{PublicKey, SignError, Signer};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The predicate type of a quayside promotion attestation. Stable: a new
/// shape of the predicate gets a new version, never this URI.
pub const PROMOTION_PREDICATE_TYPE: &str = "https://quayside.dev/promotion/v1";

/// The promoter named in every attestation this build writes.
pub const PROMOTER: &str = "quayside";

/// The predicate: one promotion of an image from source to a target tag.
/// Fields may be added, never renamed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Promotion {
    pub source: SourceImage,
    pub target: TargetTag,
    pub releases_file: ReleasesFile,
    pub plan: PlanDigest,
    /// RFC 3339, UTC, to the second (`2026-12-01T17:20:00Z`).
    pub promoted_at: String,
    pub promoter: Promoter,
}

/// Where the image was copied from, by digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceImage {
    /// The repository reference without scheme (the plan's `source`).
    pub repository: String,
    pub digest: Digest,
}

/// The release: which tag of which repository now names the image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetTag {
    /// The repository reference without scheme (the signatures' identity).
    pub repository: String,
    pub tag: String,
}

/// The `releases.toml` the release was declared in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasesFile {
    /// In a git repository its path there (repo-relative, `/`-separated);
    /// outside one, the path as `apply` was given it.
    pub path: String,
    /// The commit `apply` ran at (`git rev-parse HEAD`); `null` outside git
    /// or before the first commit.
    pub commit: Option<String>,
}

/// Which plan `apply` carried out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanDigest {
    /// sha256 of the plan's JSON form: with `apply PLAN.json` the saved
    /// file's bytes (`sha256sum PLAN.json`); otherwise the JSON form of the
    /// plan apply made (what `plan --format json` prints for that state).
    pub digest: Digest,
    /// Whether `digest` is a saved plan's (`apply PLAN.json`).
    pub saved: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promoter {
    pub name: String,
    pub version: String,
}

impl Promoter {
    /// This build of quayside.
    pub fn this_build() -> Self {
        Promoter {
            name: PROMOTER.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// Which release an attestation must be about to count.
#[derive(Clone, Copy, Debug)]
pub struct AttestedRelease<'a> {
    /// The image the tag points at.
    pub digest: &'a Digest,
    /// The target repository reference without scheme.
    pub repository: &'a str,
    pub tag: &'a str,
}

/// Why an attestation does not count for a release.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvenanceRejection {
    #[error(transparent)]
    Bundle(#[from] BundleRejection),
    #[error("the promotion predicate is incomplete or ill-formed: {0}")]
    Predicate(String),
    #[error("the statement is about other images, not {0}")]
    OtherSubject(Digest),
    #[error("the promotion copied {found}, not the image it is attached to")]
    OtherSource { found: Digest },
    #[error("it records the promotion to {repository}:{tag}, another release")]
    OtherRelease { repository: String, tag: String },
    #[error("this check has no key to verify attestations with")]
    Unchecked,
}

/// The in-toto statement of `promotion` (subject: the source digest, which
/// is the image's digest in the target too, named by the target repository).
pub fn statement(promotion: &Promotion) -> Vec<u8> {
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{
            "name": promotion.target.repository,
            "digest": {"sha256": promotion.source.digest.hex()},
        }],
        "predicateType": PROMOTION_PREDICATE_TYPE,
        "predicate": promotion,
    })
    .to_string()
    .into_bytes()
}

/// The signed attestation of `promotion`: its statement in a key-signed
/// bundle (see `signing::bundle`).
pub fn attest(
    signer: &dyn Signer,
    key_hint: &str,
    promotion: &Promotion,
) -> Result<Vec<u8>, SignError> {
    bundle::envelope(signer, key_hint, &statement(promotion))
}

/// The promotion `attestation` records, if it counts for `release`: signed
/// by `key`, a statement of [`PROMOTION_PREDICATE_TYPE`] about the image,
/// whose predicate is complete, copied that very digest, and names the
/// release's repository and tag.
pub fn check(
    attestation: &[u8],
    key: &PublicKey,
    release: AttestedRelease<'_>,
) -> Result<Promotion, ProvenanceRejection> {
    let statement = bundle::open(attestation, key)?;
    statement.require_predicate(PROMOTION_PREDICATE_TYPE)?;
    if !statement.names_image(release.digest, release.repository) {
        return Err(ProvenanceRejection::OtherSubject(release.digest.clone()));
    }
    let promotion: Promotion = serde_json::from_value(statement.predicate)
        .map_err(|error| ProvenanceRejection::Predicate(error.to_string()))?;
    if promotion.source.digest != *release.digest {
        return Err(ProvenanceRejection::OtherSource {
            found: promotion.source.digest,
        });
    }
    if promotion.target.repository != release.repository || promotion.target.tag != release.tag {
        return Err(ProvenanceRejection::OtherRelease {
            repository: promotion.target.repository,
            tag: promotion.target.tag,
        });
    }
    Ok(promotion)
}

/// A promotion of `digest` to `quay.io/kubernaut/gateway:<tag>` with every
/// field filled, for tests.
#[cfg(test)]
pub(crate) fn example(digest: Digest, tag: &str) -> Promotion {
    Promotion {
        source: SourceImage {
            repository: "quay.io/jordigilh/gateway".into(),
            digest,
        },
        target: TargetTag {
            repository: "quay.io/kubernaut/gateway".into(),
            tag: tag.into(),
        },
        releases_file: ReleasesFile {
            path: "deploy/releases.toml".into(),
            commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        },
        plan: PlanDigest {
            digest: Digest::of_bytes(b"plan"),
            saved: false,
        },
        promoted_at: "2026-12-01T17:20:00Z".into(),
        promoter: Promoter::this_build(),
    }
}

/// Whether `bundle` claims to be a promotion attestation (its statement's
/// predicate type, read without checking the signature: for reports only).
pub fn claims_promotion(bundle: &[u8]) -> bool {
    bundle::claimed_predicate_type(bundle).as_deref() == Some(PROMOTION_PREDICATE_TYPE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::SigningKey;
    use crate::signing::bundle::SIGN_PREDICATE_TYPE;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use serde_json::Value;

    const TARGET: &str = "quay.io/kubernaut/gateway";

    fn digest() -> Digest {
        Digest::of_bytes(b"image")
    }

    fn promotion() -> Promotion {
        example(digest(), "v1.0.0")
    }

    fn release<'a>(digest: &'a Digest, tag: &'a str) -> AttestedRelease<'a> {
        AttestedRelease {
            digest,
            repository: TARGET,
            tag,
        }
    }

    /// A bundle `key` signs over exactly `statement` (any JSON).
    fn signed_statement(key: &SigningKey, statement: &Value) -> Vec<u8> {
        bundle::envelope(key, "hint", statement.to_string().as_bytes()).unwrap()
    }

    fn statement_value() -> Value {
        serde_json::from_slice(&statement(&promotion())).unwrap()
    }

    #[test]
    fn the_statement_names_the_image_and_carries_the_promotion() {
        let doc = statement_value();
        assert_eq!(doc["_type"], STATEMENT_TYPE);
        assert_eq!(doc["predicateType"], PROMOTION_PREDICATE_TYPE);
        assert_eq!(doc["subject"][0]["name"], TARGET);
        assert_eq!(doc["subject"][0]["digest"]["sha256"], digest().hex());
        let predicate = &doc["predicate"];
        assert_eq!(predicate["source"]["digest"], digest().as_str());
        assert_eq!(predicate["target"]["tag"], "v1.0.0");
        assert_eq!(predicate["releasesFile"]["path"], "deploy/releases.toml");
        assert_eq!(
            predicate["releasesFile"]["commit"],
            "0123456789abcdef0123456789abcdef01234567"
        );
        assert_eq!(
            predicate["plan"]["digest"],
            Digest::of_bytes(b"plan").as_str()
        );
        assert_eq!(predicate["promotedAt"], "2026-12-01T17:20:00Z");
        assert_eq!(predicate["promoter"]["name"], "quayside");
        assert_eq!(predicate["promoter"]["version"], env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn the_release_key_accepts_its_attestation_and_reads_the_promotion() {
        let key = SigningKey::generate().unwrap();
        let attestation = attest(&key, "hint", &promotion()).unwrap();
        let digest = digest();
        assert_eq!(
            check(&attestation, &key.public_key(), release(&digest, "v1.0.0")),
            Ok(promotion())
        );
        assert!(claims_promotion(&attestation));
    }

    #[test]
    fn a_strangers_or_an_altered_attestation_has_a_bad_signature() {
        let ours = SigningKey::generate().unwrap();
        let stranger = SigningKey::generate().unwrap();
        let digest = digest();
        let theirs = attest(&stranger, "hint", &promotion()).unwrap();
        assert_eq!(
            check(&theirs, &ours.public_key(), release(&digest, "v1.0.0")),
            Err(ProvenanceRejection::Bundle(BundleRejection::BadSignature))
        );
        // Our signature, another statement put in: the signature fails.
        let mut altered: Value =
            serde_json::from_slice(&attest(&ours, "hint", &promotion()).unwrap()).unwrap();
        let mut forged = promotion();
        forged.releases_file.commit = Some("f".repeat(40));
        altered["dsseEnvelope"]["payload"] = json!(BASE64.encode(statement(&forged)));
        assert_eq!(
            check(
                altered.to_string().as_bytes(),
                &ours.public_key(),
                release(&digest, "v1.0.0")
            ),
            Err(ProvenanceRejection::Bundle(BundleRejection::BadSignature))
        );
    }

    #[test]
    fn another_image_or_another_tag_does_not_count() {
        let key = SigningKey::generate().unwrap();
        let attestation = attest(&key, "hint", &promotion()).unwrap();
        let other = Digest::of_bytes(b"other");
        assert_eq!(
            check(&attestation, &key.public_key(), release(&other, "v1.0.0")),
            Err(ProvenanceRejection::OtherSubject(other.clone()))
        );
        let digest = digest();
        assert_eq!(
            check(&attestation, &key.public_key(), release(&digest, "v1.0.1")),
            Err(ProvenanceRejection::OtherRelease {
                repository: TARGET.into(),
                tag: "v1.0.0".into()
            })
        );
        let elsewhere = AttestedRelease {
            digest: &digest,
            repository: "quay.io/kubernaut/other",
            tag: "v1.0.0",
        };
        assert_eq!(
            check(&attestation, &key.public_key(), elsewhere),
            Err(ProvenanceRejection::OtherSubject(digest.clone()))
        );
        // The subject is the image, the predicate says another was copied.
        let mut doc = statement_value();
        doc["predicate"]["source"]["digest"] = json!(other.as_str());
        assert_eq!(
            check(
                &signed_statement(&key, &doc),
                &key.public_key(),
                release(&digest, "v1.0.0")
            ),
            Err(ProvenanceRejection::OtherSource { found: other })
        );
    }

    #[test]
    fn a_signature_bundle_is_not_an_attestation_nor_the_reverse() {
        let key = SigningKey::generate().unwrap();
        let digest = digest();
        let signature = bundle::create(&key, "hint", TARGET, &digest).unwrap();
        assert_eq!(
            check(&signature, &key.public_key(), release(&digest, "v1.0.0")),
            Err(ProvenanceRejection::Bundle(
                BundleRejection::PredicateType {
                    found: SIGN_PREDICATE_TYPE.into(),
                    expected: PROMOTION_PREDICATE_TYPE,
                }
            ))
        );
        assert!(!claims_promotion(&signature));
        let attestation = attest(&key, "hint", &promotion()).unwrap();
        assert!(matches!(
            bundle::verify(&attestation, &key.public_key(), &digest, TARGET),
            Err(BundleRejection::PredicateType { .. })
        ));
    }

    #[test]
    fn a_predicate_with_a_field_missing_or_ill_typed_is_refused() {
        let key = SigningKey::generate().unwrap();
        let digest = digest();
        for (object, field) in [
            (None, "source"),
            (Some("source"), "digest"),
            (Some("target"), "tag"),
            (Some("releasesFile"), "path"),
            (Some("plan"), "digest"),
            (None, "promotedAt"),
            (None, "promoter"),
        ] {
            let mut doc = statement_value();
            let predicate = &mut doc["predicate"];
            let holder = match object {
                Some(object) => &mut predicate[object],
                None => predicate,
            };
            holder.as_object_mut().unwrap().remove(field);
            let said = check(
                &signed_statement(&key, &doc),
                &key.public_key(),
                release(&digest, "v1.0.0"),
            );
            assert!(
                matches!(&said, Err(ProvenanceRejection::Predicate(why)) if why.contains(field)),
                "{object:?}.{field}: {said:?}"
            );
        }
        let mut doc = statement_value();
        doc["predicate"]["source"]["digest"] = json!("sha256:short");
        assert!(matches!(
            check(
                &signed_statement(&key, &doc),
                &key.public_key(),
                release(&digest, "v1.0.0")
            ),
            Err(ProvenanceRejection::Predicate(_))
        ));
        // Outside git the commit is null, and that is complete.
        let mut doc = statement_value();
        doc["predicate"]["releasesFile"]["commit"] = Value::Null;
        let promotion = check(
            &signed_statement(&key, &doc),
            &key.public_key(),
            release(&digest, "v1.0.0"),
        )
        .unwrap();
        assert_eq!(promotion.releases_file.commit, None);
    }

    #[test]
    fn another_statement_type_is_refused() {
        let key = SigningKey::generate().unwrap();
        let digest = digest();
        let mut doc = statement_value();
        doc["_type"] = json!("https://in-toto.io/Statement/v0.1");
        assert!(matches!(
            check(
                &signed_statement(&key, &doc),
                &key.public_key(),
                release(&digest, "v1.0.0")
            ),
            Err(ProvenanceRejection::Bundle(BundleRejection::Statement(_)))
        ));
    }
}
