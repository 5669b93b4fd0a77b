//! Crash-safe file primitives for layouts: every write lands in a temp file in
//! the destination directory, is fsynced, then renamed over its final name, so
//! a crash leaves either the old file or the new one, never half of one.
//! `index.json` read-modify-write cycles are serialised across processes with
//! an advisory lock on a lock file beside it.

use crate::fsutil::TempFile;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Temp files start with this prefix so they can never be taken for a blob
/// (whose names are 64 hex characters) and are easy to clean after a crash.
pub const TEMP_PREFIX: &str = ".quayside-tmp-";

/// The lock file serialising `index.json` updates. It lives in the layout so
/// that every process writing the same layout sees the same lock.
pub const LOCK_FILE: &str = ".quayside-index.lock";

/// An I/O failure with the path it happened on.
#[derive(Debug)]
pub struct PathError {
    pub path: PathBuf,
    pub source: io::Error,
}

pub fn at(path: &Path) -> impl FnOnce(io::Error) -> PathError + '_ {
    move |source| PathError {
        path: path.to_path_buf(),
        source,
    }
}

/// A new temp file in `dir`, which will later be renamed within that
/// directory (rename is only atomic inside one file system).
pub fn temp_file_in(dir: &Path) -> Result<TempFile, PathError> {
    TempFile::new_in(dir, TEMP_PREFIX).map_err(at(dir))
}

/// Makes a finished temp file durable under `target`: fsync the data, rename,
/// then fsync the directory so the rename itself survives a power loss.
pub fn persist(temp: TempFile, target: &Path) -> Result<(), PathError> {
    temp.as_file().sync_all().map_err(at(temp.path()))?;
    temp.persist(target).map_err(at(target))?;
    sync_parent(target)
}

/// Replaces `target` with `bytes` atomically.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> Result<(), PathError> {
    let dir = parent(target)?;
    let mut temp = temp_file_in(dir)?;
    temp.write_all(bytes).map_err(at(temp.path()))?;
    persist(temp, target)
}

/// Fsyncs the directory holding `path`, making a rename or a new link durable.
pub fn sync_parent(path: &Path) -> Result<(), PathError> {
    let dir = parent(path)?;
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(at(dir))
}

fn parent(path: &Path) -> Result<&Path, PathError> {
    path.parent().ok_or_else(|| PathError {
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "path has no parent directory"),
    })
}

/// An exclusive advisory lock, released when dropped (closing the file
/// releases it, also when the process dies).
pub struct IndexLock {
    _file: File,
}

impl IndexLock {
    /// Blocks until this process holds the layout's lock. Flock-style locks
    /// belong to the open file, so two tasks of one process exclude each
    /// other as well as two processes do.
    pub fn acquire(layout_dir: &Path) -> Result<Self, PathError> {
        let path = layout_dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(at(&path))?;
        file.lock().map_err(at(&path))?;
        Ok(IndexLock { _file: file })
    }
}

/// Reads a file, `None` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, PathError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(PathError {
            path: path.to_path_buf(),
            source: error,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("index.json");
        write_atomic(&target, b"first").unwrap();
        write_atomic(&target, b"second").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("index.json")]);
    }

    #[test]
    fn read_optional_distinguishes_absent_from_present() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        assert_eq!(read_optional(&path).unwrap(), None);
        std::fs::write(&path, b"data").unwrap();
        assert_eq!(read_optional(&path).unwrap(), Some(b"data".to_vec()));
    }

    #[test]
    fn lock_excludes_a_second_holder_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let held = IndexLock::acquire(dir.path()).unwrap();
        let other = File::options()
            .write(true)
            .open(dir.path().join(LOCK_FILE))
            .unwrap();
        assert!(matches!(
            other.try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        ));
        drop(held);
        assert!(other.try_lock().is_ok());
    }
}
