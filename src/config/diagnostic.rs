//! Diagnostics about `releases.toml`: a stable code, a message, and a caret
//! under the offending text, rendered compiler-style without color so that CI
//! logs and pull-request comments show the same thing a terminal does.

use crate::config::model::SourceLocation;
use std::fmt;

/// One problem in `releases.toml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Stable kebab-case code (`invalid-digest`, `unknown-key`, …).
    pub code: &'static str,
    pub message: String,
    pub location: SourceLocation,
    /// Short text printed after the carets.
    pub label: String,
    pub help: Option<String>,
    /// How many characters to underline from `location`. `0` means "the token
    /// that starts there" (a quoted string or a bare word), which is what a
    /// caller that only knows a [`SourceLocation`] (the planner) wants.
    pub width: usize,
}

impl Diagnostic {
    pub fn new(
        code: &'static str,
        message: impl Into<String>,
        location: SourceLocation,
        label: impl Into<String>,
    ) -> Self {
        Diagnostic {
            code,
            message: message.into(),
            location,
            label: label.into(),
            help: None,
            width: 0,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_width(mut self, width: usize) -> Self {
        self.width = width;
        self
    }
}

/// Every problem found in one file, with the text needed to render them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostics {
    /// The file as the user named it.
    pub file: String,
    /// The file's text (non-UTF-8 bytes replaced) for the source excerpts.
    pub source: String,
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// The codes of every item, in order; handy for tests and summaries.
    pub fn codes(&self) -> Vec<&'static str> {
        self.items.iter().map(|d| d.code).collect()
    }
}

/// Diagnostics rendered in full; the rest are counted by code. A generated
/// file with 20,000 bad digests printed 6.4 MB; the first two hundred say what
/// to fix.
pub const MAX_RENDERED: usize = 200;

/// The one code that leaves the file usable: plan refuses that release and
/// plans the rest. Every other problem stops plan for the whole file, so it
/// is listed first and cannot hide behind thousands of refused tags.
pub const INVALID_TAG: &str = "invalid-tag";

/// Every problem compiler-style (those that make the file unusable first,
/// file order within each group), at most [`MAX_RENDERED`], then how many of
/// each code there are when some are not listed. What `validate` prints and
/// what plan and apply print when the file cannot be loaded.
impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ordered: Vec<&Diagnostic> = self.items.iter().collect();
        // Stable: file order within each group.
        ordered.sort_by_key(|d| !blocks_the_file(d.code));
        for item in ordered.iter().take(MAX_RENDERED) {
            writeln!(f, "{}", render_one(item, &self.source))?;
        }
        let n = ordered.len();
        if n > MAX_RENDERED {
            let more = n - MAX_RENDERED;
            writeln!(
                f,
                "… and {more} more {} not listed; by code: {}\n",
                problems(more),
                counts(&ordered)
            )?;
        }
        write!(f, "{n} {} in {}", problems(n), self.file)
    }
}

fn problems(n: usize) -> &'static str {
    if n == 1 { "problem" } else { "problems" }
}

/// Whether plan cannot use the file at all while this problem stands.
fn blocks_the_file(code: &str) -> bool {
    code != INVALID_TAG
}

/// `1 × invalid-digest, 10000 × invalid-tag`: the codes that block the file
/// first, then the most frequent.
fn counts(problems: &[&Diagnostic]) -> String {
    let mut by_code: std::collections::BTreeMap<&str, usize> = Default::default();
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

impl std::error::Error for Diagnostics {}

/// Longest source line excerpt shown; longer lines are cut around the caret so
/// a minified or generated file cannot flood the terminal.
const MAX_EXCERPT: usize = 120;
/// Characters of context kept before the caret when a line is cut.
const CONTEXT_BEFORE: usize = 40;

/// Renders one diagnostic, compiler-style, ending with a newline.
pub fn render_one(d: &Diagnostic, source: &str) -> String {
    let line_no = d.location.line.max(1);
    let gutter = line_no.to_string().len();
    let pad = " ".repeat(gutter);
    let mut out = String::new();
    out.push_str(&format!("error[{}]: {}\n", d.code, d.message));
    out.push_str(&format!("{pad}--> {}\n", d.location));
    out.push_str(&format!("{pad} |\n"));

    let line: Vec<char> = source
        .split('\n')
        .nth(line_no as usize - 1)
        .unwrap_or("")
        .trim_end_matches('\r')
        .chars()
        .collect();
    let start = (d.location.column.max(1) as usize - 1).min(line.len());
    let width = if d.width == 0 {
        token_width(&line[start..])
    } else {
        d.width
    }
    .clamp(1, (line.len() - start).max(1));

    // Cut long lines to a window that keeps the caret visible.
    let (from, to) = if line.len() > MAX_EXCERPT {
        let from = start.saturating_sub(CONTEXT_BEFORE);
        (from, (from + MAX_EXCERPT).min(line.len()))
    } else {
        (0, line.len())
    };
    let mut shown = String::new();
    let mut caret_offset = 0;
    if from > 0 {
        shown.push('…');
        caret_offset += 1;
    }
    for (i, c) in line[from..to].iter().enumerate() {
        let text = displayable(*c);
        if from + i < start {
            caret_offset += text.chars().count();
        }
        shown.push_str(&text);
    }
    if to < line.len() {
        shown.push('…');
    }
    let visible_width = width.min(to.saturating_sub(start)).max(1);
    let caret_width: usize = line[start..(start + visible_width).min(line.len())]
        .iter()
        .map(|c| displayable(*c).chars().count())
        .sum::<usize>()
        .max(1);

    if shown.is_empty() {
        out.push_str(&format!("{line_no} |\n"));
    } else {
        out.push_str(&format!("{line_no} | {shown}\n"));
    }
    let mut marker = format!(
        "{pad} | {}{}",
        " ".repeat(caret_offset),
        "^".repeat(caret_width)
    );
    if !d.label.is_empty() {
        marker.push(' ');
        marker.push_str(&d.label);
    }
    out.push_str(&marker);
    out.push('\n');
    if let Some(help) = &d.help {
        out.push_str(&format!("{pad} = help: {help}\n"));
    }
    out
}

/// How a source character is shown: tabs as four spaces (so carets line up)
/// and control characters as U+FFFD so a hostile file cannot drive the
/// terminal.
fn displayable(c: char) -> String {
    match c {
        '\t' => "    ".to_string(),
        c if c.is_control() => '\u{FFFD}'.to_string(),
        c => c.to_string(),
    }
}

/// Width of the token starting at `rest[0]`: a quoted string up to its closing
/// quote, a bracketed header up to `]`, else a run of non-blank, non-`=` text.
fn token_width(rest: &[char]) -> usize {
    match rest.first() {
        None => 0,
        Some(&q @ ('"' | '\'')) => {
            let mut escaped = false;
            for (i, &c) in rest.iter().enumerate().skip(1) {
                if q == '"' && c == '\\' && !escaped {
                    escaped = true;
                    continue;
                }
                if c == q && !escaped {
                    return i + 1;
                }
                escaped = false;
            }
            rest.len()
        }
        Some('[') => rest
            .iter()
            .position(|&c| c == ']')
            .map(|i| {
                // `[[policy.waivers]]` closes with two brackets.
                if rest.get(i + 1) == Some(&']') {
                    i + 2
                } else {
                    i + 1
                }
            })
            .unwrap_or(rest.len()),
        Some(_) => rest
            .iter()
            .position(|&c| c.is_whitespace() || c == '=' || c == ',')
            .unwrap_or(rest.len())
            .max(1),
    }
}

/// Maps byte offsets in a text to 1-based line and character columns.
pub struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset at which each line starts.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    /// `(line, column)`, both 1-based; the column counts characters.
    pub fn line_column(&self, offset: usize) -> (u32, u32) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let column = self.text[self.starts[line]..offset].chars().count() + 1;
        (saturating_u32(line + 1), saturating_u32(column))
    }

    /// Characters between two byte offsets (for caret widths).
    pub fn char_width(&self, start: usize, end: usize) -> usize {
        let end = end.min(self.text.len());
        let start = start.min(end);
        match self.text.get(start..end) {
            Some(s) => s.chars().count(),
            None => end - start,
        }
    }
}

fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Quotes user text for a message as a Markdown code span (plans end up in
/// pull-request comments): control characters escaped, cut at 60 characters
/// so a huge value cannot flood the output, and fenced with more backticks
/// than the text holds in a row, so a backtick in it cannot end the span
/// (CommonMark; the fence is padded with spaces when the text has one).
pub fn quoted(text: &str) -> String {
    const MAX: usize = 60;
    let mut inner = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX {
            inner.push('…');
            break;
        }
        if c.is_control() {
            inner.extend(c.escape_default());
        } else {
            inner.push(c);
        }
    }
    let longest = inner.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    if longest == 0 {
        return format!("`{inner}`");
    }
    let fence = "`".repeat(longest + 1);
    format!("{fence} {inner} {fence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: u32, column: u32) -> SourceLocation {
        SourceLocation {
            file: "releases.toml".into(),
            line,
            column,
        }
    }

    #[test]
    fn renders_like_a_compiler() {
        let mut source = "x\n".repeat(11);
        source.push_str("\"v1.0.0\" = \"sha256:abc\"\n");
        let d = Diagnostic::new(
            "invalid-digest",
            "`sha256:abc` is not a digest",
            at(12, 12),
            "expected `sha256:` followed by 64 lowercase hex characters",
        )
        .with_help("copy the digest from `skopeo inspect` or your CI build output");
        let expected = "error[invalid-digest]: `sha256:abc` is not a digest
  --> releases.toml:12:12
   |
12 | \"v1.0.0\" = \"sha256:abc\"
   |            ^^^^^^^^^^^^ expected `sha256:` followed by 64 lowercase hex characters
   = help: copy the digest from `skopeo inspect` or your CI build output
";
        assert_eq!(render_one(&d, &source), expected);
    }

    #[test]
    fn explicit_width_and_summary_line() {
        let d = Diagnostic::new("missing-version", "no `version`", at(1, 1), "here").with_width(3);
        let all = Diagnostics {
            file: "r.toml".into(),
            source: "abcdef".into(),
            items: vec![d],
        };
        let text = all.to_string();
        assert!(text.contains("1 | abcdef\n  | ^^^ here\n"), "{text}");
        assert!(text.ends_with("1 problem in r.toml"), "{text}");
    }

    #[test]
    fn rendering_stops_after_the_first_two_hundred_problems() {
        let source = "\"v1.0.0\" = \"sha256:abc\"\n".repeat(20_000);
        let items: Vec<Diagnostic> = (1..=20_000)
            .map(|line| Diagnostic::new("invalid-digest", "not a digest", at(line, 12), "here"))
            .collect();
        let all = Diagnostics {
            file: "r.toml".into(),
            source,
            items,
        };
        let text = all.to_string();
        assert_eq!(text.matches("error[invalid-digest]").count(), MAX_RENDERED);
        assert!(
            text.contains("--> releases.toml:200:12"),
            "the 200th is shown"
        );
        assert!(
            !text.contains("--> releases.toml:201:12"),
            "the 201st is not"
        );
        assert!(
            text.ends_with(
                "… and 19800 more problems not listed; by code: 20000 × invalid-digest\n\n20000 problems in r.toml"
            ),
            "{}",
            &text[text.len() - 200..]
        );
        assert!(text.len() < 40_000, "{} bytes", text.len());
    }

    fn problem(code: &'static str, line: u32) -> Diagnostic {
        Diagnostic::new(code, format!("{code} on line {line}"), at(line, 1), "here")
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
        let mut items: Vec<Diagnostic> = (1..=10_000).map(|l| problem(INVALID_TAG, l)).collect();
        items.push(problem("invalid-digest", 10_001));
        let text = diagnostics(items).to_string();
        let first = text.find("error[").unwrap_or(usize::MAX);
        assert_eq!(
            text.get(first..first + 22),
            Some("error[invalid-digest]:"),
            "{}",
            &text[..300]
        );
        assert_eq!(text.matches("error[").count(), MAX_RENDERED);
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
    fn problems_that_block_the_file_come_before_refused_tags_and_file_order_holds_within_each() {
        let items = vec![
            problem(INVALID_TAG, 2),
            problem("key-missing", 5),
            problem("unknown-key", 9),
        ];
        let text = diagnostics(items).to_string();
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

    #[test]
    fn long_lines_are_cut_around_the_caret() {
        let line = format!("{}BAD{}", "a".repeat(500), "b".repeat(500));
        let d = Diagnostic::new("x", "m", at(1, 501), "l").with_width(3);
        let out = render_one(&d, &line);
        let excerpt = out.lines().nth(3).unwrap_or_default();
        assert!(excerpt.chars().count() < MAX_EXCERPT + 10, "{excerpt}");
        let caret = out.lines().nth(4).unwrap_or_default();
        let caret_col = caret.find('^').unwrap_or(0);
        let shown: String = excerpt.chars().skip(caret_col).take(3).collect();
        assert_eq!(shown, "BAD");
    }

    #[test]
    fn control_characters_are_not_echoed() {
        let d = Diagnostic::new("x", "m", at(1, 1), "l");
        let out = render_one(&d, "\u{1b}[31mred");
        assert!(!out.contains('\u{1b}'));
    }

    #[test]
    fn locations_past_the_end_do_not_panic() {
        let d = Diagnostic::new("x", "m", at(40, 90), "l");
        assert!(render_one(&d, "short").contains("40 |\n"));
    }

    #[test]
    fn line_index_counts_characters() {
        let text = "ab\nçé=x\n";
        let index = LineIndex::new(text);
        assert_eq!(index.line_column(0), (1, 1));
        assert_eq!(index.line_column(3), (2, 1));
        assert_eq!(index.line_column(text.find('=').unwrap_or(0)), (2, 3));
        // An offset inside a character snaps back to its start.
        assert_eq!(index.line_column(4), (2, 1));
        assert_eq!(index.line_column(9999), (3, 1));
    }

    #[test]
    fn quoted_escapes_and_truncates() {
        assert_eq!(quoted("a\nb"), "`a\\nb`");
        assert_eq!(quoted(&"x".repeat(100)).chars().count(), 63);
    }

    #[test]
    fn quoted_text_with_backticks_cannot_end_its_code_span() {
        // Regression (issue 8): a tag such as v1`<b>x</b>` closed the span
        // early, and the rest rendered as Markdown in the PR comment.
        assert_eq!(quoted("v1`x"), "`` v1`x ``");
        assert_eq!(quoted("``a`"), "``` ``a` ```");
        assert_eq!(quoted("`"), "`` ` ``");
    }
}
