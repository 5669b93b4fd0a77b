//! `quayside plan`: read the live registries, compute the plan, print it.

use crate::cli::PlanArgs;
use crate::commands::load_desired;
use crate::config::model::Desired;
use crate::exit::ExitStatus;
use crate::history::Baseline;
use crate::live::scans::read_scans;
use crate::live::{Scope, read_live_state};
use crate::plan::{self, Criteria, HistoryCheck, Plan};
use crate::registry::Connector;
use crate::render::plan as render;
use crate::signing::PublicKey;
use std::path::Path;
use std::time::SystemTime;

pub async fn run(args: &PlanArgs, concurrency: usize) -> ExitStatus {
    let desired = match load_desired(&args.file) {
        Ok(desired) => desired,
        Err(status) => return status,
    };
    let verifier = match load_public_key(&desired) {
        Ok(verifier) => verifier,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitStatus::Error;
        }
    };
    let connector = super::connector(concurrency);
    let criteria = Criteria {
        verifier: verifier.as_ref().map(|k| k as _),
        today: crate::scan::today_utc(SystemTime::now()),
        strict: args.strict,
    };
    let base = args.base.as_deref().map(|rev| (rev, args.full));
    let (plan, baseline) =
        match make_plan_since(&desired, &args.file, base, &connector, &criteria).await {
            Ok(planned) => planned,
            Err(message) => {
                eprintln!("error: {message}");
                return ExitStatus::Error;
            }
        };
    let diff = baseline.as_ref().map(|b| b.diff.as_str());
    print!("{}", render::render_with_diff(&plan, args.format, diff));
    if let Some(out) = &args.out {
        let json = render::json::render(&plan);
        if let Err(error) = crate::fsutil::write_atomically(out, json.as_bytes()) {
            eprintln!("error: cannot write the plan to {}: {error}", out.display());
            return ExitStatus::Error;
        }
    }
    status_of(&plan, args.detailed_exitcode)
}

/// Reads live state (registries, then the scans of what would be created)
/// and plans. Errors are already worded for the user.
pub async fn make_plan(
    desired: &Desired,
    history: Option<&HistoryCheck>,
    connector: &Connector,
    criteria: &Criteria<'_>,
) -> Result<Plan, String> {
    let mut live = read_live_state(desired, connector, Scope::Plan)
        .await
        .map_err(|error| error.to_string())?;
    let token = crate::scan::api_token_from_env();
    read_scans(desired, connector, token.as_ref(), &mut live)
        .await
        .map_err(|error| error.to_string())?;
    Ok(plan::plan(desired, &live, history, criteria))
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
) -> Result<(Plan, Option<Baseline>), String> {
    let Some((rev, full)) = base else {
        return Ok((make_plan(desired, None, connector, criteria).await?, None));
    };
    let baseline = Baseline::load(file, rev, desired).map_err(|error| error.to_string())?;
    if let Some(old) = &baseline.renamed_from {
        eprintln!(
            "note: {} was renamed from {old} since {rev}; comparing with {}",
            desired.file, baseline.label
        );
    }
    let scoped = baseline.scope(desired, full);
    let plan = make_plan(&scoped.desired, Some(&scoped.history), connector, criteria).await?;
    Ok((plan, Some(baseline)))
}

/// The configured `[signing] public_key`, if any.
pub fn load_public_key(desired: &Desired) -> Result<Option<PublicKey>, String> {
    let Some(path) = desired.signing.as_ref().and_then(|s| s.public_key.as_ref()) else {
        return Ok(None);
    };
    PublicKey::load(path).map(Some).map_err(|error| {
        format!(
            "{}: [signing] public_key {}: {error}",
            desired.file,
            path.display()
        )
    })
}

pub fn status_of(plan: &Plan, detailed_exitcode: bool) -> ExitStatus {
    if plan.is_refused() {
        ExitStatus::Refused
    } else if detailed_exitcode && plan.has_changes() {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    }
}
