//! The plan's forms: pure functions from a `Plan` to text (`text`), a
//! pull-request comment (`markdown`) and the versioned JSON (`json`).

pub mod json;
pub mod markdown;
pub mod text;

use crate::plan::{Action, ActionKind, Plan, PolicyAction};
use crate::render::plural;

/// The output formats of `quayside plan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

pub fn render(plan: &Plan, format: Format) -> String {
    render_with_diff(plan, format, None)
}

/// With `--base`: the text and Markdown forms show the diff of the file
/// since the base above the plan (JSON carries the `base` commit instead).
pub fn render_with_diff(plan: &Plan, format: Format, diff: Option<&str>) -> String {
    match format {
        Format::Text => text::render_with_diff(plan, diff),
        Format::Json => json::render(plan),
        Format::Markdown => markdown::render_with_diff(plan, diff),
    }
}

/// The base commit as `git log --oneline` shows it.
pub(crate) fn short_base(plan: &Plan) -> &str {
    plan.base
        .as_deref()
        .map(|base| base.get(..7).unwrap_or(base))
        .unwrap_or("the base")
}

/// Says that an incremental plan (`--base` without `--full`) left releases out.
pub(crate) fn not_checked_note(plan: &Plan) -> Option<String> {
    let n = plan.summary.not_checked;
    (n > 0).then(|| {
        format!(
            "{n} release{} unchanged since {}, not checked; use --full to check {}.",
            plural(n),
            short_base(plan),
            if n == 1 { "it" } else { "them" }
        )
    })
}

/// The one-line verdict at the top of every form.
pub(crate) fn verdict(plan: &Plan) -> String {
    let s = &plan.summary;
    if plan.is_refused() {
        format!(
            "Refused: {} problem{} must be fixed before anything is applied.",
            s.refused,
            plural(s.refused)
        )
    } else if !plan.has_changes() {
        format!(
            "No changes. {} release{} already in place and signed.",
            s.unchanged,
            plural(s.unchanged)
        )
    } else {
        format!(
            "Plan: {} to create, {} to sign, {} unchanged.",
            s.create, s.sign, s.unchanged
        )
    }
}

pub(crate) fn action_note(action: &Action) -> &'static str {
    match action.kind {
        ActionKind::Create => "copy by digest, sign, then tag",
        ActionKind::Sign => "add the missing signature",
        ActionKind::Unchanged => "in place and signed",
    }
}

/// A registry immutability policy to create, in one line (pattern as
/// registry text: kept on its line).
pub(crate) fn policy_line(policy: &PolicyAction) -> String {
    format!(
        "immutability policy in organization {} on {}: tagPattern {} (protects {})",
        policy.organization,
        policy.registry,
        crate::config::hidden::one_line(&policy.tag_pattern),
        policy.targets.join(", ")
    )
}

/// The summary's counts as both forms say them: `number` marks each count
/// (bold in Markdown), `separator` joins the parts.
pub(crate) fn counts(plan: &Plan, number: fn(usize) -> String, separator: &str) -> String {
    let s = &plan.summary;
    let mut parts = vec![
        format!("{} to create", number(s.create)),
        format!("{} to sign", number(s.sign)),
        format!("{} unchanged", number(s.unchanged)),
        format!("{} refused", number(s.refused)),
        format!("{} warning{}", number(s.warnings), plural(s.warnings)),
    ];
    match s.policies {
        0 => {}
        1 => parts.push("1 immutability policy to create".to_string()),
        n => parts.push(format!("{n} immutability policies to create")),
    }
    parts.join(separator)
}

#[cfg(test)]
mod tests;
