//! The steps `plan`, `apply` and `verify` share: open the registries, load
//! the public key, read the live state and make the plan.

use crate::config::model::Desired;
use crate::error::Error;
use crate::history::Baseline;
use crate::live::{Scope, read_live_state};
use crate::plan::{self, Plan, SignatureCheck};
use crate::registry::Connector;
use crate::registry::distribution::ClientOptions;
use crate::signing::PublicKey;
use std::path::Path;

/// A connector whose registry clients keep `concurrency` requests in flight
/// per host.
pub fn connector(concurrency: usize) -> Connector {
    Connector::new(ClientOptions {
        max_concurrency_per_host: concurrency.max(1),
        ..ClientOptions::default()
    })
}

/// The configured `[signing] public_key`, if any.
pub fn load_public_key(desired: &Desired) -> Result<Option<PublicKey>, Error> {
    let Some(path) = desired.signing.as_ref().and_then(|s| s.public_key.as_ref()) else {
        return Ok(None);
    };
    PublicKey::load(path)
        .map(Some)
        .map_err(|source| Error::PublicKey {
            file: desired.file.clone(),
            path: path.clone(),
            source,
        })
}

/// Reads live state and plans.
pub async fn make_plan(
    desired: &Desired,
    connector: &Connector,
    verifier: Option<&dyn SignatureCheck>,
) -> Result<Plan, Error> {
    let mut live = read_live_state(desired, connector, Scope::Plan).await?;
    crate::scan::quay::read_into(desired, connector, &mut live).await?;
    Ok(plan::plan(desired, &live, verifier))
}

/// Like [`make_plan`]; with `base = Some((rev, full))` the plan is made
/// against the file at git revision `rev` (see `history`): refusals for
/// changed and removed releases, and unless `full` only the added releases
/// are read and planned.
pub async fn make_plan_since(
    desired: &Desired,
    file: &Path,
    base: Option<(&str, bool)>,
    connector: &Connector,
    verifier: Option<&dyn SignatureCheck>,
) -> Result<(Plan, Option<Baseline>), Error> {
    let Some((rev, full)) = base else {
        return Ok((make_plan(desired, connector, verifier).await?, None));
    };
    let baseline = Baseline::load(file, rev, desired)?;
    if let Some(old) = &baseline.renamed_from {
        eprintln!(
            "note: {} was renamed from {old} since {rev}; comparing with {}",
            desired.file, baseline.label
        );
    }
    let scoped = baseline.scope(desired, full);
    let mut plan = make_plan(&scoped.desired, connector, verifier).await?;
    baseline.finish(&mut plan, desired, scoped.not_checked);
    Ok((plan, Some(baseline)))
}
