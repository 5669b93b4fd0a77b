//! `quayside generate-key-pair`: writes `<prefix>.key` (ECDSA P-256 in
//! cosign's encrypted format, readable by cosign and by quayside) and
//! `<prefix>.pub` (SPKI PEM), as `cosign generate-key-pair` does. Existing
//! files are never overwritten; the private key is readable by its owner only.

use crate::commands::password::{self, Origin};
use crate::commands::write_stdout;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::signing::SigningKey;
use crate::signing::keys::PASSWORD_VARIABLE;
use secrecy::ExposeSecret;
use std::io::Write;
use std::path::{Path, PathBuf};

pub fn run(prefix: &Path) -> Result<ExitStatus, Error> {
    let private_path = with_suffix(prefix, "key");
    let public_path = with_suffix(prefix, "pub");
    // Checked before asking for a password: nothing to type for a refusal.
    for path in [&private_path, &public_path] {
        if path.exists() {
            return Err(Error::KeyFileExists { path: path.clone() });
        }
    }
    let (password, origin) = password::new_key_password()?;
    let key = SigningKey::generate().map_err(Error::SigningKeyPassword)?;
    let private_pem = key
        .to_encrypted_pem(&password)
        .map_err(Error::SigningKeyPassword)?;
    let public_pem = key
        .public_key()
        .to_pem()
        .map_err(Error::SigningKeyPassword)?;
    write_new(&private_path, private_pem.expose_secret().as_bytes(), 0o600)?;
    if let Err(error) = write_new(&public_path, public_pem.as_bytes(), 0o644) {
        // A half pair is worse than none: the private key is ours, just made.
        let _ = std::fs::remove_file(&private_path);
        return Err(error);
    }
    let mut text = format!(
        "Private key written to {}\nPublic key written to {}\n",
        private_path.display(),
        public_path.display()
    );
    if password.expose_secret().is_empty() {
        text.push_str(&format!(
            "warning: {PASSWORD_VARIABLE} is empty: the key is encrypted with the empty password\n"
        ));
    }
    if matches!(origin, Origin::Terminal) {
        text.push_str(&format!(
            "Set {PASSWORD_VARIABLE} to this password where plan and apply run.\n"
        ));
    }
    text.push_str(&format!(
        "In releases.toml:\n[signing]\nkey = \"{}\"\npublic_key = \"{}\"\n",
        private_path.display(),
        public_path.display()
    ));
    write_stdout(&text)?;
    Ok(ExitStatus::Success)
}

/// `cosign` + `key` → `cosign.key` (a prefix may itself contain dots).
fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// Creates `path` (refusing if it exists, even if it appeared since the
/// check) with `mode` on Unix, and writes `bytes`.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    let mut options = std::fs::File::options();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let failed = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            Error::KeyFileExists {
                path: path.to_path_buf(),
            }
        } else {
            Error::WriteKey {
                path: path.to_path_buf(),
                source,
            }
        }
    };
    let mut file = options.open(path).map_err(failed)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_follow_the_prefix() {
        assert_eq!(
            with_suffix(Path::new("cosign"), "key"),
            PathBuf::from("cosign.key")
        );
        assert_eq!(
            with_suffix(Path::new("keys/prod.v2"), "pub"),
            PathBuf::from("keys/prod.v2.pub")
        );
    }

    #[test]
    fn never_overwrites_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cosign.key");
        std::fs::write(&path, "precious").unwrap();
        let error = write_new(&path, b"new", 0o600).unwrap_err();
        assert!(matches!(error, Error::KeyFileExists { .. }), "{error}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    }
}
