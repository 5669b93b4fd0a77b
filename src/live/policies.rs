//! Reads each target repository's immutability policies (the organization's
//! and the repository's own) through Quay's API, when the file says
//! `policy.registry_immutability = "require"`. An `oci:` layout has no such
//! API; neither has a registry answering HTTP 404 (CNCF distribution). The
//! planner judges what is read (`plan::registry_policy`).

use crate::config::location::RepositoryLocation;
use crate::config::model::{Desired, RegistryImmutability};
use crate::immutability::{Protection, TargetPolicies};
use crate::quay::{ImmutabilityError, QuayClient, QuayRepository, organization};
use crate::registry::Connector;
use futures::future::try_join_all;
use secrecy::SecretString;

/// Every distinct target of `desired`, with its policies; empty unless the
/// file requires registry immutability.
pub async fn read_target_policies(
    desired: &Desired,
    connector: &Connector,
    token: Option<&SecretString>,
) -> Result<Vec<TargetPolicies>, ImmutabilityError> {
    if desired.policy.registry_immutability == RegistryImmutability::Off {
        return Ok(Vec::new());
    }
    let quay = QuayClient::new(
        connector.distribution(),
        desired.policy.quay_api.as_deref(),
        token,
    );
    let mut targets: Vec<&RepositoryLocation> = Vec::new();
    for service in &desired.services {
        if !targets
            .iter()
            .any(|t| t.reference() == service.target.reference())
        {
            targets.push(&service.target);
        }
    }
    let quay = &quay;
    try_join_all(targets.into_iter().map(|target| async move {
        let Some(repository) = quay_repository(quay, target) else {
            return Ok(TargetPolicies {
                target: target.reference(),
                registry: "oci:".to_string(),
                api: String::new(),
                organization: String::new(),
                protection: Protection::NoApi(
                    "an OCI image layout has no immutability policies".into(),
                ),
            });
        };
        let protection = quay.immutability_policies(&repository).await?;
        Ok(TargetPolicies {
            target: target.reference(),
            registry: repository.registry.clone(),
            api: repository.api.clone(),
            organization: organization(&repository).to_string(),
            protection,
        })
    }))
    .await
}

/// The target as Quay's API names it; `None` for an `oci:` layout or a
/// repository outside a namespace.
pub fn quay_repository(
    quay: &QuayClient<'_>,
    target: &RepositoryLocation,
) -> Option<QuayRepository> {
    match target {
        RepositoryLocation::Remote { scheme, host, path } => quay.repository(*scheme, host, path),
        RepositoryLocation::Layout { .. } => None,
    }
}
