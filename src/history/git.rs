//! The git adapter: `releases.toml` as it was at a revision, whether the work
//! tree holds uncommitted changes to it, and the commit it is applied from.
//! libgit2 (through `git2`) reads the repository directly, so no `git` binary
//! is needed and no output format has to be parsed.

use git2::{DiffFindOptions, DiffOptions, ErrorCode, Oid, Repository, Status};
use std::path::{Path, PathBuf};

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

/// The git repository holding one `releases.toml`, and the file's path in it.
pub struct FileHistory {
    repo: Repository,
    workdir: PathBuf,
    /// Relative to the work tree root, with `/` separators (git's form).
    path: String,
}

/// The file as it was at a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileAtCommit {
    pub commit: Oid,
    /// Where the file was at that commit (differs from today's after a rename).
    pub path: String,
    /// `None` when the commit has no such file: every release is new.
    pub text: Option<String>,
    /// Set when the file was found under an older name through rename detection.
    pub renamed_from: Option<String>,
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
        let repo =
            Repository::discover(&folder).map_err(|_| GitError::NotARepository(folder.clone()))?;
        let Some(workdir) = repo.workdir().map(Path::to_path_buf) else {
            return Err(GitError::NotARepository(folder));
        };
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
        Ok(FileHistory {
            repo,
            workdir,
            path,
        })
    }

    /// The file's path relative to the repository root.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn failed(&self, operation: &'static str) -> impl Fn(git2::Error) -> GitError + '_ {
        move |error| GitError::Git {
            operation,
            repository: self.workdir.clone(),
            message: error.message().to_string(),
        }
    }

    /// Resolves a revision (`origin/main`, `HEAD~1`, a commit id, a tag) to a commit.
    pub fn resolve(&self, rev: &str) -> Result<Oid, GitError> {
        let not_found = || GitError::RevisionNotFound {
            rev: rev.to_string(),
            repository: self.workdir.clone(),
            shallow: self.repo.is_shallow(),
        };
        let object = self.repo.revparse_single(rev).map_err(|error| {
            match error.code() {
                ErrorCode::NotFound | ErrorCode::Ambiguous | ErrorCode::InvalidSpec => not_found(),
                // A shallow clone fails with "object not found" style errors too.
                _ if self.repo.is_shallow() => not_found(),
                _ => self.failed("rev-parse")(error),
            }
        })?;
        let commit = object.peel_to_commit().map_err(|_| not_found())?;
        Ok(commit.id())
    }

    /// The commit checked out (`None` in a repository without commits). A
    /// detached HEAD is an ordinary commit here: CI checks out detached.
    pub fn head(&self) -> Result<Option<Oid>, GitError> {
        match self.repo.head() {
            Ok(head) => Ok(Some(
                head.peel_to_commit().map_err(self.failed("HEAD"))?.id(),
            )),
            Err(error) if matches!(error.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => {
                Ok(None)
            }
            Err(error) => Err(self.failed("HEAD")(error)),
        }
    }

    /// The file at `commit`. When the file is absent there but HEAD has it as
    /// a rename of another file, that older file is read (and reported).
    pub fn read_at(&self, commit: Oid) -> Result<FileAtCommit, GitError> {
        if let Some(text) = self.read_path(commit, &self.path)? {
            return Ok(FileAtCommit {
                commit,
                path: self.path.clone(),
                text: Some(text),
                renamed_from: None,
            });
        }
        if let Some(old) = self.renamed_since(commit)?
            && let Some(text) = self.read_path(commit, &old)?
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

    fn read_path(&self, commit: Oid, path: &str) -> Result<Option<String>, GitError> {
        let tree = self
            .repo
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(self.failed("read commit"))?;
        let entry = match tree.get_path(Path::new(path)) {
            Ok(entry) => entry,
            Err(error) if error.code() == ErrorCode::NotFound => return Ok(None),
            Err(error) => return Err(self.failed("read tree")(error)),
        };
        let Ok(blob) = entry.to_object(&self.repo).and_then(|o| o.peel_to_blob()) else {
            // A folder or a submodule under that name is no releases.toml.
            return Ok(None);
        };
        String::from_utf8(blob.content().to_vec())
            .map(Some)
            .map_err(|_| GitError::NotUtf8 {
                path: path.to_string(),
                commit: commit.to_string(),
            })
    }

    /// The file's name at `base`, if the file was renamed between `base` and
    /// the work tree (git's similarity rename detection, as `git diff -M`).
    fn renamed_since(&self, base: Oid) -> Result<Option<String>, GitError> {
        let base_tree = self
            .repo
            .find_commit(base)
            .and_then(|c| c.tree())
            .map_err(self.failed("read commit"))?;
        let mut options = DiffOptions::new();
        options.include_untracked(true);
        let mut diff = self
            .repo
            .diff_tree_to_workdir_with_index(Some(&base_tree), Some(&mut options))
            .map_err(self.failed("diff"))?;
        let mut find = DiffFindOptions::new();
        find.renames(true).renames_from_rewrites(true);
        diff.find_similar(Some(&mut find))
            .map_err(self.failed("rename detection"))?;
        Ok(diff.deltas().find_map(|delta| {
            let new = delta
                .new_file()
                .path()?
                .to_string_lossy()
                .replace('\\', "/");
            let old = delta
                .old_file()
                .path()?
                .to_string_lossy()
                .replace('\\', "/");
            (delta.status() == git2::Delta::Renamed && new == self.path && old != self.path)
                .then_some(old)
        }))
    }

    /// Whether the file has changes that are not committed: in the work tree,
    /// staged in the index, or the file is not tracked at all.
    pub fn is_dirty(&self) -> Result<bool, GitError> {
        let status = self
            .repo
            .status_file(Path::new(&self.path))
            .map_err(self.failed("status"))?;
        // CURRENT is the empty set: anything else (modified, staged, new,
        // ignored) means the bytes applied are not the bytes committed.
        Ok(status != Status::CURRENT)
    }
}

/// The first 7 hex digits, as `git log --oneline` shows.
pub fn short(oid: Oid) -> String {
    oid.to_string()[..7].to_string()
}
