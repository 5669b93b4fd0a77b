//! The Markdown form: a pull-request comment. The verdict first, details in
//! `<details>`, always below GitHub's 65,536-character limit.

use crate::config::hidden::one_line;
use crate::plan::{ActionKind, Plan};
use crate::render::plan::{action_note, counts, not_checked_note, policy_line, short_base};
use crate::render::plural;
use crate::render::words::{self, Style};
use std::fmt::Write;

/// A line CI can search for to update its previous comment instead of adding
/// a new one.
pub const MARKER: &str = "<!-- quayside-plan -->";

/// GitHub refuses comments of 65,536 characters or more; keep a margin.
pub const MAX_CHARS: usize = 65_000;

pub fn render(plan: &Plan) -> String {
    render_with_diff(plan, None)
}

/// The comment's first line, what a reviewer needs at a glance.
pub fn headline(plan: &Plan) -> String {
    let s = &plan.summary;
    if plan.is_refused() {
        format!("refused: {} problem{}", s.refused, plural(s.refused))
    } else if !plan.has_changes() {
        "nothing to do".to_string()
    } else if s.create + s.sign == 0 {
        format!(
            "will create {} immutability polic{}",
            s.policies,
            if s.policies == 1 { "y" } else { "ies" }
        )
    } else if s.sign == 0 {
        format!("will create {} release{}", s.create, plural(s.create))
    } else {
        format!(
            "will create {} release{} and sign {}",
            s.create,
            plural(s.create),
            s.sign
        )
    }
}

/// The diff under review in its own `<details>`, capped at `limit` characters
/// (cut at a line, saying how many lines were left out).
fn diff_section(plan: &Plan, diff: &str, limit: usize) -> String {
    let mut out = String::new();
    if diff.is_empty() {
        let _ = writeln!(
            out,
            "`{}` is unchanged since `{}`.\n",
            plan.file,
            short_base(plan)
        );
        return out;
    }
    let changed = diff
        .lines()
        .filter(|l| {
            (l.starts_with('+') && !l.starts_with("+++"))
                || (l.starts_with('-') && !l.starts_with("---"))
        })
        .count();
    // A fence longer than any run of backticks in the diff cannot be closed by it.
    let longest = diff.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let _ = writeln!(
        out,
        "<details><summary>Changes to <code>{}</code> since <code>{}</code> ({changed} line{})</summary>\n\n{fence}diff",
        escape(&plan.file),
        short_base(plan),
        plural(changed)
    );
    let budget = limit.saturating_sub(out.len() + 200);
    let lines: Vec<&str> = diff.lines().collect();
    let mut shown = 0;
    let mut body = String::new();
    for line in &lines {
        if body.len() + line.len() + 1 > budget {
            break;
        }
        body.push_str(line);
        body.push('\n');
        shown += 1;
    }
    out.push_str(&body);
    let _ = writeln!(out, "{fence}\n");
    if shown < lines.len() {
        let _ = writeln!(
            out,
            "_{} more diff lines not shown; see the pull request's files._\n",
            lines.len() - shown
        );
    }
    let _ = writeln!(out, "</details>\n");
    out
}

/// The comment, with the diff of the file since the base when there is one.
pub fn render_with_diff(plan: &Plan, diff: Option<&str>) -> String {
    let mut head = String::new();
    let _ = writeln!(head, "{MARKER}");
    let icon = if plan.is_refused() {
        ":no_entry:"
    } else if plan.has_changes() {
        ":rocket:"
    } else {
        ":white_check_mark:"
    };
    let _ = writeln!(head, "### {icon} quayside plan: {}\n", headline(plan));
    let _ = writeln!(
        head,
        "{} · `{}`\n",
        counts(plan, |n| format!("**{n}**"), " · "),
        plan.file
    );
    if let Some(note) = not_checked_note(plan) {
        let _ = writeln!(head, "_{note}_\n");
    }
    let changes = diff
        .map(|diff| diff_section(plan, diff, MAX_CHARS / 4))
        .unwrap_or_default();

    let mut refusals = String::new();
    if !plan.refusals.is_empty() {
        let _ = writeln!(refusals, "#### Refused\n");
        for r in &plan.refusals {
            // A refusal about the whole file (`--strict` on `scan-disabled`)
            // names no service or tag.
            let subject = if r.service.is_empty() && r.tag.is_empty() {
                String::new()
            } else {
                // An invalid tag is the file's text unchecked.
                format!(" `{}` {}", r.service, code(&r.tag))
            };
            let _ = writeln!(
                refusals,
                "- **`{}`**{subject} at `{}`: {}",
                r.code().name(),
                r.location,
                escape(&one_line(&words::refusal(r, Style::Marked)))
            );
            for finding in &r.details {
                let _ = writeln!(refusals, "  - {}", escape(&words::finding(finding)));
            }
        }
        refusals.push('\n');
    }

    let mut policies = String::new();
    if !plan.policies.is_empty() {
        let _ = writeln!(policies, "#### Registry immutability\n");
        for policy in &plan.policies {
            let _ = writeln!(policies, "- **create** {}", escape(&policy_line(policy)));
        }
        policies.push('\n');
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
                .map(|t| format!(" `{}` {}", w.service, code(t)))
                .unwrap_or_default();
            let _ = writeln!(
                warnings,
                "- `{}`{subject}: {}",
                w.code().name(),
                escape(&one_line(&words::warning(w)))
            );
        }
        let _ = writeln!(warnings, "\n</details>\n");
    }

    // Fit the action table into what remains, dropping rows from the end and
    // saying how many were left out.
    let table_head = "| service | tag | action | digest | |\n|---|---|---|---|---|\n";
    let fixed = head.len() + changes.len() + refusals.len() + policies.len() + warnings.len() + 200;
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
            "\n_{} more releases not shown; `quayside plan --format json` lists them all._",
            rows.len() - shown
        );
    }

    let mut out = head;
    out.push_str(&changes);
    out.push_str(&truncate(&refusals, MAX_CHARS / 2));
    out.push_str(&policies);
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

/// A code span that `text` cannot end early or spread over lines: hidden
/// characters escaped, fenced with more backticks than it holds in a row.
fn code(text: &str) -> String {
    let text = one_line(text);
    let mut run = 0;
    let mut longest = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    if longest == 0 {
        return format!("`{text}`");
    }
    let fence = "`".repeat(longest + 1);
    format!("{fence} {text} {fence}")
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
