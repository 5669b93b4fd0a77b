//! Where a system tool the tests need is missing, the test binary says so
//! once, with the command that installs it, and exits 1: run here by
//! starting this very test binary again with a PATH that lacks the registry.

use std::os::unix::fs::symlink;
use std::process::Command;

#[test]
fn a_missing_registry_is_reported_once_with_the_install_command() {
    let path = tempfile::tempdir().unwrap();
    for tool in ["git", "skopeo", "htpasswd"] {
        let found = std::env::split_paths(&std::env::var_os("PATH").unwrap())
            .map(|dir| dir.join(tool))
            .find(|candidate| candidate.is_file())
            .unwrap_or_else(|| panic!("{tool} is installed where this test runs"));
        symlink(found, path.path().join(tool)).unwrap();
    }
    // `distribution::` holds many tests that each start a registry.
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["distribution::", "--test-threads=4"])
        .env("PATH", path.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(
        stderr
            .matches("error: the integration tests need docker-registry (not found on PATH)")
            .count(),
        1,
        "stderr: {stderr}"
    );
    assert!(
        stderr.contains("sudo apt-get install -y docker-registry\n"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
