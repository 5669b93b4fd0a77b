//! The `quayside` binary: parse arguments, set up logging and the runtime,
//! run the command, print its error if it failed, exit with its status.

use clap::Parser;
use quayside::cli::Cli;
use quayside::error::Error;
use quayside::exit::ExitStatus;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(usage) => return usage_exit(&usage),
    };
    quayside::logging::init(cli.verbose);
    let status = match run(cli) {
        Ok(status) => status,
        Err(error) => {
            // The one place errors are printed. A closed stderr leaves
            // nobody to tell, so a failed write is not reported either.
            let _ = std::io::stderr().write_all(error.report().as_bytes());
            error.exit_status()
        }
    };
    status.into()
}

/// `--help` and `--version` print and succeed; a usage error exits 1, the
/// code of every error (clap's own 2 is what `plan --detailed-exitcode`
/// means by "changes pending", which a typo in CI must never read as).
fn usage_exit(usage: &clap::Error) -> ExitCode {
    let _ = usage.print();
    if usage.use_stderr() {
        ExitStatus::Error.into()
    } else {
        ExitStatus::Success.into()
    }
}

fn run(cli: Cli) -> Result<ExitStatus, Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    runtime.block_on(quayside::commands::run(cli))
}
