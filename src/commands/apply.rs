//! `quayside apply`: plan, refuse or carry out, then check the result.
//! Order: load the signing key (fail before any write), plan, print the plan,
//! stop on any refusal (exit 3, nothing written), apply, re-read and confirm.

use crate::apply::{Apply, Outcome, ReleaseOutcome, copy::Copier};
use crate::cli::ApplyArgs;
use crate::commands::load_desired;
use crate::commands::plan::{load_public_key, make_plan_since};
use crate::config::model::Desired;
use crate::exit::ExitStatus;
use crate::history::provenance_commit;
use crate::live::{Scope, read_live_state};
use crate::plan::{Action, ActionKind, Criteria, Plan, SavedPlan};
use crate::registry::Connector;
use crate::render::apply::{ApplyReport, Transfer};
use crate::render::plan as render;
use crate::signing::{PublicKey, SigningKey};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

pub async fn run(args: &ApplyArgs, concurrency: usize) -> ExitStatus {
    let started = Instant::now();
    let (file, saved) = match &args.plan {
        Some(path) => match read_saved_plan(path) {
            Ok(saved) => (PathBuf::from(&saved.file), Some(saved)),
            Err(message) => {
                eprintln!("error: {message}");
                return ExitStatus::Error;
            }
        },
        None => (args.file.clone(), None),
    };
    let desired = match load_desired(&file) {
        Ok(desired) => desired,
        Err(status) => return status,
    };
    let commit = match provenance_commit(&file, args.allow_dirty) {
        Ok(commit) => commit,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitStatus::Error;
        }
    };
    let keys = match load_keys(&desired) {
        Ok(keys) => keys,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitStatus::Error;
        }
    };
    let criteria = Criteria {
        verifier: keys.verifier.as_ref().map(|k| k as _),
        today: crate::scan::today_utc(SystemTime::now()),
        strict: false,
    };
    let connector = super::connector(concurrency);
    // With --base every release is still checked (full): apply must make the
    // registries match the whole file, and the history rules still refuse.
    let base = args.base.as_deref().map(|rev| (rev, true));
    let plan = match make_plan_since(&desired, &file, base, &connector, &criteria).await {
        Ok((plan, _)) => plan,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitStatus::Error;
        }
    };
    print!("{}", render::text::render(&plan));
    if plan.is_refused() {
        eprintln!("apply refused: the plan breaks a rule; nothing was written.");
        return ExitStatus::Refused;
    }
    if let Some(saved) = &saved
        && let Some(difference) = plan_difference(saved, &plan)
    {
        eprintln!(
            "apply refused: the registries changed since the plan was made ({difference}); nothing was written. Make a new plan."
        );
        return ExitStatus::Refused;
    }
    if !plan.has_changes() {
        println!("\nNothing to do.");
        return ExitStatus::Success;
    }
    let (Some(signer), Some(verifier)) = (&keys.signer, &keys.verifier) else {
        // The planner refuses creates and signs without a key; this is a guard.
        eprintln!("error: no signing key is configured; nothing was written");
        return ExitStatus::Error;
    };

    let apply = Apply {
        desired: &desired,
        connector: &connector,
        signer,
        verifier,
        commit,
        copier: Copier::default(),
        signature_locks: Default::default(),
    };
    let outcomes = apply.run(&plan).await;
    let confirmed = confirm(&desired, &connector, verifier, &plan).await;
    let report = ApplyReport {
        outcomes: &outcomes,
        transfer: Transfer::of(&apply.copier.stats, connector.request_counts().total),
        elapsed: started.elapsed(),
        commit: apply.commit.as_deref(),
    };
    print!("{}", crate::render::apply::summary(&report));
    status_of(&outcomes, confirmed)
}

struct Keys {
    signer: Option<SigningKey>,
    verifier: Option<PublicKey>,
}

/// Loads the private key (when configured) before anything else, so that a
/// missing key or a wrong password fails before the first write. Without a
/// configured public key, signatures are checked with the signing key's own.
fn load_keys(desired: &Desired) -> Result<Keys, String> {
    let signer = match desired.signing.as_ref().and_then(|s| s.key.as_ref()) {
        Some(source) => Some(SigningKey::load(source).map_err(|error| {
            format!(
                "{}: [signing] key: {error}; nothing was written",
                desired.file
            )
        })?),
        None => None,
    };
    let verifier = match (load_public_key(desired)?, &signer) {
        (Some(public), Some(signer)) => {
            if public != signer.public_key() {
                return Err(format!(
                    "{}: [signing] key and public_key are not a pair: signatures made by the key would not verify; nothing was written",
                    desired.file
                ));
            }
            Some(public)
        }
        (Some(public), None) => Some(public),
        (None, Some(signer)) => Some(signer.public_key()),
        (None, None) => None,
    };
    Ok(Keys { signer, verifier })
}

fn read_saved_plan(path: &Path) -> Result<SavedPlan, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read the plan {}: {error}", path.display()))?;
    let plan: SavedPlan = serde_json::from_str(&text).map_err(|error| {
        format!(
            "{} is not a quayside plan (made by `quayside plan --out`): {error}",
            path.display()
        )
    })?;
    if plan.schema != crate::plan::SCHEMA_VERSION {
        return Err(format!(
            "{} has plan schema {}, this quayside reads schema {}",
            path.display(),
            plan.schema,
            crate::plan::SCHEMA_VERSION
        ));
    }
    Ok(plan)
}

/// How the fresh plan differs from the saved one, if it does.
fn plan_difference(saved: &SavedPlan, fresh: &Plan) -> Option<String> {
    let key = |actions: &[Action]| {
        let mut actions: Vec<_> = actions
            .iter()
            .map(|a| {
                (
                    a.service.clone(),
                    a.tag.clone(),
                    a.kind,
                    a.digest.clone(),
                    a.target.clone(),
                )
            })
            .collect();
        actions.sort();
        actions
    };
    let (before, after) = (key(&saved.actions), key(&fresh.actions));
    if before == after {
        return None;
    }
    let changed = after
        .iter()
        .find(|action| !before.contains(action))
        .or_else(|| before.iter().find(|action| !after.contains(action)));
    Some(match changed {
        Some((service, tag, kind, _, _)) => format!("{service} {tag} is now `{}`", kind.name()),
        None => "the set of releases differs".to_string(),
    })
}

/// Re-reads the target (never the source, nor the scan API): every release
/// the plan created or signed must now hold as `verify` checks it.
async fn confirm(
    desired: &Desired,
    connector: &Connector,
    verifier: &PublicKey,
    plan: &Plan,
) -> Result<(), String> {
    let live = read_live_state(desired, connector, Scope::TargetOnly)
        .await
        .map_err(|error| error.to_string())?;
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
        Err(format!("not in place after apply: {}", pending.join(", ")))
    }
}

fn status_of(outcomes: &[ReleaseOutcome], confirmed: Result<(), String>) -> ExitStatus {
    if outcomes
        .iter()
        .any(|o| matches!(o.outcome, Outcome::Retag { .. }))
    {
        return ExitStatus::Refused;
    }
    if outcomes
        .iter()
        .any(|o| matches!(o.outcome, Outcome::Failed(_)))
    {
        eprintln!(
            "apply failed for some releases; the others are in place. Fix the cause and run apply again: it completes the work."
        );
        return ExitStatus::Error;
    }
    if let Err(message) = confirmed {
        eprintln!("error: {message}");
        return ExitStatus::Error;
    }
    ExitStatus::Success
}
