//! The plan of one new release line: the file narrowed to that release (and,
//! with `require_rc`, the releases on the same digest that the rule reads),
//! and the plan narrowed to that release's tag, so that `promote` reads the
//! registries only for it and shows only it.

use crate::config::model::Desired;
use crate::plan::Plan;
use crate::plan::planner::summarize;

/// `desired` with only `service`'s release `tag` and what its rules need.
pub fn scoped_to(desired: &Desired, service: &str, tag: &str) -> Desired {
    let mut scoped = desired.clone();
    scoped.services.retain(|s| s.name == service);
    for service in &mut scoped.services {
        let digest = service
            .releases
            .iter()
            .find(|r| r.tag == tag)
            .map(|r| r.digest.clone());
        let require_rc = desired.policy.require_rc;
        service
            .releases
            .retain(|r| r.tag == tag || (require_rc && Some(&r.digest) == digest.as_ref()));
    }
    scoped
}

/// `plan` with only the actions and refusals of `service`'s `tag`. Warnings
/// are dropped: a narrowed file would call every other target tag
/// unmanaged, which says nothing about the new line.
pub fn plan_of(mut plan: Plan, service: &str, tag: &str) -> Plan {
    let ours = |s: &str, t: &str| s == service && t == tag;
    plan.actions.retain(|a| ours(&a.service, &a.tag));
    plan.refusals.retain(|r| ours(&r.service, &r.tag));
    plan.warnings.clear();
    plan.summary = summarize(&plan.actions, &plan.refusals, &plan.warnings, 0);
    plan
}
