//! The steps `plan`, `apply` and `verify` share: open the registries, load
//! the public key, read the live state and make the plan.

use crate::commands::write_stderr_line;
use crate::config::model::Desired;
use crate::error::Error;
use crate::history::Baseline;
use crate::live::policies::read_target_policies;
use crate::live::quay_listing::QuayListing;
use crate::live::scans::read_scans;
use crate::live::{CurrentTags, Scope, SourceRoots, read_live_state_listing};
use crate::plan::{self, Criteria, HistoryCheck, Plan};
use crate::quay::QuayClient;
use crate::registry::Connector;
use crate::registry::distribution::ClientOptions;
use crate::signing::{KeyError, PublicKey, SigningKey};
use std::path::Path;

/// A connector whose registry clients keep `concurrency` requests in flight
/// per host, paced per request class unless `QUAYSIDE_PACING=off` (for
/// measuring what pacing saves; 429s are still retried).
pub fn connector(concurrency: usize) -> Connector {
    Connector::new(ClientOptions {
        max_concurrency_per_host: concurrency.max(1),
        pacing: std::env::var_os(PACING_VARIABLE).is_none_or(|value| value != "off"),
        ..ClientOptions::default()
    })
}

/// `off` switches request pacing off.
pub const PACING_VARIABLE: &str = "QUAYSIDE_PACING";

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

/// The key `plan` checks signatures with, by the same rule as `apply`:
/// `public_key`, or where it is not set, the public half of `[signing]
/// key`.
pub struct PlanKey {
    pub key: Option<PublicKey>,
    /// Why `[signing] key` could not stand in for a missing `public_key` (a
    /// PR job has no private key). Plan then cannot tell signed from
    /// unsigned, so a plan that would sign an existing tag is an error
    /// instead: apply, holding the key, could find it signed.
    pub unreadable: Option<KeyError>,
}

pub fn plan_key(desired: &Desired) -> Result<PlanKey, Error> {
    if let Some(public) = load_public_key(desired)? {
        return Ok(PlanKey {
            key: Some(public),
            unreadable: None,
        });
    }
    let Some(source) = desired.signing.as_ref().and_then(|s| s.key.as_ref()) else {
        return Ok(PlanKey {
            key: None,
            unreadable: None,
        });
    };
    Ok(match SigningKey::load(source) {
        Ok(key) => PlanKey {
            key: Some(key.public_key()),
            unreadable: None,
        },
        Err(error) => PlanKey {
            key: None,
            unreadable: Some(error),
        },
    })
}

/// A plan, and what was read to make it that `apply` need not read again:
/// the source root manifests, and the targets' current tag lists.
pub struct Planned {
    pub plan: Plan,
    pub source_roots: SourceRoots,
    /// The targets' tags where the plan read them as evidence of absence.
    pub current_tags: CurrentTags,
}

/// Reads live state (registries, then the scans of what would be created)
/// and plans.
pub async fn make_plan(
    desired: &Desired,
    history: Option<&HistoryCheck>,
    connector: &Connector,
    criteria: &Criteria<'_>,
) -> Result<Planned, Error> {
    tracing::info!(
        "reading {} service{} of {}: {}",
        desired.services.len(),
        if desired.services.len() == 1 { "" } else { "s" },
        desired.file,
        desired
            .services
            .iter()
            .map(|s| format!("{} -> {}", s.source.reference(), s.target.reference()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let started = std::time::Instant::now();
    let token = crate::quay::token_from_env();
    // Quay's REST tag list where the API token belongs (`live::quay_listing`).
    let client = QuayClient::new(
        connector.distribution(),
        desired.policy.quay_api.as_deref(),
        token.as_ref(),
    );
    let listing = QuayListing {
        client: &client,
        api: desired.policy.quay_api.as_deref(),
        verifier: criteria.verifier,
    };
    let listing = token.is_some().then_some(&listing);
    let mut live = read_live_state_listing(desired, connector, Scope::Plan, listing).await?;
    read_scans(desired, connector, token.as_ref(), &mut live).await?;
    live.immutability = read_target_policies(desired, connector, token.as_ref()).await?;
    let counts = connector.request_counts();
    tracing::info!(
        "read the registries in {:.2} s ({} requests)",
        started.elapsed().as_secs_f64(),
        counts.total
    );
    Ok(Planned {
        plan: plan::plan(desired, &live, history, criteria),
        source_roots: live.source_roots(desired),
        current_tags: live.current_tags(desired),
    })
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
    criteria: &Criteria<'_>,
) -> Result<(Planned, Option<Baseline>), Error> {
    let Some((rev, full)) = base else {
        return Ok((make_plan(desired, None, connector, criteria).await?, None));
    };
    if is_null_revision(rev) {
        // CI's "commit before the push" on a branch's first push: there is
        // no earlier file to compare with, so every release is checked.
        write_stderr_line(&format!(
            "note: --base {rev} is the null revision (a branch's first push): no earlier {} to compare with; checking every release",
            desired.file
        ));
        return Ok((make_plan(desired, None, connector, criteria).await?, None));
    }
    let baseline = Baseline::load(file, rev, desired)?;
    if let Some(old) = &baseline.renamed_from {
        write_stderr_line(&format!(
            "note: {} was renamed from {old} since {rev}; comparing with {}",
            desired.file, baseline.label
        ));
    }
    let scoped = baseline.scope(desired, full);
    let plan = make_plan(&scoped.desired, Some(&scoped.history), connector, criteria).await?;
    Ok((plan, Some(baseline)))
}

/// Forty (SHA-1) or sixty-four (SHA-256) zeros: git's "no commit", which CI
/// systems pass as the previous commit of a branch's first push.
fn is_null_revision(rev: &str) -> bool {
    matches!(rev.len(), 40 | 64) && rev.bytes().all(|b| b == b'0')
}

#[cfg(test)]
mod tests {
    use super::is_null_revision;

    #[test]
    fn only_all_zero_full_ids_are_the_null_revision() {
        assert!(is_null_revision(&"0".repeat(40)));
        assert!(is_null_revision(&"0".repeat(64)));
        assert!(!is_null_revision("0000000"));
        assert!(!is_null_revision(&format!("{}1", "0".repeat(39))));
        assert!(!is_null_revision("origin/main"));
    }
}
