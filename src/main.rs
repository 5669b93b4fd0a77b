//! The `quayside` binary: parse arguments, set up logging and the runtime,
//! run the command, exit with its status.

use clap::Parser;
use quayside::cli::Cli;
use quayside::exit::ExitStatus;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    quayside::logging::init(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitStatus::Error.into();
        }
    };
    runtime.block_on(quayside::commands::run(cli)).into()
}
