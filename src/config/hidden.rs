//! Characters that change how text reads without being seen: control
//! characters (newlines can forge lines in a plan or a PR comment), zero-width
//! spaces and joiners, bidi embeddings/overrides/isolates, the BOM. Text from
//! `releases.toml` or from a registry that reaches output unchecked (an
//! invalid release tag, a tag found in a target) is shown with them escaped.

use std::borrow::Cow;

/// True for a control character or an invisible one that can reorder or hide
/// text (Trojan Source style).
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}'
        )
}

/// `text` with every hidden character escaped as Rust does (`\n`,
/// `\u{202e}`), so it prints on one line and reads as what it is. Other
/// characters, look-alikes included, are kept: messages name those.
pub fn one_line(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_hidden(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(one_line("v1.0.0"), "v1.0.0");
        assert!(matches!(one_line("café"), Cow::Borrowed("café")));
        assert_eq!(one_line("v1\n\nok"), "v1\\n\\nok");
        assert_eq!(one_line("v1.0.0\u{202e}1cr-"), "v1.0.0\\u{202e}1cr-");
        assert_eq!(one_line("a\u{200b}b\u{0}"), "a\\u{200b}b\\0");
        assert_eq!(one_line("\u{feff}x\t"), "\\u{feff}x\\t");
    }
}
