//! The one error type of the commands: each adapter's error, or what a
//! command found itself, with the words users read. `main` prints it and
//! maps it to the exit code, and nothing else prints an error.

use crate::commands::saved_plan::SavedPlanError;
use crate::config::LoadError;
use crate::exit::ExitStatus;
use crate::history::HistoryError;
use crate::quay::ImmutabilityError;
use crate::registry::RegistryError;
use crate::scan::quay::ScanError;
use crate::signing::KeyError;
use std::io;
use std::path::PathBuf;

/// Why a command could not do its work (exit 1), or stdout closed under it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `releases.toml` could not be read or is not valid: its diagnostics.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Boxed, as is `Scan` (which may hold one): a `RegistryError` is large,
    /// and every command result carries this type.
    #[error(transparent)]
    Registry(Box<RegistryError>),
    #[error(transparent)]
    Scan(Box<ScanError>),
    /// Reading or creating registry immutability policies failed.
    #[error(transparent)]
    Immutability(Box<ImmutabilityError>),
    /// apply created a policy, yet these release tags are not immutable.
    #[error(
        "{registry}: release tags are not immutable after apply created the policy: {}. Check the organization's immutability policies in Quay, then run apply again",
        .tags.join(", ")
    )]
    PolicyNotInEffect { registry: String, tags: Vec<String> },
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error(transparent)]
    SavedPlan(#[from] SavedPlanError),
    #[error("{file}: [signing] public_key {}: {source}", path.display())]
    PublicKey {
        file: String,
        path: PathBuf,
        source: KeyError,
    },
    #[error(
        "{file}: [signing] public_key is not set and the signing key cannot be read ({source}), so plan cannot tell whether the releases already in the target are signed; set public_key to the key's public half (e.g. cosign.pub) so that plan checks signatures without the private key"
    )]
    NoVerifier { file: String, source: KeyError },
    #[error("{file}: verify needs `public_key` in [signing] to check signatures")]
    NoPublicKey { file: String },
    #[error("{file}: [signing] key: {source}; nothing was written")]
    SigningKey { file: String, source: KeyError },
    #[error(
        "{file}: [signing] key and public_key are not a pair: signatures made by the key would not verify; nothing was written"
    )]
    KeysNotAPair { file: String },
    /// A guard: the planner refuses creates and signs without a key.
    #[error("no signing key is configured; nothing was written")]
    NoSigningKey,
    #[error("cannot write the plan to {}: {source}", path.display())]
    WritePlan { path: PathBuf, source: io::Error },
    /// Releases apply created or signed that the read-back does not find.
    #[error("not in place after apply: {}", .releases.join(", "))]
    NotInPlace { releases: Vec<String> },
    /// Some releases failed; the apply summary names each one and why.
    #[error(
        "apply failed for some releases; the others are in place. Fix the cause and run apply again: it completes the work."
    )]
    ReleasesFailed,
    #[error("{}: already exists; quayside never overwrites a key. Move it away or choose another --output-key-prefix", path.display())]
    KeyFileExists { path: PathBuf },
    #[error("cannot write {}: {source}; no key pair was written", path.display())]
    WriteKey { path: PathBuf, source: io::Error },
    #[error(
        "no password for the new key: set COSIGN_PASSWORD (it may be empty, for a key encrypted with the empty password) or run on a terminal to type one; no key pair was written"
    )]
    NoPasswordSource,
    #[error("the two passwords differ; no key pair was written")]
    PasswordsDiffer,
    #[error("cannot ask for the password on the terminal: {0}; set COSIGN_PASSWORD instead")]
    Prompt(io::Error),
    #[error("cannot make the key pair: {0}")]
    SigningKeyPassword(KeyError),
    #[error("cannot read {}: {source}", path.display())]
    ReadFile { path: PathBuf, source: io::Error },
    #[error("cannot write {}: {source}; it was not changed", path.display())]
    WriteFile { path: PathBuf, source: io::Error },
    #[error("{file}: no service `{service}`; the file declares: {}", .known.join(", "))]
    UnknownService {
        file: String,
        service: String,
        known: Vec<String>,
    },
    /// `promote` could not add the line; the message says why and what to do.
    #[error("{0}; nothing was written")]
    Promote(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
    #[error("cannot write to stdout: {0}")]
    Stdout(io::Error),
}

impl From<RegistryError> for Error {
    fn from(error: RegistryError) -> Self {
        Error::Registry(Box::new(error))
    }
}

impl From<ImmutabilityError> for Error {
    fn from(error: ImmutabilityError) -> Self {
        Error::Immutability(Box::new(error))
    }
}

impl From<ScanError> for Error {
    fn from(error: ScanError) -> Self {
        Error::Scan(Box::new(error))
    }
}

impl Error {
    /// Stdout closed by its reader (`quayside plan | head -1`): what was
    /// wanted has been read, so the program ends quietly and succeeds.
    pub fn is_closed_stdout(&self) -> bool {
        matches!(self, Error::Stdout(error) if error.kind() == io::ErrorKind::BrokenPipe)
    }

    pub fn exit_status(&self) -> ExitStatus {
        if self.is_closed_stdout() {
            ExitStatus::Success
        } else {
            ExitStatus::Error
        }
    }

    /// What stderr shows, ending with a newline; nothing for a closed stdout.
    pub fn report(&self) -> String {
        let mut text = match self {
            _ if self.is_closed_stdout() => return String::new(),
            // Each diagnostic carries its own `error[code]:` heading.
            Error::Load(LoadError::Invalid(diagnostics)) => diagnostics.to_string(),
            // It follows the summary that lists the failures.
            Error::ReleasesFailed => self.to_string(),
            _ => format!("error: {self}"),
        };
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stdout(kind: io::ErrorKind) -> Error {
        Error::Stdout(io::Error::from(kind))
    }

    #[test]
    fn a_closed_stdout_ends_quietly_with_success() {
        let closed = stdout(io::ErrorKind::BrokenPipe);
        assert_eq!(closed.exit_status(), ExitStatus::Success);
        assert_eq!(closed.report(), "");
    }

    #[test]
    fn every_other_error_exits_1_with_its_message() {
        let full = stdout(io::ErrorKind::StorageFull);
        assert_eq!(full.exit_status(), ExitStatus::Error);
        assert!(full.report().starts_with("error: cannot write to stdout: "));
        let guard = Error::NoSigningKey;
        assert_eq!(guard.exit_status(), ExitStatus::Error);
        assert_eq!(
            guard.report(),
            "error: no signing key is configured; nothing was written\n"
        );
        let failed = Error::ReleasesFailed;
        assert_eq!(failed.exit_status(), ExitStatus::Error);
        assert!(
            failed
                .report()
                .starts_with("apply failed for some releases;")
        );
    }

    #[test]
    fn a_file_that_cannot_be_read_is_an_error_with_the_prefix() {
        let error =
            Error::from(crate::config::load(std::path::Path::new("absent.toml")).unwrap_err());
        assert_eq!(error.exit_status(), ExitStatus::Error);
        let report = error.report();
        assert!(
            report.starts_with("error: cannot read absent.toml: "),
            "{report}"
        );
        assert!(report.ends_with('\n'));
    }
}
