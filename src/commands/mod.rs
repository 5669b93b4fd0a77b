//! One module per command: each turns arguments into an `ExitStatus`,
//! printing results on stdout and diagnostics on stderr.

pub mod apply;
pub mod plan;
pub mod validate;
pub mod verify;

use crate::cli::{Cli, Command};
use crate::config::{self, model::Desired};
use crate::exit::ExitStatus;
use crate::registry::Connector;
use crate::registry::distribution::ClientOptions;
use std::path::Path;

pub async fn run(cli: Cli) -> ExitStatus {
    match cli.command {
        Command::Validate { file } => validate::run(&file),
        Command::Plan(args) => plan::run(&args, cli.concurrency).await,
        Command::Apply(args) => apply::run(&args, cli.concurrency).await,
        Command::Verify { file } => verify::run(&file, cli.concurrency).await,
    }
}

/// A connector whose registry clients keep `concurrency` requests in flight
/// per host.
pub fn connector(concurrency: usize) -> Connector {
    Connector::new(ClientOptions {
        max_concurrency_per_host: concurrency.max(1),
        ..ClientOptions::default()
    })
}

/// Loads and validates the file, printing every problem on failure.
pub fn load_desired(file: &Path) -> Result<Desired, ExitStatus> {
    config::load(file).map_err(|error| {
        eprint!("{}", validate::report_load_error(&error));
        ExitStatus::Error
    })
}
