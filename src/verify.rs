//! `verify` as a pure check: for each declared release, whether the target
//! holds the tag, at the declared digest, validly signed on the index and on
//! every child. The `verify` command reads every signature (`Scope::Audit`);
//! apply's confirmation reads as a plan does, and the finding says how many
//! children were only checked by signature tag. `crate::render::verify` words
//! the report. With `policy.registry_immutability = "require"` it also
//! checks, per target repository, that the registry protects the release
//! tags: a policy freezes them and each one present shows `immutable: true`.
//!
//! Each release found in place is also checked for its promotion provenance
//! (`signing::provenance`): an attestation by the key about that image,
//! repository and tag. It is shown when found; `verify --strict` requires
//! it, and a valid signature in every format whatever `signing.formats` says.

use crate::config::model::{Desired, SignatureFormat};
use crate::digest::Digest;
use crate::immutability::{self, TargetPolicies, judge, release_samples};
use crate::live::LiveState;
use crate::plan::SignatureCheck;
use crate::plan::signatures::{formats_present, unsigned_manifests};
use crate::signing::provenance::{self, AttestedRelease, Promotion};
use std::collections::BTreeMap;

/// How much `verify` requires of each release.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strictness {
    /// A valid signature in every format `signing.formats` names.
    #[default]
    Formats,
    /// `--strict`: a valid signature in every format quayside writes, and a
    /// valid provenance attestation.
    Strict,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// `verified` manifests carry a signature the key accepts; `tag_listed`
    /// children were checked by the presence of their signature tag only.
    /// `formats`: the formats in which it is validly signed (every
    /// required one, perhaps more).
    Verified {
        verified: usize,
        tag_listed: usize,
        formats: Vec<SignatureFormat>,
    },
    Missing,
    WrongDigest {
        found: Digest,
    },
    Unsigned {
        manifests: Vec<Digest>,
    },
    /// Validly signed, but not in every format `signing.formats` requires.
    FormatMissing {
        missing: Vec<SignatureFormat>,
        present: Vec<SignatureFormat>,
    },
}

/// What the release's attestations say of its promotion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProvenanceFinding {
    /// A valid attestation by the key records this promotion (the earliest,
    /// where a rerun attached a second).
    Attested(Box<Promotion>),
    /// No valid one. `rejected`: why each attestation found (claiming to
    /// be a quayside promotion) did not count.
    Absent { rejected: Vec<String> },
    /// Not looked for: the tag is missing or points elsewhere.
    NotChecked,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseCheck {
    pub service: String,
    pub tag: String,
    pub digest: Digest,
    pub target: String,
    pub finding: Finding,
    pub provenance: ProvenanceFinding,
    pub strictness: Strictness,
}

impl ReleaseCheck {
    pub fn holds(&self) -> bool {
        matches!(self.finding, Finding::Verified { .. }) && !self.lacks_required_provenance()
    }

    /// `--strict`, and no valid provenance attestation.
    pub fn lacks_required_provenance(&self) -> bool {
        self.strictness == Strictness::Strict
            && !matches!(self.provenance, ProvenanceFinding::Attested(_))
    }
}

/// Every declared release, as `signing.formats` requires it.
pub fn check(
    desired: &Desired,
    live: &LiveState,
    verifier: &dyn SignatureCheck,
) -> Vec<ReleaseCheck> {
    check_with(desired, live, verifier, Strictness::Formats)
}

/// Every declared release, checked as `strictness` says.
pub fn check_with(
    desired: &Desired,
    live: &LiveState,
    verifier: &dyn SignatureCheck,
    strictness: Strictness,
) -> Vec<ReleaseCheck> {
    let mut checks = Vec::new();
    let required = match strictness {
        Strictness::Strict => SignatureFormat::ALL.to_vec(),
        Strictness::Formats => desired
            .signing
            .as_ref()
            .map(|signing| signing.formats.clone())
            .unwrap_or_default(),
    };
    for service in &desired.services {
        let live_service = live.services.get(&service.name);
        let identity = service.target.signed_identity();
        for release in &service.releases {
            let found = live_service.and_then(|l| l.declared_tags.get(&release.tag));
            let finding = match found {
                None => Finding::Missing,
                Some(found) if found != &release.digest => Finding::WrongDigest {
                    found: found.clone(),
                },
                Some(_) => {
                    let image = live_service.and_then(|l| l.signatures.get(&release.digest));
                    match image {
                        Some(image) if !image.manifests.is_empty() => {
                            let unsigned = unsigned_manifests(image, &identity, verifier);
                            let present = formats_present(image, &identity, verifier);
                            let missing: Vec<SignatureFormat> = required
                                .iter()
                                .filter(|format| !present.contains(format))
                                .copied()
                                .collect();
                            if missing.contains(&SignatureFormat::Legacy) || present.is_empty() {
                                Finding::Unsigned {
                                    manifests: unsigned.into_iter().cloned().collect(),
                                }
                            } else if missing.is_empty() {
                                let (verified, tag_listed) = image.check_counts();
                                Finding::Verified {
                                    verified,
                                    tag_listed,
                                    formats: present,
                                }
                            } else {
                                Finding::FormatMissing { missing, present }
                            }
                        }
                        _ => Finding::Unsigned {
                            manifests: vec![release.digest.clone()],
                        },
                    }
                }
            };
            let provenance = match &finding {
                Finding::Missing | Finding::WrongDigest { .. } => ProvenanceFinding::NotChecked,
                _ => {
                    let bundles = live_service
                        .and_then(|l| l.signatures.get(&release.digest))
                        .and_then(|image| image.bundles.as_deref())
                        .unwrap_or_default();
                    let attested = AttestedRelease {
                        digest: &release.digest,
                        repository: &identity,
                        tag: &release.tag,
                    };
                    provenance_of(bundles, attested, verifier)
                }
            };
            checks.push(ReleaseCheck {
                service: service.name.clone(),
                tag: release.tag.clone(),
                digest: release.digest.clone(),
                target: service.target.reference(),
                finding,
                provenance,
                strictness,
            });
        }
    }
    checks
}

/// The promotion the attestations among `bundles` record for `release`.
fn provenance_of(
    bundles: &[bytes::Bytes],
    release: AttestedRelease<'_>,
    verifier: &dyn SignatureCheck,
) -> ProvenanceFinding {
    let mut promotions = Vec::new();
    let mut rejected = Vec::new();
    for bundle in bundles {
        match verifier.promotion(bundle, release) {
            Ok(promotion) => promotions.push(promotion),
            // Signature bundles and others' attestations are not rejections.
            Err(why) if provenance::claims_promotion(bundle) => rejected.push(why.to_string()),
            Err(_) => {}
        }
    }
    // RFC 3339 UTC times of one form order as text.
    match promotions
        .into_iter()
        .min_by(|a, b| a.promoted_at.cmp(&b.promoted_at))
    {
        Some(promotion) => ProvenanceFinding::Attested(Box::new(promotion)),
        None => ProvenanceFinding::Absent { rejected },
    }
}

/// Whether the registry itself protects one target repository's release
/// tags (`policy.registry_immutability = "require"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Protection {
    /// Policies freeze every release tag, and each present release tag shows
    /// `immutable: true`.
    Protected { tags: usize },
    /// No policy (any more) freezes these sample release tags.
    NoPolicy { unprotected: Vec<String> },
    /// Declared release tags in the target that are not immutable.
    Mutable { tags: Vec<String> },
    /// A policy freezes cosign's tags (or cannot be judged): `uuid`.
    FreezesSignatures { uuid: String, pattern: String },
    /// The registry has no immutability API.
    Unavailable { why: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryCheck {
    pub target: String,
    pub protection: Protection,
}

impl RegistryCheck {
    pub fn holds(&self) -> bool {
        matches!(self.protection, Protection::Protected { .. })
    }
}

/// For each target's policies, and its tags' `immutable` flags (`flags`,
/// keyed by target), whether the registry protects its release tags.
pub fn check_registry(
    desired: &Desired,
    targets: &[TargetPolicies],
    flags: &BTreeMap<String, BTreeMap<String, bool>>,
) -> Vec<RegistryCheck> {
    targets
        .iter()
        .map(|target| RegistryCheck {
            target: target.target.clone(),
            protection: protection(desired, target, flags.get(&target.target)),
        })
        .collect()
}

fn protection(
    desired: &Desired,
    target: &TargetPolicies,
    flags: Option<&BTreeMap<String, bool>>,
) -> Protection {
    let policies = match &target.protection {
        immutability::Protection::NoApi(why) => {
            return Protection::Unavailable { why: why.clone() };
        }
        immutability::Protection::Policies(policies) => policies,
    };
    let declared: Vec<&str> = desired
        .services
        .iter()
        .filter(|s| s.target.reference() == target.target)
        .flat_map(|s| s.releases.iter().map(|r| r.tag.as_str()))
        .collect();
    let judged = judge(
        policies,
        &release_samples(&desired.policy.prerelease, declared.iter().copied()),
    );
    if let Some((policy, _)) = judged.signature_freezers.first() {
        return Protection::FreezesSignatures {
            uuid: policy.uuid.clone(),
            pattern: policy.pattern.clone(),
        };
    }
    if !judged.covered() {
        return Protection::NoPolicy {
            unprotected: judged.unprotected,
        };
    }
    let empty = BTreeMap::new();
    let flags = flags.unwrap_or(&empty);
    let present: Vec<&str> = declared
        .into_iter()
        .filter(|tag| flags.contains_key(*tag))
        .collect();
    let mutable: Vec<String> = present
        .iter()
        .filter(|tag| flags.get(**tag) == Some(&false))
        .map(|tag| tag.to_string())
        .collect();
    if mutable.is_empty() {
        Protection::Protected {
            tags: present.len(),
        }
    } else {
        Protection::Mutable { tags: mutable }
    }
}
