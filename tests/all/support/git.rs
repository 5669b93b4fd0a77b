//! `git` in throwaway repositories the tests make: a fixed identity, no
//! signing, branch `main`, and none of the caller's `GIT_*` variables.

use std::path::Path;
use std::process::Command;

/// Runs `git args…` in `dir`; panics with git's words when it fails. Its
/// stdout, trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    super::tools::require(super::tools::GIT);
    let output = Command::new("git")
        .current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .args([
            "-c",
            "user.name=quayside test",
            "-c",
            "user.email=test@example.invalid",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}
