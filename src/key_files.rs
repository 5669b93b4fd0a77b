//! What `validate` checks of the key files `[signing]` names, so that a file
//! it accepts does not stop `plan` or `apply` for its keys: `public_key`
//! exists and is a cosign public key (plan cannot start without it), `key`
//! (a path, or a variable that is set) is a cosign private key, and the two
//! are one pair. Keys are read with the signing module's own loaders, so
//! validate accepts exactly what plan and apply accept.
//!
//! A private key in a variable that is not set is not a problem here: the
//! pull-request jobs that validate hold no signing secret. An encrypted key
//! without `COSIGN_PASSWORD` is checked as far as its envelope (the cosign
//! JSON: KDF, cipher, salt, nonce), and its pair is not compared.

use crate::config::Diagnostic;
use crate::config::model::{KeySource, SigningConfig, SourceLocation};
use crate::plan::Code;
use crate::signing::{KeyError, PublicKey, SigningKey};
use std::path::Path;

/// The problems with the keys `signing` names, each at its setting.
pub fn check(signing: &SigningConfig) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    let public = signing.public_key.as_deref().and_then(|path| {
        let at = signing
            .public_key_location
            .clone()
            .unwrap_or_else(|| signing.location.clone());
        PublicKey::load(path)
            .map_err(|error| problems.push(public_key_problem(path, &error, at)))
            .ok()
    });
    let at = signing
        .key_location
        .clone()
        .unwrap_or_else(|| signing.location.clone());
    let private = signing
        .key
        .as_ref()
        .and_then(|source| match SigningKey::load(source) {
            Ok(key) => Some(key.public_key()),
            Err(KeyError::MissingVariable { name }) => {
                tracing::info!(
                    "signing.key: {name} is not set here; the private key and its pair with public_key are not checked"
                );
                None
            }
            Err(KeyError::PasswordUnset { origin }) => {
                tracing::info!(
                    "{origin}: a cosign encrypted key; COSIGN_PASSWORD is not set, so it is not opened and its pair with public_key is not checked"
                );
                None
            }
            Err(error) => {
                problems.push(private_key_problem(source, &error, at.clone()));
                None
            }
        });
    if let (Some(private), Some(public), Some(path)) = (private, public, &signing.public_key)
        && private != public
    {
        problems.push(not_a_pair(&private, &public, path, at));
    }
    problems
}

fn public_key_problem(path: &Path, error: &KeyError, at: SourceLocation) -> Diagnostic {
    let shown = path.display();
    match error {
        KeyError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            Diagnostic::new(
                Code::KeyMissing.name(),
                format!("`signing.public_key` names {shown}, which does not exist"),
                at,
                "no such file",
            )
            .with_help(format!(
                "plan checks signatures with this key and cannot start without it: write the path of your cosign public key, or run {} to make a key pair (commit only the .pub; keep the .key and its password in CI secrets)",
                generate_command(path, "pub")
            ))
        }
        KeyError::Read { source, .. } => Diagnostic::new(
            Code::KeyMissing.name(),
            format!("`signing.public_key` names {shown}, which cannot be read: {source}"),
            at,
            "unreadable",
        )
        .with_help("check the path and its permissions; plan cannot start without this key"),
        error => Diagnostic::new(
            Code::KeyInvalid.name(),
            format!("`signing.public_key` names {shown}, which is not a cosign public key"),
            at,
            "not a usable public key",
        )
        .with_help(format!(
            "{error}. Write the path of the `cosign.pub` that `quayside generate-key-pair` (or `cosign generate-key-pair`) wrote"
        )),
    }
}

fn private_key_problem(key: &KeySource, error: &KeyError, at: SourceLocation) -> Diagnostic {
    match (key, error) {
        (KeySource::Path(path), KeyError::Read { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Diagnostic::new(
                Code::KeyMissing.name(),
                format!("`signing.key` names {}, which does not exist", path.display()),
                at,
                "no such file",
            )
            .with_help(format!(
                "apply signs with this key: write the path of your cosign private key, or run {} to make a key pair; where the key is a CI secret, write key = \"env:COSIGN_PRIVATE_KEY\" instead",
                generate_command(path, "key")
            ))
        }
        (_, KeyError::Read { source, .. }) => Diagnostic::new(
            Code::KeyMissing.name(),
            format!("`signing.key` names {}, which cannot be read: {source}", named(key)),
            at,
            "unreadable",
        )
        .with_help("check the path and its permissions; apply cannot sign without this key"),
        (key, error) => Diagnostic::new(
            Code::KeyInvalid.name(),
            format!("`signing.key` names {}, which is not a usable cosign private key", named(key)),
            at,
            "not a usable private key",
        )
        .with_help(match error {
            // The key may be fine: what to do is in the error.
            KeyError::WrongPassword { .. } | KeyError::PasswordNotUnicode => error.to_string(),
            _ => format!("{error}. `quayside generate-key-pair` writes a key pair in cosign's format"),
        }),
    }
}

fn not_a_pair(
    private: &PublicKey,
    public: &PublicKey,
    public_path: &Path,
    at: SourceLocation,
) -> Diagnostic {
    Diagnostic::new(
        Code::KeyMismatch.name(),
        format!(
            "`signing.key` and `signing.public_key` ({}) are not one key pair",
            public_path.display()
        ),
        at,
        "not the private half of public_key",
    )
    .with_help(format!(
        "signatures apply makes with this key ({}) would not verify with public_key ({}): name the public key written beside this private key, or the private half of {}",
        private.fingerprint(),
        public.fingerprint(),
        public_path.display()
    ))
}

/// How a key source reads in a message.
fn named(source: &KeySource) -> String {
    match source {
        KeySource::Path(path) => path.display().to_string(),
        KeySource::Env(name) => format!("environment variable {name}"),
    }
}

/// The command that writes the missing file (`generate-key-pair` writes
/// `PREFIX.key` and `PREFIX.pub`), when its name allows; else the plain
/// command.
fn generate_command(path: &Path, extension: &str) -> String {
    match path
        .to_str()
        .and_then(|p| p.strip_suffix(&format!(".{extension}")))
    {
        Some(prefix) if !prefix.is_empty() && !prefix.contains(char::is_whitespace) => {
            format!("`quayside generate-key-pair --output-key-prefix {prefix}`")
        }
        _ => "`quayside generate-key-pair`".to_string(),
    }
}
