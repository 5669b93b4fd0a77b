//! The rules for one declared release: unchanged, to sign, to create, or
//! refused, and why. Pure; the planner applies them to every release.

use crate::config::model::{Desired, Release, Service, SignatureFormat};
use crate::digest::Digest;
use crate::live::{LiveService, Standing, standing};
use crate::plan::reason::MissingRepository;
use crate::plan::signatures::{SignatureCheck, fully_signed};
use crate::plan::{ActionKind, RefusalReason};

pub(crate) type Decision = Result<ActionKind, RefusalReason>;

/// The action for one release, or why it is refused. The checks run from the
/// most fundamental (the tag itself) to the most circumstantial.
pub(crate) fn decide(
    desired: &Desired,
    service: &Service,
    release: &Release,
    live: &LiveService,
    verifier: Option<&dyn SignatureCheck>,
) -> Decision {
    match standing(release, live) {
        Standing::InvalidTag(problem) => Err(RefusalReason::InvalidTag {
            problem: problem.to_string(),
        }),
        Standing::Tagged(found) => tagged(desired, service, release, found, live, verifier),
        Standing::ToCreate => to_create(desired, service, release, live, verifier),
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
    if found != &release.digest {
        return Err(RefusalReason::Retag {
            target: service.target.reference(),
            found: found.clone(),
            declared: release.digest.clone(),
        });
    }
    let signed = live.signatures.get(&release.digest).is_some_and(|image| {
        fully_signed(
            image,
            &service.target.signed_identity(),
            verifier,
            &required_formats(desired),
        )
    });
    match (signed, can_sign(desired)) {
        (true, _) => Ok(ActionKind::Unchanged),
        (false, true) => Ok(ActionKind::Sign),
        (false, false) => Err(RefusalReason::Unsigned {
            target: service.target.reference(),
            file: desired.file.clone(),
            exists: true,
            checkable: verifier.is_some(),
        }),
    }
}

/// A release the target lacks: created, unless a create rule refuses it (the
/// vulnerability gate runs after these, in `plan`).
fn to_create(
    desired: &Desired,
    service: &Service,
    release: &Release,
    live: &LiveService,
    verifier: Option<&dyn SignatureCheck>,
) -> Decision {
    if live.source_has.get(&release.digest) != Some(&true) {
        let source = service.source.reference();
        let missing = (live.source_missing.as_ref())
            .map(|absent| MissingRepository::judged(&source, &absent.neighbours));
        return Err(RefusalReason::SourceMissing {
            source,
            digest: release.digest.clone(),
            missing,
        });
    }
    if let Some(refusal) = rc_rule(desired, service, release) {
        return Err(refusal);
    }
    if !can_sign(desired) {
        return Err(RefusalReason::Unsigned {
            target: service.target.reference(),
            file: desired.file.clone(),
            exists: false,
            checkable: verifier.is_some(),
        });
    }
    Ok(ActionKind::Create)
}

/// The signature formats a release must carry to be `unchanged`.
fn required_formats(desired: &Desired) -> Vec<SignatureFormat> {
    desired
        .signing
        .as_ref()
        .map(|signing| signing.formats.clone())
        .unwrap_or_default()
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
fn rc_rule(desired: &Desired, service: &Service, release: &Release) -> Option<RefusalReason> {
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
    (!validated).then(|| RefusalReason::RcRequired {
        version: format!("v{}.{}.{}", tag.major, tag.minor, tag.patch),
    })
}
