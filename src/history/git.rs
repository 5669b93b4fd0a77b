//! The git adapter: `releases.toml` as it was at a revision, whether the work
//! tree holds uncommitted changes to it, and the commit it is applied from.
//! It runs the `git` command (plumbing commands and `--porcelain` forms, whose
//! output is stable), which every checkout that has a `releases.toml` to plan
//! already has; building libgit2 from C instead cost a fifth of a clean build.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Why the repository could not answer. Every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error(
        "{} is not inside a git repository: --base compares with a git revision, so run quayside in a clone of the repository (or drop --base)",
        .0.display()
    )]
    NotARepository(PathBuf),
    #[error(
        "{} is outside the work tree of the git repository at {}: name a releases.toml that git tracks",
        file.display(),
        workdir.display()
    )]
    OutsideWorkTree { file: PathBuf, workdir: PathBuf },
    #[error("{}", revision_hint(rev, repository, *shallow))]
    RevisionNotFound {
        rev: String,
        repository: PathBuf,
        shallow: bool,
    },
    #[error("git {operation} in {}: {message}", repository.display())]
    Git {
        operation: &'static str,
        repository: PathBuf,
        message: String,
    },
    #[error("{path} at {commit} is not UTF-8 text; releases.toml must be UTF-8 in every revision")]
    NotUtf8 { path: String, commit: String },
    #[error(
        "cannot run `git` ({message}): --base, the dirty check and the provenance commit need git; install it (Debian: apt-get install git)"
    )]
    NoGit { message: String },
}

fn revision_hint(rev: &str, repository: &Path, shallow: bool) -> String {
    let clone = if shallow {
        "this clone is shallow, so older commits and other branches are missing"
    } else {
        "the revision may not have been fetched"
    };
    format!(
        "git revision `{rev}` not found in {}: {clone}. In CI check out the full history (actions/checkout `fetch-depth: 0`, GitLab `GIT_DEPTH: 0`) or fetch the base first (`git fetch origin <base-branch>`)",
        repository.display()
    )
}

/// A full commit id (40 or 64 hex digits), as `git rev-parse` prints it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CommitId(String);

impl CommitId {
    /// The id of no commit (what tests use where none is needed).
    pub fn zero() -> Self {
        CommitId("0".repeat(40))
    }

    /// The first 7 hex digits, as `git log --oneline` shows.
    pub fn short(&self) -> &str {
        &self.0[..7.min(self.0.len())]
    }
}

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The git repository holding one `releases.toml`, and the file's path in it.
pub struct FileHistory {
    workdir: PathBuf,
    /// Relative to the work tree root, with `/` separators (git's form).
    path: String,
}

/// The file as it was at a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileAtCommit {
    pub commit: CommitId,
    /// Where the file was at that commit (differs from today's after a rename).
    pub path: String,
    /// `None` when the commit has no such file: every release is new.
    pub text: Option<String>,
    /// Set when the file was found under an older name through rename detection.
    pub renamed_from: Option<String>,
}

/// What one `git` run printed, and whether it succeeded.
struct Ran {
    success: bool,
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs `git -C dir args…` with a fixed, locale-free environment: no pager,
/// no prompts, and no user configuration that could change plumbing output.
fn run_git(dir: &Path, args: &[&str]) -> Result<Ran, GitError> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_PAGER", "cat")
        .env("LC_ALL", "C")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .output()
        .map_err(|error| GitError::NoGit {
            message: error.to_string(),
        })?;
    Ok(Ran {
        success: output.status.success(),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_string()
}

impl FileHistory {
    /// Finds the repository that holds `file` (searching upwards from its folder).
    pub fn open(file: &Path) -> Result<Self, GitError> {
        let absolute = std::path::absolute(file).map_err(|error| GitError::Git {
            operation: "locate file",
            repository: file.to_path_buf(),
            message: error.to_string(),
        })?;
        let folder = absolute.parent().unwrap_or(Path::new("/")).to_path_buf();
        if !folder.is_dir() {
            return Err(GitError::NotARepository(folder));
        }
        let top = run_git(&folder, &["rev-parse", "--show-toplevel"])?;
        if !top.success {
            // Outside any repository, or in a bare one (no work tree).
            return Err(GitError::NotARepository(folder));
        }
        let workdir = PathBuf::from(text(&top.stdout));
        // Compare canonical forms: /tmp may be a symlink, and the user may
        // have named the file through `..`.
        let canonical_file = absolute.canonicalize().unwrap_or(absolute.clone());
        let canonical_workdir = workdir.canonicalize().unwrap_or(workdir.clone());
        let relative = canonical_file
            .strip_prefix(&canonical_workdir)
            .map_err(|_| GitError::OutsideWorkTree {
                file: file.to_path_buf(),
                workdir: workdir.clone(),
            })?;
        let path = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        Ok(FileHistory { workdir, path })
    }

    /// The file's path relative to the repository root.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn git(&self, operation: &'static str, args: &[&str]) -> Result<Vec<u8>, GitError> {
        let ran = run_git(&self.workdir, args)?;
        if ran.success {
            Ok(ran.stdout)
        } else {
            Err(GitError::Git {
                operation,
                repository: self.workdir.clone(),
                message: ran.stderr,
            })
        }
    }

    fn is_shallow(&self) -> bool {
        run_git(&self.workdir, &["rev-parse", "--is-shallow-repository"])
            .map(|ran| text(&ran.stdout) == "true")
            .unwrap_or(false)
    }

    /// The commit `spec` names, `None` when it names none.
    fn commit_of(&self, spec: &str) -> Result<Option<CommitId>, GitError> {
        let peeled = format!("{spec}^{{commit}}");
        let ran = run_git(
            &self.workdir,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &peeled,
            ],
        )?;
        let id = text(&ran.stdout);
        Ok((ran.success && !id.is_empty()).then_some(CommitId(id)))
    }

    /// Resolves a revision (`origin/main`, `HEAD~1`, a commit id, a tag) to a commit.
    pub fn resolve(&self, rev: &str) -> Result<CommitId, GitError> {
        self.commit_of(rev)?
            .ok_or_else(|| GitError::RevisionNotFound {
                rev: rev.to_string(),
                repository: self.workdir.clone(),
                shallow: self.is_shallow(),
            })
    }

    /// The commit checked out (`None` in a repository without commits). A
    /// detached HEAD is an ordinary commit here: CI checks out detached.
    pub fn head(&self) -> Result<Option<CommitId>, GitError> {
        self.commit_of("HEAD")
    }

    /// The file at `commit`. When the file is absent there but HEAD has it as
    /// a rename of another file, that older file is read (and reported).
    pub fn read_at(&self, commit: CommitId) -> Result<FileAtCommit, GitError> {
        if let Some(text) = self.read_path(&commit, &self.path)? {
            return Ok(FileAtCommit {
                commit,
                path: self.path.clone(),
                text: Some(text),
                renamed_from: None,
            });
        }
        if let Some(old) = self.renamed_since(&commit)?
            && let Some(text) = self.read_path(&commit, &old)?
        {
            return Ok(FileAtCommit {
                commit,
                path: old.clone(),
                text: Some(text),
                renamed_from: Some(old),
            });
        }
        Ok(FileAtCommit {
            commit,
            path: self.path.clone(),
            text: None,
            renamed_from: None,
        })
    }

    fn read_path(&self, commit: &CommitId, path: &str) -> Result<Option<String>, GitError> {
        let object = format!("{commit}:{path}");
        let kind = run_git(&self.workdir, &["cat-file", "-t", &object])?;
        // Absent at that commit; a folder or a submodule under that name is
        // no releases.toml either.
        if !kind.success || text(&kind.stdout) != "blob" {
            return Ok(None);
        }
        let bytes = self.git("read file", &["cat-file", "blob", &object])?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| GitError::NotUtf8 {
                path: path.to_string(),
                commit: commit.to_string(),
            })
    }

    /// The file's name at `base`, if the file was renamed between `base` and
    /// the work tree (git's similarity rename detection, `git diff -M`).
    fn renamed_since(&self, base: &CommitId) -> Result<Option<String>, GitError> {
        let base = base.to_string();
        let listing = self.git(
            "diff",
            &[
                "diff",
                "--no-ext-diff",
                "--no-color",
                "-M",
                "--name-status",
                "-z",
                &base,
                "--",
            ],
        )?;
        // -z: `R<score>\0old\0new\0`, other entries `X\0path\0`.
        let fields: Vec<String> = listing
            .split(|byte| *byte == 0)
            .map(|field| String::from_utf8_lossy(field).into_owned())
            .collect();
        let mut index = 0;
        while index < fields.len() {
            let status = &fields[index];
            if status.starts_with('R') || status.starts_with('C') {
                let (old, new) = match (fields.get(index + 1), fields.get(index + 2)) {
                    (Some(old), Some(new)) => (old, new),
                    _ => break,
                };
                if status.starts_with('R') && *new == self.path && *old != self.path {
                    return Ok(Some(old.clone()));
                }
                index += 3;
            } else {
                index += 2;
            }
        }
        Ok(None)
    }

    /// Whether the file has changes that are not committed: in the work tree,
    /// staged in the index, or the file is not tracked at all.
    pub fn is_dirty(&self) -> Result<bool, GitError> {
        let status = self.git(
            "status",
            &[
                "status",
                "--porcelain=v1",
                "--ignored",
                "--untracked-files=all",
                "--",
                &self.path,
            ],
        )?;
        // Empty means committed as it is; anything else (modified, staged,
        // new, ignored) means the bytes applied are not the bytes committed.
        Ok(!status.iter().all(u8::is_ascii_whitespace))
    }
}
