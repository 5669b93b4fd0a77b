//! The change under review: a unified diff of `releases.toml` between the
//! base revision and the work tree, shown above the plan (like a PR's diff).

use similar::TextDiff;

/// A unified diff with three lines of context; empty when nothing changed.
pub fn unified(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    let diff = TextDiff::from_lines(old, new);
    if old == new {
        return String::new();
    }
    let mut text = diff
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .missing_newline_hint(true)
        .to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_files_have_no_diff() {
        assert_eq!(unified("a\n", "a\n", "x", "y"), "");
    }

    #[test]
    fn an_added_line_is_one_hunk() {
        let diff = unified("a\nb\n", "a\nb\nc\n", "r@abc1234", "r");
        assert_eq!(diff, "--- r@abc1234\n+++ r\n@@ -1,2 +1,3 @@\n a\n b\n+c\n");
    }
}
