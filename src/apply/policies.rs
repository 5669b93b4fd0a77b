//! The plan's registry immutability policies, carried out: each is created
//! before apply copies or tags anything (so no release tag is ever put
//! mutable on a Quay that can protect it), and afterwards every declared
//! release tag in the targets it protects must show `immutable: true` in
//! Quay's REST tag list.

use crate::config::model::Desired;
use crate::error::Error;
use crate::immutability::{Policy, Scope, freezes};
use crate::plan::{Plan, PolicyAction};
use crate::quay::{QuayClient, QuayRepository};
use crate::registry::Connector;
use secrecy::SecretString;

/// A policy apply created.
pub struct Created {
    pub policy: PolicyAction,
    pub uuid: String,
}

fn client<'a>(
    desired: &'a Desired,
    connector: &'a Connector,
    token: Option<&'a SecretString>,
) -> QuayClient<'a> {
    QuayClient::new(
        connector.distribution(),
        desired.policy.quay_api.as_deref(),
        token,
    )
}

/// The repository in `policy.organization` that the API names errors by.
fn named(policy: &PolicyAction, target: &str) -> QuayRepository {
    QuayRepository {
        api: policy.api.clone(),
        registry: policy.registry.clone(),
        name: target
            .strip_prefix(&format!("{}/", policy.registry))
            .unwrap_or(target)
            .to_string(),
    }
}

/// Creates every policy of `plan`, in order; the first failure stops apply
/// before anything else is written.
pub async fn create(
    desired: &Desired,
    connector: &Connector,
    token: Option<&SecretString>,
    plan: &Plan,
) -> Result<Vec<Created>, Error> {
    let quay = client(desired, connector, token);
    let mut created = Vec::new();
    for policy in &plan.policies {
        let target = policy.targets.first().cloned().unwrap_or_default();
        let uuid = quay
            .create_organization_policy(&named(policy, &target), &policy.tag_pattern)
            .await?;
        created.push(Created {
            policy: policy.clone(),
            uuid,
        });
    }
    Ok(created)
}

/// Every declared release tag present in a target of a created policy that
/// the policy freezes must be immutable in Quay's tag list.
pub async fn check_in_effect(
    desired: &Desired,
    connector: &Connector,
    token: Option<&SecretString>,
    created: &[Created],
) -> Result<(), Error> {
    let quay = client(desired, connector, token);
    for Created { policy, uuid } in created {
        let rule = Policy {
            uuid: uuid.clone(),
            pattern: policy.tag_pattern.clone(),
            matches: true,
            scope: Scope::Organization(policy.organization.clone()),
        };
        let mut mutable = Vec::new();
        for target in &policy.targets {
            let tags = quay.tag_immutability(&named(policy, target)).await?;
            let declared = desired
                .services
                .iter()
                .filter(|s| &s.target.reference() == target)
                .flat_map(|s| s.releases.iter());
            for release in declared {
                let frozen = freezes(&rule, &release.tag) == Ok(true);
                if frozen && tags.get(&release.tag) == Some(&false) {
                    mutable.push(format!("{target}:{}", release.tag));
                }
            }
        }
        if !mutable.is_empty() {
            return Err(Error::PolicyNotInEffect {
                registry: policy.registry.clone(),
                tags: mutable,
            });
        }
    }
    Ok(())
}
