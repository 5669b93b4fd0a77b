//! `quayside validate`: offline checks of releases.toml (exit 0 or 1 only).
//! Unlike `plan`, invalid tags are errors here, reported with the rest, and
//! so are key files `[signing]` names that plan or apply could not use
//! (`key_files`). The verdict is the command's result, so it goes to stdout,
//! problems included; a file that cannot be read at all is an error
//! (stderr).

use crate::commands::write_stdout;
use crate::config;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::key_files;
use crate::render::plural;
use std::path::Path;

pub fn run(file: &Path) -> Result<ExitStatus, Error> {
    let checked = config::check_file(file)?;
    let mut problems = checked.problems;
    let signing = checked.desired.as_ref().and_then(|d| d.signing.as_ref());
    if let Some(signing) = signing {
        problems.items.extend(key_files::check(signing));
    }
    let desired = match checked.desired {
        Some(desired) if problems.items.is_empty() => desired,
        _ => {
            write_stdout(&format!("{}\n", problems))?;
            return Ok(ExitStatus::Error);
        }
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
