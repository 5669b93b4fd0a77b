//! File writes that never leave a half-written file behind: content goes to a
//! temp file beside its destination (rename is atomic only within one file
//! system), which is removed if the write is abandoned. Written here rather
//! than taken from the `tempfile` crate, whose `rustix` dependency was the
//! largest part of the first build that nothing else needed.

use rand_core::{OsRng, RngCore};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::ops::Deref;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Writes `bytes` to a temporary file beside `path`, syncs it, then renames it
/// over `path`, so readers see the old or the new content, never a mix.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut file = TempFile::new_in(dir, ".quayside-")?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path)
}

/// A new file under a fresh random name, open for writing; removed when
/// dropped unless persisted.
pub struct TempFile {
    file: File,
    path: TempPath,
}

/// The name of a temp file, removed when dropped unless persisted.
pub struct TempPath {
    path: PathBuf,
    persisted: bool,
}

/// Names tried before giving up: a collision of 96 random bits means
/// something else is wrong (e.g. the directory refuses every create).
const ATTEMPTS: usize = 8;

impl TempFile {
    /// Creates `dir/<prefix><random>`, readable and writable by the owner
    /// only until it is persisted.
    pub fn new_in(dir: &Path, prefix: &str) -> io::Result<TempFile> {
        let mut last = io::Error::other("no name tried");
        for _ in 0..ATTEMPTS {
            let path = dir.join(format!("{prefix}{}", random_suffix()?));
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(file) => {
                    let path = TempPath {
                        path,
                        persisted: false,
                    };
                    return Ok(TempFile { file, path });
                }
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => last = error,
                Err(error) => return Err(error),
            }
        }
        Err(last)
    }

    pub fn as_file(&self) -> &File {
        &self.file
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file and its name, for writers that take the file elsewhere
    /// (e.g. into an async file); the name still removes it when dropped.
    pub fn into_parts(self) -> (File, TempPath) {
        (self.file, self.path)
    }

    /// Renames the file to `target` (replacing it); the file is closed.
    pub fn persist(self, target: &Path) -> io::Result<()> {
        self.path.persist(target)
    }
}

impl Write for TempFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.file.write(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl TempPath {
    /// Renames the file to `target` (replacing it); on failure the temp file
    /// is removed.
    pub fn persist(mut self, target: &Path) -> io::Result<()> {
        std::fs::rename(&self.path, target)?;
        self.persisted = true;
        Ok(())
    }
}

impl Deref for TempPath {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if !self.persisted {
            // Best effort: the file was never anything but scratch.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn random_suffix() -> io::Result<String> {
    let mut bytes = [0u8; 12];
    OsRng.try_fill_bytes(&mut bytes).map_err(io::Error::other)?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_persisted_file_holds_the_bytes_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("plan.json");
        std::fs::write(&target, b"old").unwrap();
        write_atomically(&target, b"new").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn an_abandoned_temp_file_is_removed_and_names_do_not_collide() {
        let dir = tempfile::tempdir().unwrap();
        let first = TempFile::new_in(dir.path(), ".t-").unwrap();
        let second = TempFile::new_in(dir.path(), ".t-").unwrap();
        assert_ne!(first.path(), second.path());
        let (_, path) = second.into_parts();
        let kept = path.to_path_buf();
        assert!(kept.exists());
        drop(path);
        drop(first);
        assert!(!kept.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn the_temp_file_is_private_until_persisted() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = TempFile::new_in(dir.path(), ".t-").unwrap();
        let mode = file.as_file().metadata().unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
