//! Turning HTTP answers and transport failures into `RegistryError`s that say
//! where it happened and what to do, without ever quoting a secret; and the
//! backend's own failures ([`DistributionFailure`]).

use crate::digest::Digest;
use crate::registry::RegistryError;
use serde::Deserialize;

/// What the distribution backend itself finds wrong: answers outside the
/// API, limits it keeps, credentials it cannot look up, a layout location it
/// was given by mistake. Each reads after `repository: `.
#[derive(Debug, thiserror::Error)]
pub enum DistributionFailure {
    #[error("an `oci:` layout cannot be reached over the distribution API")]
    NotRemote,
    /// The credential lookup failed (a credential helper, a config file).
    #[error("{registry}: {message}")]
    Credentials { registry: String, message: String },
    #[error(
        "blob {digest} was announced as {announced} bytes but {arrived} arrived; nothing was uploaded"
    )]
    BlobSizeMismatch {
        digest: Digest,
        announced: u64,
        arrived: usize,
    },
    #[error("a page of the tag list is larger than 16 MiB")]
    TagPageTooLarge,
    #[error("the tag list is not the expected JSON: {0}")]
    TagListNotJson(serde_json::Error),
    #[error("the tag list's Link header is not a URL: {reason}")]
    TagLinkNotUrl { reason: String },
    #[error("the tag list did not end after {pages} pages")]
    TagListEndless { pages: usize },
    #[error(
        "the referrers of {digest} did not end after {pages} pages; delete referrers of that image it no longer needs (old signatures, attestations), or ask the registry's operator why its Link headers never end"
    )]
    ReferrersEndless { digest: Digest, pages: usize },
    #[error(
        "page {page} of the referrers of {digest} {reason}; the registry's answer cannot be read: ask its operator"
    )]
    ReferrersPage {
        digest: Digest,
        page: usize,
        reason: String,
    },
    #[error("manifest {reference} is larger than {limit} bytes; refusing it")]
    ManifestTooLarge { reference: String, limit: usize },
    #[error("manifest {digest} has an unusable media type")]
    UnusableMediaType { digest: Digest },
}

/// What an error needs to name its place.
#[derive(Clone, Debug)]
pub(crate) struct Context<'a> {
    pub registry: &'a str,
    pub repository: &'a str,
    pub operation: &'a str,
}

/// The OCI error body: `{"errors":[{"code":"…","message":"…"}]}`.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// What an OCI error body says, read once: every code, for the decisions
/// made about the failure (`TAG_IMMUTABLE`, `BLOB_UNKNOWN`), and the first
/// entry as a short line for people. Decisions never read `detail`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OciErrors {
    pub codes: Vec<String>,
    /// `: CODE: message`, on one line; empty when the body has no entry.
    pub detail: String,
}

fn body_errors(body: &[u8]) -> OciErrors {
    let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) else {
        return OciErrors::default();
    };
    let detail = parsed.errors.first().map(detail).unwrap_or_default();
    OciErrors {
        codes: parsed.errors.into_iter().map(|e| e.code).collect(),
        detail,
    }
}

/// `: CODE: message` of one entry, short and on one line.
fn detail(entry: &ErrorEntry) -> String {
    let mut text = match (entry.code.is_empty(), entry.message.is_empty()) {
        (false, false) => format!("{}: {}", entry.code, entry.message),
        (false, true) => entry.code.clone(),
        (true, _) => entry.message.clone(),
    };
    text.retain(|c| !c.is_control());
    if text.chars().count() > 200 {
        text = text.chars().take(200).collect::<String>() + "…";
    }
    if text.is_empty() {
        text
    } else {
        format!(": {text}")
    }
}

/// What to do about a failed status. `credentials` describes which credential
/// source was tried; `retries` how often the request was retried.
pub(crate) fn hint(status: u16, credentials: &str, retries: u32) -> String {
    match status {
        401 => format!(
            "The registry refused {credentials}: run `docker login` (or `podman login`) for this registry, or fix the entry"
        ),
        403 => format!(
            "The registry denied access with {credentials}: check that this account may read (and, for pushes, write) this repository"
        ),
        404 => {
            "The repository, tag or blob does not exist: check the location in the releases file"
                .to_string()
        }
        409 => "The registry refused a conflicting write: check the tag and repository state"
            .to_string(),
        429 => format!(
            "The registry is rate limiting us (retried {retries} times): wait and run again, or lower the concurrency"
        ),
        500..=599 => format!("Registry error, retried {retries} times: try again later"),
        _ => "Unexpected answer from the registry: check the registry address and its status"
            .to_string(),
    }
}

pub(crate) fn http(
    context: &Context<'_>,
    status: u16,
    body: &[u8],
    credentials: &str,
    retries: u32,
) -> RegistryError {
    RegistryError::Http {
        registry: context.registry.to_string(),
        repository: context.repository.to_string(),
        operation: context.operation.to_string(),
        status,
        oci: Box::new(body_errors(body)),
        hint: hint(status, credentials, retries),
    }
}

pub(crate) fn transport(context: &Context<'_>, message: String, hint: &str) -> RegistryError {
    RegistryError::Transport {
        registry: context.registry.to_string(),
        repository: context.repository.to_string(),
        operation: context.operation.to_string(),
        message,
        hint: hint.to_string(),
    }
}

/// A reqwest error and its causes on one line, without the URL (upload URLs
/// carry session state that is noise in a message).
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

pub(crate) fn reqwest_error(
    context: &Context<'_>,
    error: reqwest::Error,
    retries: u32,
) -> RegistryError {
    let hint = if error.is_timeout() {
        format!(
            "The registry did not answer in time (retried {retries} times): check the network or raise the timeout"
        )
    } else if error.is_connect() {
        format!(
            "Cannot connect (retried {retries} times): check the registry address, the network, and http:// versus https://"
        )
    } else {
        "Check the registry address and the network".to_string()
    };
    transport(context, chain(&error.without_url()), &hint)
}

/// A body that failed while being read, after the answer's status arrived.
/// `object` names what was read (`blob sha256:…`, `manifest v1`).
pub(crate) fn broken_body(
    context: &Context<'_>,
    object: &str,
    error: reqwest::Error,
) -> RegistryError {
    RegistryError::BrokenBody {
        registry: context.registry.to_string(),
        repository: context.repository.to_string(),
        operation: context.operation.to_string(),
        object: object.to_string(),
        detail: chain(&error.without_url()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_reads_the_oci_error_body() {
        let body =
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#;
        assert_eq!(
            body_errors(body).detail,
            ": MANIFEST_UNKNOWN: manifest unknown"
        );
        assert_eq!(body_errors(b"<html>").detail, "");
        assert_eq!(
            body_errors(br#"{"errors":[{"code":"TAG_IMMUTABLE"}]}"#).codes,
            ["TAG_IMMUTABLE"]
        );
    }

    #[test]
    fn every_status_gets_an_actionable_hint() {
        assert!(hint(401, "credentials from /x (auths)", 0).contains("credentials from /x"));
        assert!(hint(429, "", 4).contains("retried 4 times"));
        assert!(hint(503, "", 4).contains("Registry error, retried 4 times"));
        assert!(hint(404, "", 0).contains("does not exist"));
    }

    #[test]
    fn http_error_names_its_place() {
        let context = Context {
            registry: "127.0.0.1:5000",
            repository: "prod/gateway",
            operation: "list tags",
        };
        let message = http(&context, 404, b"", "", 0).to_string();
        assert!(message.starts_with("127.0.0.1:5000: list tags on prod/gateway failed: HTTP 404."));
    }

    #[test]
    fn http_errors_keep_every_oci_code_as_data() {
        let context = Context {
            registry: "127.0.0.1:5000",
            repository: "prod/gateway",
            operation: "put manifest",
        };
        let body = br#"{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown"},{"code":"TAG_IMMUTABLE"}]}"#;
        let error = http(&context, 409, body, "", 0);
        assert!(error.has_code("MANIFEST_BLOB_UNKNOWN") && error.has_code("TAG_IMMUTABLE"));
        assert!(!error.has_code("BLOB_UNKNOWN"));
        let words = http(&context, 409, b"TAG_IMMUTABLE, said in prose", "", 0);
        assert!(!words.has_code("TAG_IMMUTABLE"));
    }

    /// A server on 127.0.0.1 that announces 100 bytes, sends 10 and closes:
    /// the body reqwest reads is cut short, as a dropping proxy would.
    fn truncating_server() -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let address = listener.local_addr().expect("local address");
        let server = std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n0123456789",
                );
            }
        });
        (address, server)
    }

    #[tokio::test]
    async fn a_body_cut_short_names_its_place_and_says_to_run_again() {
        let (address, server) = truncating_server();
        // Credentials in the URL must never reach the message.
        let url = format!("http://user:hunter2@{address}/v2/dev/x/blobs/sha256:abc?token=s3cret");
        crate::registry::distribution::install_tls_provider();
        let response = reqwest::Client::new()
            .get(&url)
            .send()
            .await
            .expect("the status line arrives");
        let error = response.bytes().await.expect_err("the body is cut short");
        server.join().expect("the server thread ends");
        let registry = address.to_string();
        let context = Context {
            registry: &registry,
            repository: "dev/x",
            operation: "get blob",
        };
        let error = broken_body(&context, "blob sha256:abc", error);
        assert!(matches!(error, RegistryError::BrokenBody { .. }));
        let message = error.to_string();
        assert!(
            message.starts_with(&format!(
                "{address}: get blob on dev/x failed while reading blob sha256:abc: "
            )),
            "{message}"
        );
        assert!(
            message.ends_with(
                "The registry cut the answer short (or the connection broke while reading it); run the command again — nothing was written from it"
            ),
            "{message}"
        );
        for secret in ["hunter2", "s3cret", "http://", "Check the registry address"] {
            assert!(!message.contains(secret), "{secret} in {message}");
        }
    }
}
