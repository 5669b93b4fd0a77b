//! `quayside validate`: offline checks of releases.toml (exit 0 or 1 only).
//! Unlike `plan`, invalid tags are errors here, reported with the rest.

use crate::config::{self, LoadError};
use crate::exit::ExitStatus;
use crate::render::plural;
use std::path::Path;

pub fn run(file: &Path) -> ExitStatus {
    match config::validate_file(file) {
        Ok(desired) => {
            let releases: usize = desired.services.iter().map(|s| s.releases.len()).sum();
            eprintln!(
                "{}: valid ({} service{}, {} release{})",
                desired.file,
                desired.services.len(),
                plural(desired.services.len()),
                releases,
                plural(releases)
            );
            ExitStatus::Success
        }
        Err(error) => {
            eprint!("{}", report_load_error(&error));
            ExitStatus::Error
        }
    }
}

/// The text for a file that could not be loaded, ending with a newline.
pub fn report_load_error(error: &LoadError) -> String {
    let mut text = error.to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}
