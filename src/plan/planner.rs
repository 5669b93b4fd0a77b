//! The planner: a pure function from the desired state and the live state to
//! a `Plan`. No IO happens here; every decision about what to write does.

use crate::config::model::{Desired, Service, VulnerabilitySource};
use crate::live::{LiveService, LiveState};
use crate::plan::release::decide;
use crate::plan::signatures::SignatureCheck;
use crate::plan::{
    Action, ActionKind, Plan, Refusal, SCHEMA_VERSION, Summary, Warning, WarningCode,
};
use crate::scan::gate::{self, GateRefusal, WaiverUse};

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
