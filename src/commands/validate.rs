//! `quayside validate`: offline checks of releases.toml (exit 0 or 1 only).
//! Unlike `plan`, invalid tags are errors here, reported with the rest. The
//! verdict is the command's result, so it goes to stdout, problems included;
//! a file that cannot be read at all is an error (stderr).

use crate::commands::write_stdout;
use crate::config::{self, LoadError};
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::render::plural;
use std::path::Path;

pub fn run(file: &Path) -> Result<ExitStatus, Error> {
    let desired = match config::validate_file(file) {
        Ok(desired) => desired,
        Err(LoadError::Invalid(diagnostics)) => {
            write_stdout(&with_newline(diagnostics.to_string()))?;
            return Ok(ExitStatus::Error);
        }
        Err(error) => return Err(error.into()),
    };
    let releases: usize = desired.services.iter().map(|s| s.releases.len()).sum();
    write_stdout(&format!(
        "{}: valid ({} service{}, {} release{})\n",
        desired.file,
        desired.services.len(),
        plural(desired.services.len()),
        releases,
        plural(releases)
    ))?;
    Ok(ExitStatus::Success)
}

fn with_newline(mut text: String) -> String {
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}
