//! `quayside validate`: offline checks of releases.toml (exit 0 or 1 only).

use crate::config::{self, LoadError, diagnostic::Diagnostics};
use crate::exit::ExitStatus;
use std::path::Path;

pub fn run(file: &Path) -> ExitStatus {
    let desired = match super::load_desired(file) {
        Ok(desired) => desired,
        Err(status) => return status,
    };
    let problems = config::tag_diagnostics(&desired);
    if problems.is_empty() {
        let releases: usize = desired.services.iter().map(|s| s.releases.len()).sum();
        eprintln!(
            "{}: valid ({} service{}, {} release{})",
            desired.file,
            desired.services.len(),
            crate::plan::render::plural(desired.services.len()),
            releases,
            crate::plan::render::plural(releases)
        );
        return ExitStatus::Success;
    }
    let source = std::fs::read_to_string(file).unwrap_or_default();
    let diagnostics = Diagnostics {
        file: desired.file.clone(),
        source,
        items: problems,
    };
    eprint!("{diagnostics}");
    ExitStatus::Error
}

/// The text for a file that could not be loaded, ending with a newline.
pub fn report_load_error(error: &LoadError) -> String {
    let mut text = error.to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}
