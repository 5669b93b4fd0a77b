//! `quayside plan`: read the live registries, compute the plan, print it.

use crate::cli::PlanArgs;
use crate::commands::steps::{connector, make_plan_since, plan_key};
use crate::commands::write_stdout;
use crate::config;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::plan::Criteria;
use crate::render::plan as render;
use std::time::SystemTime;

pub async fn run(args: &PlanArgs, concurrency: usize) -> Result<ExitStatus, Error> {
    let desired = config::load(&args.file)?;
    let key = plan_key(&desired)?;
    let connector = connector(concurrency);
    let criteria = Criteria {
        verifier: key.key.as_ref().map(|k| k as _),
        today: crate::scan::today_utc(SystemTime::now()),
        strict: args.strict,
    };
    let base = args.base.as_deref().map(|rev| (rev, args.full));
    let (planned, baseline) =
        make_plan_since(&desired, &args.file, base, &connector, &criteria).await?;
    let plan = planned.plan;
    if let Some(source) = key.unreadable
        && plan.summary.sign > 0
    {
        return Err(Error::NoVerifier {
            file: desired.file.clone(),
            source,
        });
    }
    let diff = baseline.as_ref().map(|b| b.diff.as_str());
    write_stdout(&render::render_with_diff(&plan, args.format, diff))?;
    if let Some(out) = &args.out {
        let json = render::json::render(&plan);
        crate::fsutil::write_atomically(out, json.as_bytes()).map_err(|source| {
            Error::WritePlan {
                path: out.clone(),
                source,
            }
        })?;
    }
    Ok(ExitStatus::of_plan(
        plan.is_refused(),
        plan.has_changes(),
        args.detailed_exitcode,
    ))
}
