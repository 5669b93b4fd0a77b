//! `quayside validate`'s report: every problem compiler-style, those that
//! make the file unusable first, at most [`MAX_LISTED`] of them, then (when
//! some are not listed) how many of each code there are.
//!
//! Only a release tag outside the pattern (`invalid-tag`) leaves the file
//! usable: plan refuses that release and plans the rest. A bad digest, a
//! syntax error or a key plan cannot read stops plan for the whole file, so
//! it must not hide behind thousands of refused tags.

use crate::config::{Diagnostic, Diagnostics, render_one};
use crate::plan::Code;
use crate::render::{MAX_LISTED, plural};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The report for a file with problems (`problems.items` not empty).
pub fn report(problems: &Diagnostics) -> String {
    let mut ordered: Vec<&Diagnostic> = problems.items.iter().collect();
    // Stable: file order within each group.
    ordered.sort_by_key(|d| !blocks_the_file(d.code));
    let mut out = String::new();
    for item in ordered.iter().take(MAX_LISTED) {
        let _ = writeln!(out, "{}", render_one(item, &problems.source));
    }
    let total = ordered.len();
    if total > MAX_LISTED {
        let more = total - MAX_LISTED;
        let _ = writeln!(
            out,
            "… and {more} more problem{} not listed; by code: {}\n",
            plural(more),
            counts(&ordered)
        );
    }
    let _ = write!(out, "{total} problem{} in {}", plural(total), problems.file);
    out
}

/// Whether plan cannot use the file at all while this problem stands.
fn blocks_the_file(code: &str) -> bool {
    code != Code::InvalidTag.name()
}

/// `1 × invalid-digest, 10000 × invalid-tag`: the codes that block the file
/// first, then the most frequent.
fn counts(problems: &[&Diagnostic]) -> String {
    let mut by_code: BTreeMap<&str, usize> = BTreeMap::new();
    for problem in problems {
        *by_code.entry(problem.code).or_default() += 1;
    }
    let mut counted: Vec<(&str, usize)> = by_code.into_iter().collect();
    counted.sort_by_key(|&(code, n)| (!blocks_the_file(code), std::cmp::Reverse(n)));
    counted
        .iter()
        .map(|(code, n)| format!("{n} × {code}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::SourceLocation;

    fn problem(code: &'static str, line: u32) -> Diagnostic {
        let at = SourceLocation {
            file: "releases.toml".into(),
            line,
            column: 1,
        };
        Diagnostic::new(code, format!("{code} on line {line}"), at, "here")
    }

    fn diagnostics(items: Vec<Diagnostic>) -> Diagnostics {
        let source = "\"v\" = \"sha256:x\"\n".repeat(items.len() + 1);
        Diagnostics {
            file: "releases.toml".into(),
            source,
            items,
        }
    }

    #[test]
    fn a_bad_digest_after_ten_thousand_refused_tags_comes_first_with_the_counts() {
        let mut items: Vec<Diagnostic> = (1..=10_000).map(|l| problem("invalid-tag", l)).collect();
        items.push(problem("invalid-digest", 10_001));
        let text = report(&diagnostics(items));
        let first = text.find("error[").unwrap_or(usize::MAX);
        assert_eq!(
            text.get(first..first + 22),
            Some("error[invalid-digest]:"),
            "{}",
            &text[..300]
        );
        assert_eq!(text.matches("error[").count(), MAX_LISTED);
        assert!(
            text.ends_with(
                "… and 9801 more problems not listed; by code: 1 × invalid-digest, 10000 × invalid-tag\n\n10001 problems in releases.toml"
            ),
            "{}",
            &text[text.len() - 300..]
        );
        assert!(text.len() < 60_000, "{} bytes", text.len());
    }

    #[test]
    fn key_problems_come_before_refused_tags_and_file_order_holds_within_each() {
        let items = vec![
            problem("invalid-tag", 2),
            problem(Code::KeyMissing.name(), 5),
            problem("unknown-key", 9),
        ];
        let text = report(&diagnostics(items));
        let at = |needle: &str| text.find(needle).unwrap_or(usize::MAX);
        assert!(
            at("error[key-missing]") < at("error[unknown-key]"),
            "{text}"
        );
        assert!(
            at("error[unknown-key]") < at("error[invalid-tag]"),
            "{text}"
        );
        // Under the cap nothing is counted: every problem is listed.
        assert!(!text.contains("by code"), "{text}");
        assert!(text.ends_with("\n3 problems in releases.toml"), "{text}");
    }
}
