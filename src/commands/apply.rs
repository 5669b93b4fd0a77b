//! `quayside apply`: plan, refuse or carry out, then check the result.
//! Order: load the signing key (fail before any write), plan, print the plan,
//! stop on any refusal (exit 3, nothing written), apply, re-read and confirm.
//! Each release created is attested with the file, commit and plan
//! (`apply::attest`).

use crate::apply::attest::PromotionContext;
use crate::apply::sign::BundlesWritten;
use crate::apply::sign::SignatureLocks;
use crate::apply::{Apply, Outcome, ReleaseOutcome, copy::Copier, policies};
use crate::cli::ApplyArgs;
use crate::commands::saved_plan;
use crate::commands::steps::{connector, load_public_key, make_plan_since};
use crate::commands::{write_stderr_line, write_stdout};
use crate::config::{self, model::Desired};
use crate::digest::Digest;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::history::applied_from;
use crate::live::{Scope, read_live_state_knowing};
use crate::plan::saved::staleness;
use crate::plan::{ActionKind, Criteria, Plan};
use crate::registry::Connector;
use crate::render::apply::{ApplyReport, Transfer};
use crate::render::plan as render;
use crate::signing::provenance::{PlanDigest, ReleasesFile};
use crate::signing::{PublicKey, SigningKey};
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

pub async fn run(args: &ApplyArgs, concurrency: usize) -> Result<ExitStatus, Error> {
    let started = Instant::now();
    let (file, saved) = match &args.plan {
        Some(path) => {
            let (saved, digest) = saved_plan::read(path)?;
            (PathBuf::from(&saved.file), Some((saved, digest)))
        }
        None => (args.file.clone(), None),
    };
    let desired = config::load(&file)?;
    let applied = applied_from(&file, args.allow_dirty)?;
    let keys = load_keys(&desired)?;
    let criteria = Criteria {
        verifier: keys.verifier.as_ref().map(|k| k as _),
        today: crate::scan::today_utc(SystemTime::now()),
        strict: false,
    };
    let connector = connector(concurrency);
    // apply writes every target it plans for: one token for its reads,
    // writes and mounts instead of a pull, a push and a mount token.
    for service in &desired.services {
        connector.will_write(&service.target, &service.source);
    }
    // With --base every release is still checked (full): apply must make the
    // registries match the whole file, and the history rules still refuse.
    let base = args.base.as_deref().map(|rev| (rev, true));
    let (planned, _) = make_plan_since(&desired, &file, base, &connector, &criteria).await?;
    let plan = planned.plan;
    write_stdout(&render::text::render(&plan))?;
    if plan.is_refused() {
        write_stderr_line("apply refused: the plan breaks a rule; nothing was written.");
        return Ok(ExitStatus::Refused);
    }
    if let Some((saved, _)) = &saved
        && let Some(stale) = staleness(saved, &plan)
    {
        write_stderr_line(&crate::render::apply::stale(&stale, &desired.file));
        return Ok(ExitStatus::Refused);
    }
    if !plan.has_changes() {
        write_stdout("\nNothing to do.\n")?;
        return Ok(ExitStatus::Success);
    }
    // Registry immutability first: no tag is put before the policy that
    // freezes it exists.
    let token = crate::quay::token_from_env();
    let created = policies::create(&desired, &connector, token.as_ref(), &plan).await?;
    for policy in &created {
        write_stdout(&format!(
            "\ncreated {} ({})\n",
            crate::render::plan::policy_line(&policy.policy),
            policy.uuid
        ))?;
    }
    if plan.summary.create + plan.summary.sign == 0 {
        policies::check_in_effect(&desired, &connector, token.as_ref(), &created).await?;
        return Ok(ExitStatus::Success);
    }
    // The planner refuses creates and signs without a key; this is a guard.
    let (Some(signer), Some(verifier)) = (&keys.signer, &keys.verifier) else {
        return Err(Error::NoSigningKey);
    };

    let commit = applied.as_ref().and_then(|at| at.commit.clone());
    let promotion = PromotionContext {
        releases_file: ReleasesFile {
            // Outside git: the file as apply was given it.
            path: applied.map_or_else(|| desired.file.clone(), |at| at.path),
            commit: commit.clone(),
        },
        plan: plan_digest(&plan, saved.as_ref().map(|(_, digest)| digest)),
    };
    let apply = Apply {
        desired: &desired,
        connector: &connector,
        signer,
        verifier,
        key_hint: signer.public_key().fingerprint(),
        commit,
        promotion,
        copier: Copier::with_source_roots(planned.source_roots),
        signature_locks: SignatureLocks::knowing(planned.current_tags),
        bundles_written: Default::default(),
    };
    let outcomes = apply.run(&plan).await;
    let written = &apply.bundles_written;
    let confirmed = match confirm(&desired, &connector, verifier, &plan, written).await {
        Ok(()) => policies::check_in_effect(&desired, &connector, token.as_ref(), &created).await,
        failed => failed,
    };
    let report = ApplyReport {
        outcomes: &outcomes,
        transfer: Transfer::of(&apply.copier.stats, connector.request_counts().total),
        elapsed: started.elapsed(),
        commit: apply.commit.as_deref(),
    };
    write_stdout(&crate::render::apply::summary(&report))?;
    status_of(&outcomes, confirmed)
}

/// Which plan this run carries out, as its attestations record it: the
/// saved plan's file (`apply PLAN.json`: its sha256, as `sha256sum` prints
/// it), else the JSON form of the plan made now (`plan --format json`'s
/// bytes for the same state).
fn plan_digest(plan: &Plan, saved: Option<&Digest>) -> PlanDigest {
    match saved {
        Some(digest) => PlanDigest {
            digest: digest.clone(),
            saved: true,
        },
        None => PlanDigest {
            digest: Digest::of_bytes(render::json::render(plan).as_bytes()),
            saved: false,
        },
    }
}

struct Keys {
    signer: Option<SigningKey>,
    verifier: Option<PublicKey>,
}

/// Loads the private key (when configured) before anything else, so that a
/// missing key or a wrong password fails before the first write. Without a
/// configured public key, signatures are checked with the signing key's own.
fn load_keys(desired: &Desired) -> Result<Keys, Error> {
    let signer = match desired.signing.as_ref().and_then(|s| s.key.as_ref()) {
        Some(source) => Some(
            SigningKey::load(source).map_err(|source| Error::SigningKey {
                file: desired.file.clone(),
                source,
            })?,
        ),
        None => None,
    };
    let verifier = match (load_public_key(desired)?, &signer) {
        (Some(public), Some(signer)) => {
            if public != signer.public_key() {
                return Err(Error::KeysNotAPair {
                    file: desired.file.clone(),
                });
            }
            Some(public)
        }
        (Some(public), None) => Some(public),
        (None, Some(signer)) => Some(signer.public_key()),
        (None, None) => None,
    };
    Ok(Keys { signer, verifier })
}

/// Re-reads the target (never the source, nor the scan API): every release
/// the plan created or signed must now hold as `verify` checks it. Each
/// bundle written is checked by one read: read back by digest as it was
/// written (referrers API: a list read now may be an older, cached one, so
/// it is not read again), or found listed in the fallback index read here
/// (its referrer manifest, written from these bytes, not read again).
async fn confirm(
    desired: &Desired,
    connector: &Connector,
    verifier: &PublicKey,
    plan: &Plan,
    bundles_written: &BundlesWritten,
) -> Result<(), Error> {
    let known = bundles_written.known();
    let live = read_live_state_knowing(desired, connector, Scope::TargetOnly, &known).await?;
    let checks = crate::verify::check(desired, &live, verifier);
    let pending: Vec<String> = plan
        .actions
        .iter()
        .filter(|a| a.kind != ActionKind::Unchanged)
        .filter(|a| {
            !checks
                .iter()
                .any(|c| c.service == a.service && c.tag == a.tag && c.holds())
        })
        .map(|a| format!("{} {}", a.service, a.tag))
        .collect();
    if pending.is_empty() {
        Ok(())
    } else {
        Err(Error::NotInPlace { releases: pending })
    }
}

/// Exit 3 if a tag appeared at another digest during apply (a retag, nothing
/// tagged), else an error if a release failed or is not in place, else 0.
fn status_of(
    outcomes: &[ReleaseOutcome],
    confirmed: Result<(), Error>,
) -> Result<ExitStatus, Error> {
    if outcomes
        .iter()
        .any(|o| matches!(o.outcome, Outcome::Retag { .. }))
    {
        return Ok(ExitStatus::Refused);
    }
    if outcomes
        .iter()
        .any(|o| matches!(o.outcome, Outcome::Failed(_)))
    {
        return Err(Error::ReleasesFailed);
    }
    confirmed.map(|()| ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::ApplyError;
    use crate::digest::Digest;

    fn release(outcome: Outcome) -> ReleaseOutcome {
        ReleaseOutcome {
            service: "gateway".into(),
            tag: "v1.0.0".into(),
            digest: Digest::of_bytes(b"image"),
            outcome,
        }
    }

    fn created() -> ReleaseOutcome {
        release(Outcome::Created { signatures: 1 })
    }

    fn failed() -> ReleaseOutcome {
        release(Outcome::Failed(ApplyError::UnknownService {
            target: "prod/gateway".into(),
            service: "gateway".into(),
            file: "releases.toml".into(),
        }))
    }

    fn code(status: Result<ExitStatus, Error>) -> u8 {
        status.unwrap_or_else(|error| error.exit_status()).code()
    }

    #[test]
    fn apply_exits_3_on_a_retag_1_on_a_failure_or_a_missing_release_else_0() {
        let retag = release(Outcome::Retag {
            found: None,
            message: "refused".into(),
        });
        let missing = || {
            Err(Error::NotInPlace {
                releases: vec!["gateway v1.0.0".into()],
            })
        };
        assert_eq!(code(status_of(&[created()], Ok(()))), 0);
        assert_eq!(code(status_of(&[], Ok(()))), 0);
        assert_eq!(code(status_of(&[created(), retag, failed()], missing())), 3);
        assert!(matches!(
            status_of(&[created(), failed()], missing()),
            Err(Error::ReleasesFailed)
        ));
        assert!(matches!(
            status_of(&[created()], missing()),
            Err(Error::NotInPlace { .. })
        ));
        assert_eq!(code(status_of(&[failed()], Ok(()))), 1);
        assert_eq!(code(status_of(&[created()], missing())), 1);
    }
}
