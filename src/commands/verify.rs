//! `quayside verify`: audit every declared release (exit 0 all hold, 3 some
//! do not, 1 could not check); with `--strict` every release must also be
//! signed in every format and carry its promotion provenance attestation.

use crate::cli::VerifyArgs;
use crate::commands::steps::{connector, load_public_key};
use crate::commands::write_stdout;
use crate::config;
use crate::config::model::Desired;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::immutability::Protection;
use crate::live::policies::{quay_repository, read_target_policies};
use crate::live::{Scope, read_live_state};
use crate::quay::QuayClient;
use crate::registry::Connector;
use crate::verify::{self, RegistryCheck, Strictness};
use std::collections::BTreeMap;

pub async fn run(args: &VerifyArgs) -> Result<ExitStatus, Error> {
    let desired = config::load(&args.file)?;
    let verifier = load_public_key(&desired)?.ok_or_else(|| Error::NoPublicKey {
        file: desired.file.clone(),
    })?;
    let connector = connector(args.requests.concurrency);
    let live = read_live_state(&desired, &connector, Scope::Audit).await?;
    let strictness = if args.strict {
        Strictness::Strict
    } else {
        Strictness::Formats
    };
    let checks = verify::check_with(&desired, &live, &verifier, strictness);
    let registry = registry_checks(&desired, &connector).await?;
    write_stdout(&crate::render::verify::render(&checks))?;
    write_stdout(&crate::render::verify::render_registry(&registry))?;
    Ok(
        if checks.iter().all(|check| check.holds()) && registry.iter().all(|c| c.holds()) {
            ExitStatus::Success
        } else {
            ExitStatus::Refused
        },
    )
}

/// With `policy.registry_immutability = "require"`: each target's policies
/// and its tags' `immutable` flags, judged.
async fn registry_checks(
    desired: &Desired,
    connector: &Connector,
) -> Result<Vec<RegistryCheck>, Error> {
    let token = crate::quay::token_from_env();
    let targets = read_target_policies(desired, connector, token.as_ref()).await?;
    let quay = QuayClient::new(
        connector.distribution(),
        desired.policy.quay_api.as_deref(),
        token.as_ref(),
    );
    let mut flags = BTreeMap::new();
    for service in &desired.services {
        let reference = service.target.reference();
        let has_api = targets
            .iter()
            .any(|t| t.target == reference && matches!(t.protection, Protection::Policies(_)));
        if !has_api || flags.contains_key(&reference) {
            continue;
        }
        if let Some(repository) = quay_repository(&quay, &service.target) {
            flags.insert(reference, quay.tag_immutability(&repository).await?);
        }
    }
    Ok(verify::check_registry(desired, &targets, &flags))
}
