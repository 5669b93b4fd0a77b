//! The text form, read like `terraform plan`: one line per release grouped by
//! service, a summary line, then every refusal with its location.

use crate::config::hidden::one_line;
use crate::plan::{ActionKind, Plan};
use crate::render::plan::{
    action_note, actions_by_service, not_checked_note, policies_note, policy_line, short_base,
    verdict,
};
use crate::render::plural;
use crate::render::words::{self, Style};
use std::fmt::Write;

pub fn render(plan: &Plan) -> String {
    render_with_diff(plan, None)
}

/// The plan, preceded by the diff of the file since the base (`--base`).
pub fn render_with_diff(plan: &Plan, diff: Option<&str>) -> String {
    let mut out = String::new();
    match diff {
        Some("") => {
            let _ = writeln!(
                out,
                "{} is unchanged since {}.
",
                plan.file,
                short_base(plan)
            );
        }
        Some(diff) => {
            let _ = writeln!(
                out,
                "Changes to {} since {}:
",
                plan.file,
                short_base(plan)
            );
            out.push_str(diff);
            out.push('\n');
        }
        None => {}
    }
    let _ = writeln!(out, "quayside plan for {}", plan.file);
    for (service, actions) in actions_by_service(plan) {
        let first = actions[0];
        let _ = writeln!(out, "\n{service}  ({} -> {})", first.source, first.target);
        let width = actions.iter().map(|a| a.tag.len()).max().unwrap_or(0);
        for action in actions {
            let symbol = match action.kind {
                ActionKind::Create => '+',
                ActionKind::Sign => '~',
                ActionKind::Unchanged => ' ',
            };
            let _ = writeln!(
                out,
                "  {symbol} {:<width$}  {:<9}  {}  {}",
                action.tag,
                action.kind.name(),
                action.digest,
                action_note(action)
            );
        }
    }
    if !plan.policies.is_empty() {
        let _ = writeln!(out, "\nregistry immutability");
        for policy in &plan.policies {
            let _ = writeln!(out, "  + create  {}", policy_line(policy));
        }
    }
    let s = &plan.summary;
    let counts = format!(
        "{} to create, {} to sign, {} unchanged, {} refused, {} warning{}{}.",
        s.create,
        s.sign,
        s.unchanged,
        s.refused,
        s.warnings,
        plural(s.warnings),
        policies_note(plan)
    );
    if plan.is_refused() {
        let _ = writeln!(out, "\n{}\n{counts}", verdict(plan));
    } else {
        let _ = writeln!(out, "\nPlan: {counts}");
    }
    if let Some(note) = not_checked_note(plan) {
        let _ = writeln!(out, "{note}");
    }
    for refusal in &plan.refusals {
        let _ = writeln!(
            out,
            "\nerror[{}]: {} {}: {}\n  --> {}",
            refusal.code().name(),
            refusal.service,
            // An invalid tag is the file's text unchecked: keep it on its line.
            one_line(&refusal.tag),
            one_line(&words::refusal(refusal, Style::Marked)),
            refusal.location
        );
        for finding in &refusal.details {
            let _ = writeln!(out, "  = {}", words::finding(finding));
        }
    }
    for warning in &plan.warnings {
        let subject = match (&warning.service, &warning.tag) {
            (service, Some(tag)) => format!("{service} {}: ", one_line(tag)),
            (service, None) if !service.is_empty() => format!("{service}: "),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "\nwarning[{}]: {subject}{}",
            warning.code().name(),
            one_line(&words::warning(warning))
        );
    }
    out
}
