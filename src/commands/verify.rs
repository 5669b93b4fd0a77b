//! `quayside verify`: audit every declared release (exit 0 all hold, 3 some
//! do not, 1 could not check).

use crate::commands::steps::{connector, load_public_key};
use crate::commands::write_stdout;
use crate::config;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::live::{Scope, read_live_state};
use crate::verify;
use std::path::Path;

pub async fn run(file: &Path, concurrency: usize) -> Result<ExitStatus, Error> {
    let desired = config::load(file)?;
    let verifier = load_public_key(&desired)?.ok_or_else(|| Error::NoPublicKey {
        file: desired.file.clone(),
    })?;
    let connector = connector(concurrency);
    let live = read_live_state(&desired, &connector, Scope::Audit).await?;
    let checks = verify::check(&desired, &live, &verifier);
    write_stdout(&crate::render::verify::render(&checks))?;
    Ok(if checks.iter().all(|check| check.holds()) {
        ExitStatus::Success
    } else {
        ExitStatus::Refused
    })
}
