//! `verify` as a pure check: for each declared release, whether the target
//! holds the tag, at the declared digest, validly signed on the index and on
//! every child. The `verify` command reads every signature (`Scope::Audit`);
//! apply's confirmation reads as a plan does, and the finding says how many
//! children were only checked by signature tag. `crate::render::verify` words
//! the report. With `policy.registry_immutability = "require"` it also
//! checks, per target repository, that the registry protects the release
//! tags: a policy freezes them and each one present shows `immutable: true`.

use crate::config::model::{Desired, SignatureFormat};
use crate::digest::Digest;
use crate::immutability::{self, TargetPolicies, judge, release_samples};
use crate::live::LiveState;
use crate::plan::SignatureCheck;
use crate::plan::signatures::{formats_present, unsigned_manifests};
use std::collections::BTreeMap;

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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseCheck {
    pub service: String,
    pub tag: String,
    pub digest: Digest,
    pub target: String,
    pub finding: Finding,
}

impl ReleaseCheck {
    pub fn holds(&self) -> bool {
        matches!(self.finding, Finding::Verified { .. })
    }
}

pub fn check(
    desired: &Desired,
    live: &LiveState,
    verifier: &dyn SignatureCheck,
) -> Vec<ReleaseCheck> {
    let mut checks = Vec::new();
    let required = desired
        .signing
        .as_ref()
        .map(|signing| signing.formats.clone())
        .unwrap_or_default();
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
            checks.push(ReleaseCheck {
                service: service.name.clone(),
                tag: release.tag.clone(),
                digest: release.digest.clone(),
                target: service.target.reference(),
                finding,
            });
        }
    }
    checks
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
