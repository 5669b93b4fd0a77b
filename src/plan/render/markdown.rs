//! The Markdown form: a pull-request comment. The verdict first, details in
//! `<details>`, always below GitHub's 65,536-character limit.

use crate::plan::render::{action_note, verdict};
use crate::plan::{ActionKind, Plan};
use std::fmt::Write;

/// A line CI can search for to update its previous comment instead of adding
/// a new one.
pub const MARKER: &str = "<!-- quayside-plan -->";

/// GitHub refuses comments of 65,536 characters or more; keep a margin.
pub const MAX_CHARS: usize = 65_000;

pub fn render(plan: &Plan) -> String {
    let mut head = String::new();
    let _ = writeln!(head, "{MARKER}");
    let icon = if plan.is_refused() {
        ":no_entry:"
    } else if plan.has_changes() {
        ":rocket:"
    } else {
        ":white_check_mark:"
    };
    let _ = writeln!(head, "### {icon} quayside plan: {}\n", verdict(plan));
    let s = &plan.summary;
    let _ = writeln!(
        head,
        "**{}** to create · **{}** to sign · **{}** unchanged · **{}** refused · **{}** warnings · `{}`\n",
        s.create, s.sign, s.unchanged, s.refused, s.warnings, plan.file
    );

    let mut refusals = String::new();
    if !plan.refusals.is_empty() {
        let _ = writeln!(refusals, "#### Refused\n");
        for r in &plan.refusals {
            let _ = writeln!(
                refusals,
                "- **`{}`** `{}` `{}` at `{}`: {}",
                r.code.name(),
                r.service,
                r.tag,
                r.location,
                escape(&r.message)
            );
            for finding in &r.details {
                let _ = writeln!(refusals, "  - {}", escape(&finding.summary()));
            }
        }
        refusals.push('\n');
    }

    let mut rows = Vec::new();
    for a in &plan.actions {
        let kind = match a.kind {
            ActionKind::Create => "**create**",
            ActionKind::Sign => "**sign**",
            ActionKind::Unchanged => "unchanged",
        };
        rows.push(format!(
            "| `{}` | `{}` | {kind} | `{}` | {} |\n",
            a.service,
            a.tag,
            a.digest.short(),
            action_note(a)
        ));
    }
    let mut warnings = String::new();
    if !plan.warnings.is_empty() {
        let _ = writeln!(
            warnings,
            "<details><summary>Warnings ({})</summary>\n",
            plan.warnings.len()
        );
        for w in &plan.warnings {
            let subject = w
                .tag
                .as_deref()
                .map(|t| format!(" `{}` `{t}`", w.service))
                .unwrap_or_default();
            let _ = writeln!(
                warnings,
                "- `{}`{subject}: {}",
                w.code.name(),
                escape(&w.message)
            );
        }
        let _ = writeln!(warnings, "\n</details>\n");
    }

    // Fit the action table into what remains, dropping rows from the end and
    // saying how many were left out.
    let table_head = "| service | tag | action | digest | |\n|---|---|---|---|---|\n";
    let fixed = head.len() + refusals.len() + warnings.len() + 200;
    let budget = MAX_CHARS.saturating_sub(fixed);
    let mut table = String::from(table_head);
    let mut shown = 0;
    for row in &rows {
        if table.len() + row.len() > budget {
            break;
        }
        table.push_str(row);
        shown += 1;
    }
    if shown < rows.len() {
        let _ = writeln!(
            table,
            "\n_{} more releases not shown; run `quayside plan` for the full list._",
            rows.len() - shown
        );
    }

    let mut out = head;
    out.push_str(&truncate(&refusals, MAX_CHARS / 2));
    if !rows.is_empty() {
        let _ = writeln!(
            out,
            "<details><summary>Releases ({})</summary>\n",
            rows.len()
        );
        out.push_str(&table);
        let _ = writeln!(out, "\n</details>\n");
    }
    out.push_str(&truncate(&warnings, MAX_CHARS / 8));
    truncate(&out, MAX_CHARS)
}

/// Keeps user-controlled text from breaking the table or the HTML.
fn escape(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn truncate(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let note = "\n\n_(truncated: the full plan is in the CI log)_\n";
    let mut end = limit.saturating_sub(note.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{note}", &text[..end])
}
