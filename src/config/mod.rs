//! `releases.toml`: raw parsing with spans, validation into the checked model,
//! and diagnostics that point at file, line and column.
//!
//! Two strictness levels: [`parse_str`] / [`load`] keep releases whose tag is
//! outside the production pattern (the planner refuses them `invalid-tag`,
//! next to the other releases); [`validate_str`] / [`validate_file`] report
//! those tags as errors too, for `quayside validate`.

pub mod diagnostic;
pub mod hidden;
pub mod location;
pub mod model;
mod policy;
mod raw;
mod semver_tag;
mod services;
pub mod tag;
mod validate;

pub use diagnostic::{Diagnostic, Diagnostics, render_one};
pub use tag::{check_release_tag, tag_diagnostics};
pub use validate::Checked;

use crate::config::diagnostic::LineIndex;
use crate::config::model::{Desired, SourceLocation};
use crate::config::validate::Tags;
use std::path::{Path, PathBuf};

/// Why `releases.toml` could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {}: {source}; check the path (use -f to name another file) and its permissions", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// Parses and validates the text of a `releases.toml`. `file` names it in
/// diagnostics; relative paths in it resolve from `base_dir`. Every problem
/// is reported at once. Invalid release tags are not errors here: they stay
/// in the model with `tag_check: Err` (see [`tag_diagnostics`]).
pub fn parse_str(text: &str, file: &str, base_dir: &Path) -> Result<Desired, Diagnostics> {
    validate::validate(text, file, base_dir, Tags::Keep)
}

/// Like [`parse_str`], and invalid release tags are errors as well: what
/// `quayside validate` checks, all problems in one report.
pub fn validate_str(text: &str, file: &str, base_dir: &Path) -> Result<Desired, Diagnostics> {
    validate::validate(text, file, base_dir, Tags::Report)
}

/// Reads and validates a `releases.toml` file (as [`parse_str`]). Relative
/// paths in it resolve from the folder that holds it.
pub fn load(path: &Path) -> Result<Desired, LoadError> {
    read(path, Tags::Keep)?
        .into_result()
        .map_err(LoadError::Invalid)
}

/// Reads and validates a `releases.toml` file (as [`validate_str`]).
pub fn validate_file(path: &Path) -> Result<Desired, LoadError> {
    read(path, Tags::Report)?
        .into_result()
        .map_err(LoadError::Invalid)
}

/// Reads a `releases.toml` file and reports every problem (as
/// [`validate_file`]), with the model whenever the file is usable: when
/// release tags outside the pattern are its only problems (see [`Checked`]).
pub fn check_file(path: &Path) -> Result<Checked, LoadError> {
    read(path, Tags::Report)
}

fn read(path: &Path, tags: Tags) -> Result<Checked, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let file = path.display().to_string();
    let base_dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok(match std::str::from_utf8(&bytes) {
        Ok(text) => validate::check(text, &file, &base_dir, tags),
        Err(e) => Checked {
            desired: None,
            problems: not_utf8(&bytes, e.valid_up_to(), &file),
        },
    })
}

/// The diagnostic for a file that is not UTF-8, at its first bad byte.
fn not_utf8(bytes: &[u8], valid_up_to: usize, file: &str) -> Diagnostics {
    let valid = String::from_utf8_lossy(&bytes[..valid_up_to]);
    let (line, column) = LineIndex::new(&valid).line_column(valid.len());
    let bad = bytes.get(valid_up_to).copied().unwrap_or_default();
    let item = Diagnostic::new(
        "invalid-utf8",
        format!("the file is not UTF-8: byte 0x{bad:02x} cannot start or continue a character"),
        SourceLocation {
            file: file.to_string(),
            line,
            column,
        },
        "first invalid byte",
    )
    .with_width(1)
    .with_help("TOML files must be UTF-8: re-save the file as UTF-8 (e.g. `iconv -t UTF-8`)");
    Diagnostics {
        file: file.to_string(),
        source: String::from_utf8_lossy(bytes).into_owned(),
        items: vec![item],
    }
}
