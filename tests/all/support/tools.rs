//! The system tools the integration tests run (a real registry, skopeo,
//! htpasswd, git). A missing tool is reported once for the whole test binary,
//! with the command that installs it, and the binary stops there: without
//! its tools the suite cannot pass, and a panic in each of a hundred tests
//! would bury the one line that says what to do.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

/// A tool a test needs: what it is called, where it is looked for, and the
/// Debian package that provides it.
#[derive(Clone, Copy)]
pub struct Tool {
    pub binary: &'static str,
    pub package: &'static str,
}

impl Tool {
    const fn new(binary: &'static str, package: &'static str) -> Self {
        Tool { binary, package }
    }
}

pub const DOCKER_REGISTRY: Tool = Tool::new("docker-registry", "docker-registry");
pub const SKOPEO: Tool = Tool::new("skopeo", "skopeo");
pub const HTPASSWD: Tool = Tool::new("htpasswd", "apache2-utils");
pub const GIT: Tool = Tool::new("git", "git");

/// Every tool a test of the suite can need, so that one report names all
/// that are missing rather than one per run.
const ALL: [Tool; 4] = [DOCKER_REGISTRY, SKOPEO, HTPASSWD, GIT];

/// Held while a report is printed, so two tests that find the same tool
/// missing at once print it once.
static REPORTING: Mutex<()> = Mutex::new(());

/// Returns when `tool` is on PATH; otherwise prints what is missing and how
/// to install it, once, and ends the test binary with status 1.
pub fn require(tool: Tool) {
    if on_path(tool.binary) {
        return;
    }
    let _only_one = REPORTING.lock();
    let missing: Vec<Tool> = ALL.into_iter().filter(|t| !on_path(t.binary)).collect();
    let names: Vec<&str> = missing.iter().map(|t| t.binary).collect();
    let packages: Vec<&str> = missing.iter().map(|t| t.package).collect();
    // Straight to the stderr handle: the test harness captures `eprintln!`
    // and would drop it when the process exits.
    let _ = writeln!(
        std::io::stderr(),
        "\nerror: the integration tests need {} (not found on PATH).\n\
         Install: sudo apt-get install -y {}\n\
         or run the whole suite with scripts/test, which installs what it needs.\n",
        names.join(", "),
        packages.join(" ")
    );
    std::process::exit(1);
}

fn on_path(binary: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| is_executable(&dir.join(binary)))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}
