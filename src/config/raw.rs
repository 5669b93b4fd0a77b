//! The spanned TOML layer: parses `releases.toml` into toml's span-carrying
//! document tree and offers the small helpers validation needs (entries in
//! file order, type checks that report instead of failing, locations).
//!
//! We walk the tree ourselves rather than derive `Deserialize` because serde
//! stops at the first problem and the user must see all of them at once.

use crate::config::diagnostic::{Diagnostic, LineIndex, quoted};
use crate::config::model::SourceLocation;
use std::cell::RefCell;
use std::ops::Range;
use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

pub(crate) type Key<'i> = Spanned<DeString<'i>>;
pub(crate) type Value<'i> = Spanned<DeValue<'i>>;

/// The file being checked: its name for locations and a line index for
/// turning byte spans into line and column.
pub(crate) struct Source<'a> {
    pub file: &'a str,
    pub text: &'a str,
    index: LineIndex<'a>,
    /// Spans holding something secret (a password in a URL, a pasted key):
    /// masked in the excerpts that diagnostics print.
    secrets: RefCell<Vec<Range<usize>>>,
}

impl<'a> Source<'a> {
    pub fn new(file: &'a str, text: &'a str) -> Self {
        Source {
            file,
            text,
            index: LineIndex::new(text),
            secrets: RefCell::new(Vec::new()),
        }
    }

    /// Marks a span as secret: it will be masked in printed excerpts.
    pub fn redact(&self, span: &Range<usize>) {
        self.secrets.borrow_mut().push(span.clone());
    }

    /// The text with every secret span masked by `*` (one per character,
    /// newlines kept, so lines and columns stay the same).
    pub fn redacted_text(&self) -> String {
        let secrets = self.secrets.borrow();
        if secrets.is_empty() {
            return self.text.to_string();
        }
        self.text
            .char_indices()
            .map(|(i, c)| {
                let secret = secrets.iter().any(|s| s.contains(&i));
                if secret && c != '\n' { '*' } else { c }
            })
            .collect()
    }

    pub fn location(&self, span: &Range<usize>) -> SourceLocation {
        let (line, column) = self.index.line_column(span.start);
        SourceLocation {
            file: self.file.to_string(),
            line,
            column,
        }
    }

    /// A diagnostic underlining `span`.
    pub fn diag(
        &self,
        code: &'static str,
        message: impl Into<String>,
        span: &Range<usize>,
        label: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::new(code, message, self.location(span), label)
            .with_width(self.index.char_width(span.start, span.end).max(1))
    }
}

/// Parses the document. Duplicate keys (which includes a tag declared twice)
/// are reported and the recovered tree is still returned, so that they show
/// up alongside every other problem; any other syntax error makes the tree
/// meaningless and becomes the single diagnostic.
pub(crate) fn parse<'i>(
    text: &'i str,
    src: &Source<'_>,
) -> Result<(DeTable<'i>, Vec<Diagnostic>), Vec<Diagnostic>> {
    let (root, errors) = DeTable::parse_recoverable(text);
    let mut duplicates = Vec::new();
    for error in &errors {
        match TomlProblem::of(error) {
            TomlProblem::DuplicateKey { span } => {
                let key = text.get(span.clone()).unwrap_or_default();
                duplicates.push(
                    src.diag(
                        "duplicate-key",
                        format!("{} is declared more than once", quoted(key)),
                        &span,
                        "declared again here",
                    )
                    .with_help(
                        "TOML allows each key once per table (and each release tag once per service): remove or rename one",
                    ),
                );
            }
            TomlProblem::Syntax { message, span } => {
                return Err(vec![
                    src.diag(
                        "toml-syntax",
                        format!("this is not valid TOML: {message}"),
                        &span,
                        message.to_string(),
                    )
                    .with_help(
                        "fix the syntax first; see https://toml.io/en/v1.0.0 for the format",
                    ),
                ]);
            }
        }
    }
    Ok((root.into_inner(), duplicates))
}

/// A toml parse error, by what validation does with it.
enum TomlProblem<'e> {
    /// A key (or release tag) declared again; the recovered tree keeps the
    /// first, so parsing goes on.
    DuplicateKey { span: Range<usize> },
    /// Anything else: the tree is meaningless.
    Syntax {
        message: &'e str,
        span: Range<usize>,
    },
}

impl<'e> TomlProblem<'e> {
    /// toml 0.9 gives its errors a description and a span but no kind, so
    /// the kind is read here, once, from the description its parser gives
    /// every duplicate; `toml_wording_is_what_the_classification_reads`
    /// fails if a toml upgrade words it otherwise.
    fn of(error: &'e toml::de::Error) -> Self {
        let span = error.span().unwrap_or(0..0);
        if error.message().starts_with("duplicate key") {
            TomlProblem::DuplicateKey { span }
        } else {
            TomlProblem::Syntax {
                message: error.message().trim_end(),
                span,
            }
        }
    }
}

/// A table's entries in the order the file wrote them (toml's map may sort
/// keys; users expect services and releases in their own order).
pub(crate) fn entries<'t, 'i>(table: &'t DeTable<'i>) -> Vec<(&'t Key<'i>, &'t Value<'i>)> {
    let mut all: Vec<_> = table.iter().collect();
    all.sort_by_key(|(k, _)| k.span().start);
    all
}

pub(crate) fn key_name<'k>(key: &'k Key<'_>) -> &'k str {
    key.get_ref().as_ref()
}

/// An `unknown-key` diagnostic listing the keys that table accepts.
pub(crate) fn unknown_key(
    src: &Source<'_>,
    key: &Key<'_>,
    table: &str,
    allowed: &[&str],
) -> Diagnostic {
    let list: Vec<String> = allowed.iter().map(|k| format!("`{k}`")).collect();
    src.diag(
        "unknown-key",
        format!("unknown key {} in {table}", quoted(key_name(key))),
        &key.span(),
        "not a known key",
    )
    .with_help(format!("{table} accepts {}", list.join(", ")))
}

/// A `wrong-type` diagnostic: `what` names the setting, `expected` the type.
pub(crate) fn wrong_type(
    src: &Source<'_>,
    value: &Value<'_>,
    what: &str,
    expected: &str,
) -> Diagnostic {
    src.diag(
        "wrong-type",
        format!(
            "{what} must be {expected}, not {}",
            article(value.get_ref().type_str())
        ),
        &value.span(),
        format!("expected {expected}"),
    )
}

fn article(type_name: &str) -> String {
    match type_name.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {type_name}"),
        _ => format!("a {type_name}"),
    }
}

/// The string in `value`, or a `wrong-type` diagnostic.
pub(crate) fn string<'v>(
    src: &Source<'_>,
    diags: &mut Vec<Diagnostic>,
    value: &'v Value<'_>,
    what: &str,
) -> Option<&'v str> {
    match value.get_ref() {
        DeValue::String(s) => Some(s.as_ref()),
        _ => {
            diags.push(wrong_type(src, value, what, "a string"));
            None
        }
    }
}

/// The table in `value`, or a `wrong-type` diagnostic.
pub(crate) fn table<'v, 'i>(
    src: &Source<'_>,
    diags: &mut Vec<Diagnostic>,
    value: &'v Value<'i>,
    what: &str,
) -> Option<&'v DeTable<'i>> {
    match value.get_ref() {
        DeValue::Table(t) => Some(t),
        _ => {
            diags.push(wrong_type(src, value, what, "a table"));
            None
        }
    }
}

/// The strings of an array (each element checked), or a `wrong-type`.
pub(crate) fn string_array<'v>(
    src: &Source<'_>,
    diags: &mut Vec<Diagnostic>,
    value: &'v Value<'_>,
    what: &str,
) -> Option<Vec<(&'v str, Range<usize>)>> {
    let DeValue::Array(items) = value.get_ref() else {
        diags.push(wrong_type(src, value, what, "an array of strings"));
        return None;
    };
    let mut out = Vec::new();
    let mut ok = true;
    for item in items.iter() {
        match item.get_ref() {
            DeValue::String(s) => out.push((s.as_ref(), item.span())),
            _ => {
                diags.push(wrong_type(
                    src,
                    item,
                    &format!("each entry of {what}"),
                    "a string",
                ));
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_keep_file_order() {
        let text = "zeta = 1\nalpha = 2\nmid = 3\n";
        let src = Source::new("f.toml", text);
        let (root, dups) = parse(text, &src).unwrap_or_default();
        assert!(dups.is_empty());
        let names: Vec<&str> = entries(&root)
            .into_iter()
            .map(|(k, _)| key_name(k))
            .collect();
        assert_eq!(names, ["zeta", "alpha", "mid"]);
    }

    #[test]
    fn duplicate_keys_are_reported_and_parsing_goes_on() {
        let text = "a = 1\nb = 2\na = 3\n";
        let src = Source::new("f.toml", text);
        let Ok((root, dups)) = parse(text, &src) else {
            panic!("duplicates must not stop parsing");
        };
        assert_eq!(dups.len(), 1);
        assert_eq!(dups[0].code, "duplicate-key");
        assert_eq!((dups[0].location.line, dups[0].location.column), (3, 1));
        assert!(root.iter().any(|(k, _)| key_name(k) == "b"));
    }

    #[test]
    fn toml_wording_is_what_the_classification_reads() {
        for text in [
            "a = 1\na = 2\n",
            "[t]\nx = 1\n[t]\ny = 2\n",
            "t = { a = 1, a = 2 }\n",
            "[s.releases]\n\"v1.0.0\" = \"x\"\n\"v1.0.0\" = \"y\"\n",
        ] {
            let (_, errors) = DeTable::parse_recoverable(text);
            assert!(!errors.is_empty(), "{text}");
            for error in &errors {
                assert!(
                    matches!(TomlProblem::of(error), TomlProblem::DuplicateKey { .. }),
                    "{text}: {error}"
                );
            }
        }
        let (_, errors) = DeTable::parse_recoverable("x = [1,\n");
        assert!(matches!(
            TomlProblem::of(&errors[0]),
            TomlProblem::Syntax { .. }
        ));
    }

    #[test]
    fn syntax_error_is_one_diagnostic_with_location() {
        let text = "version = 1\nx = [1,\n";
        let src = Source::new("f.toml", text);
        let err = parse(text, &src).err().unwrap_or_default();
        let [d] = err.as_slice() else {
            panic!("expected a syntax error")
        };
        assert_eq!(d.code, "toml-syntax");
        assert_eq!(d.location.file, "f.toml");
        assert!(d.location.line >= 2);
    }
}
