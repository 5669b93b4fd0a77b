//! `plan --strict`: every warning becomes a refusal under the warning's own
//! code (`unmanaged-tag`, `scan-disabled`, `unused-waiver`), for teams that
//! want a spotless target repository and policy. Pure; the planner applies it.

use crate::config::model::SourceLocation;
use crate::plan::{Refusal, RefusalReason, Warning};

/// The refusals `warnings` become; `file` is where a warning about the whole
/// file points.
pub fn escalate(warnings: Vec<Warning>, file: &str) -> Vec<Refusal> {
    warnings
        .into_iter()
        .map(|warning| refusal(warning, file))
        .collect()
}

fn refusal(warning: Warning, file: &str) -> Refusal {
    Refusal {
        service: warning.service,
        tag: warning.tag.unwrap_or_default(),
        reason: RefusalReason::Strict(warning.reason),
        // A warning about the whole file points at its start.
        location: warning.location.unwrap_or(SourceLocation {
            file: file.to_string(),
            line: 1,
            column: 1,
        }),
        details: Vec::new(),
    }
}
