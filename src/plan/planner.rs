//! The planner: a pure function from the desired state and the live state to
//! a `Plan`. No IO happens here; every decision about what to write does.

use crate::config::diagnostic::quoted;
use crate::config::model::{Desired, Release, Service, VulnerabilitySource};
use crate::digest::Digest;
use crate::live::{ImageSignatures, LiveService, LiveState, Standing, standing};
use crate::plan::{
    Action, ActionKind, Plan, Refusal, RefusalCode, SCHEMA_VERSION, Summary, Warning, WarningCode,
};
use crate::scan::gate::{self, GateRefusal, WaiverUse};
use crate::signing::{PublicKey, SignatureEntry};

/// Decides whether a stored signature is valid for a digest in a repository.
/// `PublicKey` is the implementation; keyless verification can be another.
pub trait SignatureCheck {
    fn accepts(&self, entry: &SignatureEntry, digest: &Digest, identity: &str) -> bool;
}

impl SignatureCheck for PublicKey {
    fn accepts(&self, entry: &SignatureEntry, digest: &Digest, identity: &str) -> bool {
        PublicKey::accepts(self, entry, digest, identity)
    }
}

/// Computes the plan. `verifier` is `None` when no public key is configured:
/// then no signature can be recognised, so existing tags need signing.
pub fn plan(desired: &Desired, live: &LiveState, verifier: Option<&dyn SignatureCheck>) -> Plan {
    let empty = LiveService::default();
    let mut actions = Vec::new();
    let mut refusals = Vec::new();
    let mut warnings = Vec::new();
    let scanning = desired.policy.vulnerability_source == VulnerabilitySource::Quay;
    // Without a known day every waiver with an expiry counts as expired.
    let today = live.today.unwrap_or(chrono::NaiveDate::MAX);
    let mut waivers_used = WaiverUse::default();

    if desired.policy.vulnerability_source == VulnerabilitySource::None {
        warnings.push(Warning {
            code: WarningCode::ScanDisabled,
            service: String::new(),
            tag: None,
            message: format!(
                "policy.vulnerability_source = \"none\" in {}: images are released without a vulnerability scan; DD-REGISTRY-001 requires zero critical and high CVEs in production",
                desired.file
            ),
            location: None,
        });
    }

    for service in &desired.services {
        let live_service = live.services.get(&service.name).unwrap_or(&empty);
        for release in &service.releases {
            let decision = match decide(desired, service, release, live_service, verifier) {
                Ok(ActionKind::Create) if scanning => gate::check_image(
                    &service.name,
                    &release.digest,
                    live_service.scans.get(&release.digest),
                    &desired.policy,
                    today,
                    &mut waivers_used,
                )
                .map(|()| ActionKind::Create),
                Ok(kind) => Ok(kind),
                Err((code, message)) => Err(GateRefusal {
                    code,
                    message,
                    details: Vec::new(),
                }),
            };
            match decision {
                Ok(kind) => actions.push(Action {
                    service: service.name.clone(),
                    tag: release.tag.clone(),
                    kind,
                    digest: release.digest.clone(),
                    source: service.source.reference(),
                    target: service.target.reference(),
                }),
                Err(GateRefusal {
                    code,
                    message,
                    details,
                }) => refusals.push(Refusal {
                    code,
                    service: service.name.clone(),
                    tag: release.tag.clone(),
                    message,
                    location: release.location.clone(),
                    details,
                }),
            }
        }
        warnings.extend(unmanaged_tags(&desired.file, service, live_service));
    }
    if scanning {
        warnings.extend(gate::unused_waivers(&desired.policy, &waivers_used, today));
    }

    let count = |kind| actions.iter().filter(|a: &&Action| a.kind == kind).count();
    let summary = Summary {
        create: count(ActionKind::Create),
        sign: count(ActionKind::Sign),
        unchanged: count(ActionKind::Unchanged),
        refused: refusals.len(),
        warnings: warnings.len(),
        ..Summary::default()
    };
    Plan {
        schema: SCHEMA_VERSION,
        summary,
        actions,
        refusals,
        warnings,
        file: desired.file.clone(),
        base: None,
        revision: None,
    }
}

type Decision = Result<ActionKind, (RefusalCode, String)>;

/// The action for one release, or why it is refused. The checks run from the
/// most fundamental (the tag itself) to the most circumstantial.
fn decide(
    desired: &Desired,
    service: &Service,
    release: &Release,
    live: &LiveService,
    verifier: Option<&dyn SignatureCheck>,
) -> Decision {
    match standing(release, live) {
        Standing::InvalidTag(reason) => Err((
            RefusalCode::InvalidTag,
            format!(
                "{} cannot be a production tag: {reason}",
                quoted(&release.tag)
            ),
        )),
        Standing::Tagged(found) => tagged(desired, service, release, found, live, verifier),
        Standing::ToCreate => to_create(desired, service, release, live),
    }
}

/// A release whose tag the target holds: unchanged, to sign, or refused.
fn tagged(
    desired: &Desired,
    service: &Service,
    release: &Release,
    found: &Digest,
    live: &LiveService,
    verifier: Option<&dyn SignatureCheck>,
) -> Decision {
    let target = service.target.reference();
    if found != &release.digest {
        return Err((
            RefusalCode::Retag,
            format!(
                "{target}:{} already points at {found}; production tags are immutable. Declare a new version for {}, or restore the digest {found}",
                release.tag, release.digest
            ),
        ));
    }
    let signed = live
        .signatures
        .get(&release.digest)
        .is_some_and(|image| fully_signed(image, &service.target.signed_identity(), verifier));
    match (signed, can_sign(desired)) {
        (true, _) => Ok(ActionKind::Unchanged),
        (false, true) => Ok(ActionKind::Sign),
        (false, false) => Err((
            RefusalCode::Unsigned,
            format!(
                "{target}:{} exists but carries no valid signature{}, and no signing key is configured: add `key` to [signing] in {} so apply can sign it",
                release.tag,
                if verifier.is_none() {
                    " that can be checked (no `public_key` in [signing])"
                } else {
                    ""
                },
                desired.file
            ),
        )),
    }
}

/// A release the target lacks: created, unless a create rule refuses it (the
/// vulnerability gate runs after these, in `plan`).
fn to_create(
    desired: &Desired,
    service: &Service,
    release: &Release,
    live: &LiveService,
) -> Decision {
    if live.source_has.get(&release.digest) != Some(&true) {
        return Err((
            RefusalCode::SourceMissing,
            format!(
                "{} has no image {}: push it to the source first, or correct the digest",
                service.source.reference(),
                release.digest
            ),
        ));
    }
    if let Some(refusal) = rc_rule(desired, service, release) {
        return Err(refusal);
    }
    if !can_sign(desired) {
        return Err((
            RefusalCode::Unsigned,
            format!(
                "creating {}:{} would leave a production tag unsigned: configure [signing] `key` (and `public_key`) in {}",
                service.target.reference(),
                release.tag,
                desired.file
            ),
        ));
    }
    Ok(ActionKind::Create)
}

/// A signing key is configured, so apply can sign what it creates or finds unsigned.
fn can_sign(desired: &Desired) -> bool {
    desired
        .signing
        .as_ref()
        .is_some_and(|signing| signing.key.is_some())
}

/// With `policy.require_rc`, a final version must reuse the digest of one of
/// its declared release candidates (the staging-validated image).
fn rc_rule(
    desired: &Desired,
    service: &Service,
    release: &Release,
) -> Option<(RefusalCode, String)> {
    let tag = release.tag_check.as_ref().ok()?;
    if !desired.policy.require_rc || !tag.is_final() {
        return None;
    }
    let validated = service.releases.iter().any(|other| {
        other.digest == release.digest
            && other.tag_check.as_ref().is_ok_and(|candidate| {
                candidate.major == tag.major
                    && candidate.minor == tag.minor
                    && candidate.patch == tag.patch
                    && candidate
                        .prerelease
                        .as_ref()
                        .is_some_and(|(suffix, _)| suffix == "rc")
            })
    });
    (!validated).then(|| {
        (
            RefusalCode::RcRequired,
            format!(
                "policy.require_rc: {} must point at the digest of a declared v{}.{}.{}-rcN; declare the release candidate first and promote the same digest",
                release.tag, tag.major, tag.minor, tag.patch
            ),
        )
    })
}

/// Every manifest of the image carries a signature: the root, and children
/// read in full, one the verifier accepts for this repository; children checked
/// by presence only, a listed signature tag.
fn fully_signed(
    image: &ImageSignatures,
    identity: &str,
    verifier: Option<&dyn SignatureCheck>,
) -> bool {
    let Some(verifier) = verifier else {
        return false;
    };
    !image.manifests.is_empty() && unsigned_manifests(image, identity, verifier).is_empty()
}

/// The manifests of the image without a signature: read ones with none the
/// verifier accepts, then children whose signature tag is not listed.
pub fn unsigned_manifests<'a>(
    image: &'a ImageSignatures,
    identity: &str,
    verifier: &dyn SignatureCheck,
) -> Vec<&'a Digest> {
    let unverified = image.manifests.iter().filter(|manifest| {
        !manifest
            .entries
            .iter()
            .any(|entry| verifier.accepts(entry, &manifest.digest, identity))
    });
    let unlisted = image.listed_children.iter().filter(|child| !child.listed);
    unverified
        .map(|manifest| &manifest.digest)
        .chain(unlisted.map(|child| &child.digest))
        .collect()
}

/// Tags in the target that the file does not declare (signature and
/// attestation tags `sha256-*` are cosign's, not releases).
fn unmanaged_tags(file: &str, service: &Service, live: &LiveService) -> Vec<Warning> {
    live.target_tags
        .iter()
        .filter(|tag| !tag.starts_with("sha256-"))
        .filter(|tag| !service.releases.iter().any(|release| &release.tag == *tag))
        .map(|tag| Warning {
            code: WarningCode::UnmanagedTag,
            service: service.name.clone(),
            tag: Some(tag.clone()),
            message: format!(
                "{}:{tag} exists but {} does not declare it: add it to [services.{}.releases] to manage it",
                service.target.reference(),
                file,
                service.name
            ),
            location: Some(service.location.clone()),
        })
        .collect()
}
