//! The plan's part for `policy.registry_immutability = "require"`: from the
//! policies each target repository's registry holds, the policy to create
//! where release tags are unprotected (with a warning saying so), a refusal
//! for any policy that would freeze cosign's `sha256-*` tags, and one warning
//! per registry that cannot enforce immutability. Pure.

use crate::config::model::{Desired, RegistryImmutability, SourceLocation};
use crate::immutability::{Protection, TargetPolicies, judge, release_samples, wanted_pattern};
use crate::plan::{
    ActionKind, FrozenSignatures, PolicyAction, Refusal, RefusalReason, UnprotectedTags, Warning,
    WarningReason,
};

/// Unprotected sample tags named in a warning.
const SAMPLES_NAMED: usize = 3;

#[derive(Default)]
pub(super) struct PolicyPlan {
    pub policies: Vec<PolicyAction>,
    pub refusals: Vec<Refusal>,
    pub warnings: Vec<Warning>,
}

pub(super) fn plan_policies(desired: &Desired, targets: &[TargetPolicies]) -> PolicyPlan {
    let mut out = PolicyPlan::default();
    let RegistryImmutability::Require(setting) = &desired.policy.registry_immutability else {
        return out;
    };
    let pattern = wanted_pattern(&desired.policy.prerelease);
    let mut refused_uuids = Vec::new();
    let mut unavailable = Vec::new();
    for target in targets {
        let services: Vec<_> = desired
            .services
            .iter()
            .filter(|s| s.target.reference() == target.target)
            .collect();
        let policies = match &target.protection {
            Protection::NoApi(why) => {
                if !unavailable.contains(&target.registry) {
                    unavailable.push(target.registry.clone());
                    out.warnings
                        .push(unavailable_warning(&target.registry, why, setting));
                }
                continue;
            }
            Protection::Policies(policies) => policies,
        };
        let declared = services
            .iter()
            .flat_map(|s| s.releases.iter().map(|r| r.tag.as_str()));
        let judged = judge(
            policies,
            &release_samples(&desired.policy.prerelease, declared),
        );
        let service = services.first().map(|s| s.name.clone()).unwrap_or_default();
        let covered = judged.covered();
        for (policy, verdict) in judged.signature_freezers {
            if refused_uuids.contains(&policy.uuid) {
                continue;
            }
            refused_uuids.push(policy.uuid.clone());
            out.refusals.push(Refusal {
                service: service.clone(),
                tag: String::new(),
                reason: RefusalReason::FreezesSignatures(Box::new(FrozenSignatures {
                    registry: target.registry.clone(),
                    scope: policy.scope.describe(),
                    uuid: policy.uuid,
                    pattern: policy.pattern,
                    verdict,
                })),
                location: setting.clone(),
                details: Vec::new(),
            });
        }
        if covered {
            continue;
        }
        out.warnings.push(Warning {
            service: service.clone(),
            tag: None,
            reason: WarningReason::TagsUnprotected(Box::new(UnprotectedTags {
                target: target.target.clone(),
                registry: target.registry.clone(),
                organization: target.organization.clone(),
                unprotected: judged.unprotected.into_iter().take(SAMPLES_NAMED).collect(),
                pattern: pattern.clone(),
            })),
            location: Some(setting.clone()),
        });
        add_target(&mut out.policies, target, &pattern);
    }
    out
}

/// One policy per organization of an API, protecting every target in it.
fn add_target(policies: &mut Vec<PolicyAction>, target: &TargetPolicies, pattern: &str) {
    if let Some(existing) = policies
        .iter_mut()
        .find(|p| p.api == target.api && p.organization == target.organization)
    {
        existing.targets.push(target.target.clone());
        return;
    }
    policies.push(PolicyAction {
        kind: ActionKind::Create,
        registry: target.registry.clone(),
        api: target.api.clone(),
        organization: target.organization.clone(),
        tag_pattern: pattern.to_string(),
        targets: vec![target.target.clone()],
    });
}

fn unavailable_warning(registry: &str, why: &str, setting: &SourceLocation) -> Warning {
    Warning {
        service: String::new(),
        tag: None,
        reason: WarningReason::ImmutabilityUnavailable {
            registry: registry.to_string(),
            why: why.to_string(),
        },
        location: Some(setting.clone()),
    }
}
