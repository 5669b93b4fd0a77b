//! `quayside validate`: offline checks of releases.toml (exit 0 or 1 only).
//! Unlike `plan`, invalid tags are errors here, reported with the rest.

use crate::config;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::plan::render::plural;
use std::path::Path;

pub fn run(file: &Path) -> Result<ExitStatus, Error> {
    let desired = config::validate_file(file)?;
    let releases: usize = desired.services.iter().map(|s| s.releases.len()).sum();
    eprintln!(
        "{}: valid ({} service{}, {} release{})",
        desired.file,
        desired.services.len(),
        plural(desired.services.len()),
        releases,
        plural(releases)
    );
    Ok(ExitStatus::Success)
}
