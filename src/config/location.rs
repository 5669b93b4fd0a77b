//! Where a repository lives: an OCI layout directory or a registry reached over
//! HTTPS or plain HTTP. Parsed from the forms SPEC section 1 allows.

use crate::config::hidden::{is_hidden, one_line};
use std::fmt;
use std::path::{Path, PathBuf};

/// How a registry is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    Https,
    Http,
}

/// One repository (a service's source or target).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RepositoryLocation {
    /// `oci:<dir>`: one OCI image layout. `dir` is resolved against the folder
    /// of `releases.toml`; `written` is the text as the file gave it.
    Layout { dir: PathBuf, written: String },
    /// `host[:port]/path` (HTTPS) or `http://host:port/path`.
    Remote {
        scheme: Scheme,
        host: String,
        path: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    #[error(
        "`{0}` has no repository path: write `host[:port]/path`, `http://host:port/path` or `oci:dir`"
    )]
    NoPath(String),
    #[error(
        "`{0}` uses an unsupported scheme: write `host[:port]/path` (HTTPS), `http://host:port/path` or `oci:dir`"
    )]
    Scheme(String),
    #[error(
        "`{0}` is not a valid repository path: use lowercase letters, digits and `._-/` separated path components"
    )]
    BadPath(String),
    #[error("`{0}` is empty after `oci:`: write `oci:relative/or/absolute/dir`")]
    EmptyLayout(String),
    /// Holds the text with the control characters escaped, so the message
    /// cannot break lines or forge output.
    #[error(
        "`{0}` contains a control or invisible character: remove it (a location names a directory or a registry repository)"
    )]
    Control(String),
}

impl RepositoryLocation {
    /// Parses a location string. Relative `oci:` paths resolve from `base_dir`.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Self, LocationError> {
        // A NUL or newline in an `oci:` path would reach the file system, the
        // signature's docker-reference and every rendered plan (where a
        // newline can forge lines in a PR comment), and a bidi override can
        // make a path read differently in review: refuse them everywhere.
        if text.chars().any(is_hidden) {
            return Err(LocationError::Control(one_line(text).into_owned()));
        }
        if let Some(rest) = text.strip_prefix("oci:") {
            if rest.is_empty() {
                return Err(LocationError::EmptyLayout(text.to_string()));
            }
            let dir = base_dir.join(rest);
            return Ok(RepositoryLocation::Layout {
                dir,
                written: text.to_string(),
            });
        }
        let (scheme, rest) = if let Some(rest) = text.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else if let Some(rest) = text.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else if text.contains("://") {
            return Err(LocationError::Scheme(text.to_string()));
        } else {
            (Scheme::Https, text)
        };
        let (host, path) = rest
            .split_once('/')
            .ok_or_else(|| LocationError::NoPath(text.to_string()))?;
        if host.is_empty() || path.is_empty() {
            return Err(LocationError::NoPath(text.to_string()));
        }
        let path = path.trim_end_matches('/');
        if !is_repository_path(path) || !is_host(host) {
            return Err(LocationError::BadPath(text.to_string()));
        }
        Ok(RepositoryLocation::Remote {
            scheme,
            host: host.to_string(),
            path: path.to_string(),
        })
    }

    /// The repository one level below this location: `<self>/<name>`.
    pub fn child(&self, name: &str) -> Self {
        match self {
            RepositoryLocation::Layout { dir, written } => RepositoryLocation::Layout {
                dir: dir.join(name),
                written: format!("{}/{}", written.trim_end_matches('/'), name),
            },
            RepositoryLocation::Remote { scheme, host, path } => RepositoryLocation::Remote {
                scheme: *scheme,
                host: host.clone(),
                path: format!("{path}/{name}"),
            },
        }
    }

    /// The reference users see and JSON carries: `host/path` without scheme,
    /// or the `oci:` location as written.
    pub fn reference(&self) -> String {
        match self {
            RepositoryLocation::Layout { written, .. } => written.clone(),
            RepositoryLocation::Remote { host, path, .. } => format!("{host}/{path}"),
        }
    }

    /// The identity written into a signature's `docker-reference`: the
    /// reference without scheme (for layouts, the written path without `oci:`).
    pub fn signed_identity(&self) -> String {
        match self {
            RepositoryLocation::Layout { written, .. } => {
                written.trim_start_matches("oci:").to_string()
            }
            RepositoryLocation::Remote { host, path, .. } => format!("{host}/{path}"),
        }
    }

    /// Two repositories on the same registry can share blobs by mounting.
    pub fn same_registry(&self, other: &RepositoryLocation) -> bool {
        match (self, other) {
            (
                RepositoryLocation::Remote {
                    scheme: a, host: h, ..
                },
                RepositoryLocation::Remote {
                    scheme: b, host: k, ..
                },
            ) => a == b && h == k,
            _ => false,
        }
    }
}

impl fmt::Display for RepositoryLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reference())
    }
}

fn is_host(host: &str) -> bool {
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// The distribution spec's repository name grammar (lowercase components
/// separated by `/`, with `.`, `_`, `__` or `-` inside a component).
fn is_repository_path(path: &str) -> bool {
    path.split('/').all(|component| {
        !component.is_empty()
            && component.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            })
            && component
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && component
                .bytes()
                .last()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RepositoryLocation, LocationError> {
        RepositoryLocation::parse(text, Path::new("/repo"))
    }

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(
            parse("quay.io/jordigilh")
                .unwrap()
                .child("gateway")
                .reference(),
            "quay.io/jordigilh/gateway"
        );
        let http = parse("http://127.0.0.1:5001/prod").unwrap();
        assert!(matches!(
            http,
            RepositoryLocation::Remote {
                scheme: Scheme::Http,
                ..
            }
        ));
        assert_eq!(
            http.child("gateway").reference(),
            "127.0.0.1:5001/prod/gateway"
        );
        let layout = parse("oci:examples/dev").unwrap().child("gateway");
        assert_eq!(layout.reference(), "oci:examples/dev/gateway");
        assert_eq!(layout.signed_identity(), "examples/dev/gateway");
        match layout {
            RepositoryLocation::Layout { dir, .. } => {
                assert_eq!(dir, Path::new("/repo/examples/dev/gateway"))
            }
            _ => panic!("expected a layout"),
        }
    }

    #[test]
    fn refuses_malformed_locations() {
        assert!(parse("quay.io").is_err());
        assert!(parse("ftp://host/x").is_err());
        assert!(parse("quay.io/Upper").is_err());
        assert!(parse("oci:").is_err());
        assert!(parse("quay.io/a//b").is_err());
        assert_eq!(
            parse("oci:dev\u{0}/../etc"),
            Err(LocationError::Control("oci:dev\\0/../etc".into()))
        );
        assert!(
            matches!(parse("oci:dev\nFAKE"), Err(LocationError::Control(m)) if !m.contains('\n'))
        );
        assert!(parse("quay.io/dev\t").is_err());
        assert!(matches!(
            parse("oci:prod\u{202e}ved"),
            Err(LocationError::Control(_))
        ));
    }

    #[test]
    fn mount_needs_same_registry() {
        let a = parse("http://127.0.0.1:5001/dev/x").unwrap();
        let b = parse("http://127.0.0.1:5001/prod/x").unwrap();
        let c = parse("http://127.0.0.1:5002/prod/x").unwrap();
        assert!(a.same_registry(&b));
        assert!(!a.same_registry(&c));
    }
}
