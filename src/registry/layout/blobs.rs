//! Blob content in a layout: streaming a blob out while checking that it
//! still hashes to its name, and copying one between layouts with the same
//! check, so a corrupted file is reported instead of propagated.

use super::{READ_HINT, files};
use crate::digest::Digest;
use crate::digest::Hasher;
use crate::registry::RegistryError;
use bytes::Bytes;
use files::PathError;
use futures::StreamExt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Blocking: copies `source` into a temp file beside `target` while hashing,
/// and renames it into place only if it hashes to `digest`.
pub(super) fn copy_verified(
    source: &Path,
    target: &Path,
    digest: &Digest,
) -> Result<Option<Digest>, PathError> {
    struct Hashing<W> {
        inner: W,
        hasher: Hasher,
    }
    impl<W: Write> Write for Hashing<W> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let written = self.inner.write(buf)?;
            self.hasher.update(&buf[..written]);
            Ok(written)
        }
        fn flush(&mut self) -> io::Result<()> {
            self.inner.flush()
        }
    }
    let dir = target.parent().unwrap_or(Path::new("."));
    let temp = files::temp_file_in(dir)?;
    let mut reader = std::fs::File::open(source).map_err(files::at(source))?;
    let mut writer = Hashing {
        inner: temp.as_file(),
        hasher: Hasher::new(),
    };
    io::copy(&mut reader, &mut writer).map_err(files::at(temp.path()))?;
    let actual = Digest::of_hasher(writer.hasher);
    if &actual != digest {
        // Dropping the temp file removes it.
        return Ok(Some(actual));
    }
    files::persist(temp, target)?;
    Ok(None)
}

/// Streams a blob file, hashing as it goes; the last item is an error if the
/// file did not hash to its name, so corruption never passes silently.
pub(super) fn verifying_stream(
    reader: tokio_util::io::ReaderStream<tokio::fs::File>,
    expected: Digest,
    repository: String,
    path: PathBuf,
) -> futures::stream::BoxStream<'static, Result<Bytes, RegistryError>> {
    struct State {
        reader: tokio_util::io::ReaderStream<tokio::fs::File>,
        hasher: Option<Hasher>,
        expected: Digest,
        repository: String,
        path: PathBuf,
    }
    let state = State {
        reader,
        hasher: Some(Hasher::new()),
        expected,
        repository,
        path,
    };
    futures::stream::unfold(state, |mut state| async move {
        let hasher = state.hasher.as_mut()?;
        match state.reader.next().await {
            Some(Ok(chunk)) => {
                hasher.update(&chunk);
                Some((Ok(chunk), state))
            }
            Some(Err(source)) => {
                state.hasher = None;
                let error = RegistryError::Io {
                    repository: state.repository.clone(),
                    operation: format!("reading blob {} failed ({READ_HINT})", state.expected),
                    path: state.path.display().to_string(),
                    source,
                };
                Some((Err(error), state))
            }
            None => {
                let actual = Digest::of_hasher(state.hasher.take()?);
                if actual == state.expected {
                    return None;
                }
                let error = RegistryError::DigestMismatch {
                    repository: state.repository.clone(),
                    what: format!("blob {} ({})", state.expected, state.path.display()),
                    expected: state.expected.clone(),
                    actual,
                };
                Some((Err(error), state))
            }
        }
    })
    .boxed()
}
