//! One module per command: each turns arguments into an `ExitStatus` or an
//! [`Error`], printing results on stdout (through [`write_stdout`]) and
//! progress and notes on stderr; `main` prints the error.

pub mod apply;
pub mod import;
pub mod keygen;
mod password;
pub mod plan;
pub mod promote;
pub mod saved_plan;
pub mod steps;
pub mod validate;
pub mod verify;

use crate::cli::{Cli, Command};
use crate::error::Error;
use crate::exit::ExitStatus;
use std::io::Write;

pub async fn run(cli: Cli) -> Result<ExitStatus, Error> {
    match cli.command {
        Command::Validate { file } => validate::run(&file),
        Command::Plan(args) => plan::run(&args, args.requests.concurrency).await,
        Command::Apply(args) => apply::run(&args, args.requests.concurrency).await,
        Command::Verify(args) => verify::run(&args).await,
        Command::Promote(args) => promote::run(&args, args.requests.concurrency).await,
        Command::Import(args) => import::run(&args, args.requests.concurrency).await,
        Command::GenerateKeyPair { output_key_prefix } => keygen::run(&output_key_prefix),
    }
}

/// Writes one line to stderr (notes beside the result). A closed stderr
/// loses the line, never the run: `eprintln!` would panic.
pub fn write_stderr_line(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr
        .write_all(text.as_bytes())
        .and_then(|()| stderr.write_all(b"\n"));
}

/// Writes `text` to stdout, flushed: the one way commands print results. A
/// failed write is an [`Error::Stdout`] (where `print!` would panic), and a
/// reader that closed the pipe ends the program quietly (see `main`).
pub fn write_stdout(text: &str) -> Result<(), Error> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(Error::Stdout)
}
