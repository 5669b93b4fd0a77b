//! The text form, read like `terraform plan`: one line per release grouped by
//! service, a summary line, then every refusal with its location.

use crate::config::hidden::one_line;
use crate::plan::{Action, ActionKind, Code, Plan, Refusal};
use crate::render::MAX_LISTED;
use crate::render::plan::{
    action_note, counts, not_checked_note, policy_line, short_base, verdict,
};
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
    let mut refused_rows = 0;
    for (service, rows) in rows_by_service(plan) {
        match rows.iter().find_map(|row| match row {
            Row::Action(action) => Some(action),
            Row::Refused(_) => None,
        }) {
            Some(first) => {
                let _ = writeln!(out, "\n{service}  ({} -> {})", first.source, first.target);
            }
            None => {
                let _ = writeln!(out, "\n{service}");
            }
        }
        let width = rows.iter().map(|row| row.tag().len()).max().unwrap_or(0);
        for row in rows {
            match row {
                Row::Action(action) => {
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
                Row::Refused(refusal) => {
                    refused_rows += 1;
                    if refused_rows <= MAX_LISTED {
                        let _ = writeln!(
                            out,
                            "  ! {:<width$}  refused    {} (see below)",
                            one_line(&refusal.tag),
                            refusal.code().name()
                        );
                    }
                }
            }
        }
    }
    if refused_rows > MAX_LISTED {
        let _ = writeln!(
            out,
            "\n  ! {} more refused releases not listed",
            refused_rows - MAX_LISTED
        );
    }
    if !plan.policies.is_empty() {
        let _ = writeln!(out, "\nregistry immutability");
        for policy in &plan.policies {
            let _ = writeln!(out, "  + create  {}", policy_line(policy));
        }
    }
    let counts = format!("{}.", counts(plan, |n| n.to_string(), ", "));
    if plan.is_refused() {
        let _ = writeln!(out, "\n{}\n{counts}", verdict(plan));
    } else {
        let _ = writeln!(out, "\nPlan: {counts}");
    }
    if let Some(note) = not_checked_note(plan) {
        let _ = writeln!(out, "{note}");
    }
    for refusal in plan.refusals.iter().take(MAX_LISTED) {
        let _ = writeln!(
            out,
            "\nerror[{}]: {}{}\n  --> {}",
            refusal.code().name(),
            // An invalid tag is the file's text unchecked: keep it on its line.
            subject(&refusal.service, Some(&refusal.tag)),
            one_line(&words::refusal(refusal, Style::Marked)),
            refusal.location
        );
        for finding in &refusal.details {
            let _ = writeln!(out, "  = {}", words::finding(finding));
        }
    }
    not_listed(&mut out, plan.refusals.len(), "refusals");
    for warning in plan.warnings.iter().take(MAX_LISTED) {
        let _ = writeln!(
            out,
            "\nwarning[{}]: {}{}",
            warning.code().name(),
            subject(&warning.service, warning.tag.as_deref()),
            one_line(&words::warning(warning))
        );
    }
    not_listed(&mut out, plan.warnings.len(), "warnings");
    out
}

fn not_listed(out: &mut String, total: usize, what: &str) {
    if total > MAX_LISTED {
        let _ = writeln!(
            out,
            "\n… {} more {what} not listed; `quayside plan --format json` lists them all.",
            total - MAX_LISTED
        );
    }
}

/// `service tag: `, `service: `, or nothing for the whole file.
fn subject(service: &str, tag: Option<&str>) -> String {
    match (service, tag) {
        ("", None | Some("")) => String::new(),
        (service, Some(tag)) if !tag.is_empty() => format!("{service} {}: ", one_line(tag)),
        (service, _) => format!("{service}: "),
    }
}

/// One line of a service's table: a release the plan will act on (or leave
/// alone), or one it refuses, so that no declared release drops out of it.
enum Row<'a> {
    Action(&'a Action),
    Refused(&'a Refusal),
}

impl Row<'_> {
    fn tag(&self) -> &str {
        match self {
            Row::Action(action) => &action.tag,
            Row::Refused(refusal) => &refusal.tag,
        }
    }
}

/// Services in the order the plan first names them, each with its actions
/// and the refusals of its releases (refusals about the whole file, with no
/// service or tag, are listed only below the table).
fn rows_by_service(plan: &Plan) -> Vec<(&str, Vec<Row<'_>>)> {
    let mut groups: Vec<(&str, Vec<Row<'_>>)> = Vec::new();
    let rows = plan
        .actions
        .iter()
        .map(|a| (a.service.as_str(), Row::Action(a)))
        .chain(
            plan.refusals
                .iter()
                // An unmanaged tag (refused under --strict) is no release of the file.
                .filter(|r| !r.service.is_empty() && !r.tag.is_empty())
                .filter(|r| r.code() != Code::UnmanagedTag)
                .map(|r| (r.service.as_str(), Row::Refused(r))),
        );
    for (service, row) in rows {
        match groups.iter_mut().find(|(name, _)| *name == service) {
            Some((_, list)) => list.push(row),
            None => groups.push((service, vec![row])),
        }
    }
    groups
}
