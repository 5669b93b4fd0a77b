//! `quayside verify`: audit every declared release (exit 0 all hold, 3 some
//! do not, 1 could not check).

use crate::commands::{load_desired, plan::load_public_key};
use crate::exit::ExitStatus;
use crate::live::{Scope, read_live_state};
use crate::verify;
use std::path::Path;

pub async fn run(file: &Path, concurrency: usize) -> ExitStatus {
    let desired = match load_desired(file) {
        Ok(desired) => desired,
        Err(status) => return status,
    };
    let verifier = match load_public_key(&desired) {
        Ok(Some(key)) => key,
        Ok(None) => {
            eprintln!(
                "error: {}: verify needs `public_key` in [signing] to check signatures",
                desired.file
            );
            return ExitStatus::Error;
        }
        Err(message) => {
            eprintln!("error: {message}");
            return ExitStatus::Error;
        }
    };
    let connector = super::connector(concurrency);
    let live = match read_live_state(&desired, &connector, Scope::Audit).await {
        Ok(live) => live,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitStatus::Error;
        }
    };
    let checks = verify::check(&desired, &live, &verifier);
    print!("{}", crate::render::verify::render(&checks));
    if checks.iter().all(|check| check.holds()) {
        ExitStatus::Success
    } else {
        ExitStatus::Refused
    }
}
