//! Runs the `quayside` binary the way a user or CI does, and copies example
//! trees into scratch directories so tests never touch the repository.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A command line for the binary, run in `dir`.
pub struct Quayside {
    command: Command,
}

impl Quayside {
    pub fn new(dir: &Path) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_quayside"));
        command
            .current_dir(dir)
            .env_remove("QUAYSIDE_LOG")
            .env_remove("QUAYSIDE_PACING");
        Quayside { command }
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.command.args(args);
        self
    }

    pub fn env(mut self, name: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.command.env(name, value);
        self
    }

    pub fn env_remove(mut self, name: &str) -> Self {
        self.command.env_remove(name);
        self
    }

    /// The command itself, for tests that run it asynchronously or need its
    /// PID.
    pub fn into_command(self) -> Command {
        self.command
    }

    pub fn run(mut self) -> Outcome {
        let output = self.command.output().expect("the quayside binary runs");
        Outcome::from_output(&output)
    }
}

impl Outcome {
    /// `code` is -1 when a signal ended the process.
    pub fn from_output(output: &std::process::Output) -> Self {
        Outcome {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// stdout as JSON (a `--format json` plan); panics with the whole
    /// outcome when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

/// The repository's root (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Copies `from` (a directory tree) into a new temporary directory.
pub fn scratch_copy(from: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_tree(from, dir.path());
    dir
}

pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}
