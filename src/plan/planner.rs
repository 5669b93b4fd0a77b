//! The planner: the one place a `Plan` is made. A pure function of what the
//! commands read at the edges (the file, the live registries, the history
//! comparison, the key, the day, `--strict`); no IO, no clock, and no code
//! after it edits the plan. Every decision about what to write happens here.

use crate::config::model::{Desired, Service, VulnerabilitySource};
use crate::day::Day;
use crate::digest::Digest;
use crate::live::{LiveService, LiveState};
use crate::plan::release::decide;
use crate::plan::signatures::SignatureCheck;
use crate::plan::{
    Action, ActionKind, DeclaredRelease, Plan, Refusal, SCHEMA_VERSION, Summary, Warning,
    WarningReason, registry_policy, strict,
};
use crate::scan::gate::{self, GateRefusal, WaiverUse};
use std::collections::BTreeMap;

/// How the live state is judged, besides the file's own rules.
#[derive(Clone, Copy)]
pub struct Criteria<'a> {
    /// `None` when no public key is configured: then no signature can be
    /// recognised, so existing tags need signing.
    pub verifier: Option<&'a dyn SignatureCheck>,
    /// The UTC day against which waiver expiry is judged.
    pub today: Day,
    /// `plan --strict`: every warning is a refusal under its own code.
    pub strict: bool,
}

/// With `--base`: what comparing the file with its base revision adds to a
/// plan. Made by `history::Baseline::scope`; the planner knows nothing of git.
#[derive(Clone, Debug)]
pub struct HistoryCheck {
    /// The base revision's full commit id.
    pub base: String,
    /// The full commit id the file was read at, when known.
    pub revision: Option<String>,
    /// `changed` and `removed` releases, listed before the plan's own refusals.
    pub refusals: Vec<Refusal>,
    /// Releases unchanged since the base that this plan does not check.
    pub not_checked: usize,
    /// Every release of the file left out of the desired state planned
    /// (`service`, `tag` → digest): not checked, or refused above. Their
    /// tags in the target are declared, not unmanaged.
    pub left_out: BTreeMap<(String, String), Digest>,
}

/// Computes the plan for `desired` (with `history`, the part of the file the
/// change touches) from the registries' `live` state.
pub fn plan(
    desired: &Desired,
    live: &LiveState,
    history: Option<&HistoryCheck>,
    criteria: &Criteria<'_>,
) -> Plan {
    let empty = LiveService::default();
    let mut actions = Vec::new();
    let mut refusals = history.map(|h| h.refusals.clone()).unwrap_or_default();
    let mut warnings = Vec::new();
    let scanning = desired.policy.vulnerability_source == VulnerabilitySource::Quay;
    let mut waivers_used = WaiverUse::default();

    if desired.policy.vulnerability_source == VulnerabilitySource::None {
        warnings.push(Warning {
            service: String::new(),
            tag: None,
            reason: WarningReason::ScanDisabled {
                file: desired.file.clone(),
            },
            location: None,
        });
    }

    for service in &desired.services {
        let live_service = live.services.get(&service.name).unwrap_or(&empty);
        for release in &service.releases {
            let decision = match decide(desired, service, release, live_service, criteria.verifier)
            {
                Ok(ActionKind::Create) if scanning => gate::check_image(
                    &service.name,
                    &release.digest,
                    live_service.scans.get(&release.digest),
                    &desired.policy,
                    criteria.today,
                    &mut waivers_used,
                )
                .map(|()| ActionKind::Create),
                Ok(kind) => Ok(kind),
                Err(reason) => Err(GateRefusal {
                    reason,
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
                Err(GateRefusal { reason, details }) => refusals.push(Refusal {
                    service: service.name.clone(),
                    tag: release.tag.clone(),
                    reason,
                    location: release.location.clone(),
                    details,
                }),
            }
        }
        let left_out = history.map(|h| &h.left_out);
        warnings.extend(unmanaged_tags(
            &desired.file,
            service,
            live_service,
            left_out,
        ));
    }
    let registry = registry_policy::plan_policies(desired, &live.immutability);
    refusals.extend(registry.refusals);
    warnings.extend(registry.warnings);
    if scanning {
        warnings.extend(gate::unused_waivers(
            &desired.policy,
            &waivers_used,
            criteria.today,
        ));
    }
    if criteria.strict {
        refusals.extend(strict::escalate(
            std::mem::take(&mut warnings),
            &desired.file,
        ));
    }

    let not_checked = history.map_or(0, |h| h.not_checked);
    Plan {
        schema: SCHEMA_VERSION,
        summary: Summary {
            policies: registry.policies.len(),
            ..summarize(&actions, &refusals, &warnings, not_checked)
        },
        declared: declared_releases(desired, history),
        actions,
        policies: registry.policies,
        refusals,
        warnings,
        file: desired.file.clone(),
        base: history.map(|h| h.base.clone()),
        revision: history.and_then(|h| h.revision.clone()),
    }
}

/// Every release of the file, planned here or left out by `--base`: what a
/// saved plan is compared with when it is applied.
fn declared_releases(desired: &Desired, history: Option<&HistoryCheck>) -> Vec<DeclaredRelease> {
    let planned = desired.services.iter().flat_map(|service| {
        service.releases.iter().map(|release| DeclaredRelease {
            service: service.name.clone(),
            tag: release.tag.clone(),
            digest: release.digest.clone(),
            checked: true,
        })
    });
    let left_out = history.into_iter().flat_map(|h| {
        h.left_out
            .iter()
            .map(|((service, tag), digest)| DeclaredRelease {
                service: service.clone(),
                tag: tag.clone(),
                digest: digest.clone(),
                checked: false,
            })
    });
    let mut declared: Vec<DeclaredRelease> = planned.chain(left_out).collect();
    declared.sort_by(|a, b| (&a.service, &a.tag).cmp(&(&b.service, &b.tag)));
    declared
}

/// The counts, from the plan's final lists.
pub(crate) fn summarize(
    actions: &[Action],
    refusals: &[Refusal],
    warnings: &[Warning],
    not_checked: usize,
) -> Summary {
    let count = |kind| actions.iter().filter(|a| a.kind == kind).count();
    Summary {
        create: count(ActionKind::Create),
        sign: count(ActionKind::Sign),
        unchanged: count(ActionKind::Unchanged),
        refused: refusals.len(),
        warnings: warnings.len(),
        policies: 0,
        not_checked,
    }
}

/// Tags in the target that the file does not declare (signature and
/// attestation tags `sha256-*` are cosign's, not releases). `left_out`: the
/// file's releases outside this plan's scope, declared all the same.
fn unmanaged_tags(
    file: &str,
    service: &Service,
    live: &LiveService,
    left_out: Option<&BTreeMap<(String, String), Digest>>,
) -> Vec<Warning> {
    let declared = |tag: &str| {
        service.releases.iter().any(|release| release.tag == tag)
            || left_out
                .is_some_and(|map| map.contains_key(&(service.name.clone(), tag.to_string())))
    };
    live.target_tags
        .iter()
        .filter(|tag| !tag.starts_with("sha256-"))
        .filter(|tag| !declared(tag))
        .map(|tag| Warning {
            service: service.name.clone(),
            tag: Some(tag.clone()),
            reason: WarningReason::UnmanagedTag {
                target: service.target.reference(),
                file: file.to_string(),
            },
            location: Some(service.location.clone()),
        })
        .collect()
}
