//! `plan --strict`: every warning becomes a refusal under the warning's own
//! code (`unmanaged-tag`, `scan-disabled`, `unused-waiver`), for teams that
//! want a spotless target repository and policy. Pure, like the planner.

use crate::config::model::SourceLocation;
use crate::plan::{Plan, Refusal, RefusalCode, Warning, WarningCode};

/// The plan with its warnings turned into refusals.
pub fn escalate(mut plan: Plan) -> Plan {
    let warnings = std::mem::take(&mut plan.warnings);
    let file = plan.file.clone();
    plan.refusals
        .extend(warnings.into_iter().map(|warning| refusal(warning, &file)));
    plan.summary.refused = plan.refusals.len();
    plan.summary.warnings = 0;
    plan
}

fn refusal(warning: Warning, file: &str) -> Refusal {
    let code = match warning.code {
        WarningCode::UnmanagedTag => RefusalCode::UnmanagedTag,
        WarningCode::ScanDisabled => RefusalCode::ScanDisabled,
        WarningCode::UnusedWaiver => RefusalCode::UnusedWaiver,
    };
    Refusal {
        code,
        service: warning.service,
        tag: warning.tag.unwrap_or_default(),
        message: format!(
            "{} (a warning, refused because of --strict)",
            warning.message
        ),
        // A warning about the whole file points at its start.
        location: warning.location.unwrap_or(SourceLocation {
            file: file.to_string(),
            line: 1,
            column: 1,
        }),
        details: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{SCHEMA_VERSION, Summary};

    fn warning(code: WarningCode, tag: Option<&str>, line: Option<u32>) -> Warning {
        Warning {
            code,
            service: if tag.is_some() {
                "gateway".into()
            } else {
                String::new()
            },
            tag: tag.map(str::to_string),
            message: "something to tidy".into(),
            location: line.map(|line| SourceLocation {
                file: "releases.toml".into(),
                line,
                column: 1,
            }),
        }
    }

    #[test]
    fn every_warning_becomes_a_refusal_with_its_code_and_place() {
        let plan = Plan {
            schema: SCHEMA_VERSION,
            summary: Summary {
                create: 1,
                warnings: 3,
                ..Summary::default()
            },
            actions: Vec::new(),
            refusals: Vec::new(),
            warnings: vec![
                warning(WarningCode::UnmanagedTag, Some("v0.1.0"), Some(8)),
                warning(WarningCode::ScanDisabled, None, None),
                warning(WarningCode::UnusedWaiver, None, Some(20)),
            ],
            file: "releases.toml".into(),
            base: None,
            revision: None,
        };
        let strict = escalate(plan);
        assert!(strict.is_refused());
        assert!(strict.warnings.is_empty());
        assert_eq!(strict.summary.refused, 3);
        assert_eq!(strict.summary.warnings, 0);
        let codes: Vec<&str> = strict.refusals.iter().map(|r| r.code.name()).collect();
        assert_eq!(codes, ["unmanaged-tag", "scan-disabled", "unused-waiver"]);
        assert_eq!(strict.refusals[0].tag, "v0.1.0");
        assert_eq!(strict.refusals[0].location.line, 8);
        assert_eq!(strict.refusals[1].location.line, 1);
        assert!(strict.refusals[2].message.contains("--strict"));
    }
}
