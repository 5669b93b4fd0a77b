//! Quay's REST API (`{api}/api/v1/…`), an adapter beside the registry seam:
//! where the API is (`policy.quay_api`, else the registry's own host), the
//! `QUAY_API_TOKEN` bearer token, and JSON requests that share the registry
//! host's concurrency limit, retries and request counters.
//!
//! One file per API area, as methods of [`QuayClient`] sending through its
//! request function: `security` (a manifest's scan report), `immutability`
//! (organization and repository immutability policies, and which tags Quay
//! marks immutable), `tags` (a repository's active tags with their digests,
//! which `import` and `immutability` read), `tag_list` (the plan's view of
//! the same list: complete, or none).

mod immutability;
mod security;
mod tag_list;
pub mod tags;

pub use immutability::{ImmutabilityError, organization};
pub use tag_list::ListedTag;

use crate::config::location::Scheme;
use crate::registry::RegistryError;
use crate::registry::distribution::{DistributionClient, HostRequest, host_of};
use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, Url};
use secrecy::{ExposeSecret, SecretString};

/// The environment variable holding the API's OAuth access token.
pub const TOKEN_VARIABLE: &str = "QUAY_API_TOKEN";

/// API answers are small JSON documents; refuse anything larger.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// `QUAY_API_TOKEN` from the environment; an empty value counts as unset.
pub fn token_from_env() -> Option<SecretString> {
    std::env::var(TOKEN_VARIABLE)
        .ok()
        .filter(|token| !token.is_empty())
        .map(SecretString::from)
}

/// Quay's API for one run: the registry hosts' shared HTTP state, the
/// configured API base, and the token sent as `Authorization: Bearer`.
pub struct QuayClient<'a> {
    hosts: &'a DistributionClient,
    /// `policy.quay_api`; `None` means each repository's own registry host.
    api: Option<&'a str>,
    token: Option<&'a SecretString>,
}

/// A repository as Quay's API names it.
#[derive(Clone, Debug)]
pub struct QuayRepository {
    /// The API's base URL, without `/api/v1`.
    pub api: String,
    /// The registry host the repository lives on, to name it in advice.
    pub registry: String,
    /// `namespace/repository`.
    pub name: String,
}

/// A non-transient answer: its status and JSON body (transient failures were
/// retried; the last one is returned once the attempts are spent).
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
    /// How often the request was retried before this answer.
    pub retries: u32,
}

impl<'a> QuayClient<'a> {
    pub fn new(
        hosts: &'a DistributionClient,
        api: Option<&'a str>,
        token: Option<&'a SecretString>,
    ) -> Self {
        QuayClient { hosts, api, token }
    }

    /// Whether requests carry a token (hints say which credential was refused).
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The repository at `path` on `host`, asked at `policy.quay_api` or at
    /// `host` itself (same scheme); `None` when `path` is not Quay's
    /// `namespace/repository`.
    pub fn repository(&self, scheme: Scheme, host: &str, path: &str) -> Option<QuayRepository> {
        if !path.contains('/') {
            return None;
        }
        let api = match self.api {
            Some(api) => api.to_string(),
            None => format!(
                "{}://{host}",
                if scheme == Scheme::Http {
                    "http"
                } else {
                    "https"
                }
            ),
        };
        Some(QuayRepository {
            api,
            registry: host.to_string(),
            name: path.to_string(),
        })
    }

    /// `GET url` for a JSON document about `repository`.
    async fn get_json(
        &self,
        url: &str,
        repository: &str,
        operation: &str,
    ) -> Result<Answer, RegistryError> {
        self.send_json(Method::GET, url, None, repository, operation)
            .await
    }

    /// `method url` with an optional JSON `body`, answered by a JSON document.
    async fn send_json(
        &self,
        method: Method,
        url: &str,
        body: Option<Bytes>,
        repository: &str,
        operation: &str,
    ) -> Result<Answer, RegistryError> {
        let parsed = Url::parse(url).ok();
        let host = parsed.as_ref().map(host_of).unwrap_or_default();
        let failure = |message: String, hint: &str| RegistryError::Transport {
            registry: host.clone(),
            repository: repository.to_string(),
            operation: operation.to_string(),
            message,
            hint: hint.to_string(),
        };
        let Some(url) = parsed.filter(|_| !host.is_empty()) else {
            return Err(failure(
                "cannot build the API URL".into(),
                "Check policy.quay_api and the source registry host in the releases file",
            ));
        };
        let authorization = match self.token {
            Some(token) => Some(bearer(token).ok_or_else(|| {
                failure(
                    "the API token contains characters a header cannot carry".into(),
                    "Check the value of QUAY_API_TOKEN",
                )
            })?),
            None => None,
        };
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        if body.is_some() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let answer = self
            .hosts
            .send_to_host(HostRequest {
                method,
                url,
                headers,
                authorization,
                body,
                body_limit: MAX_ANSWER_BYTES,
                repository,
                operation,
            })
            .await?;
        let body = answer.body.ok_or_else(|| {
            failure(
                format!("the answer is larger than {MAX_ANSWER_BYTES} bytes"),
                "Check that policy.quay_api points at a Quay instance",
            )
        })?;
        Ok(Answer {
            status: answer.status,
            body,
            retries: answer.retries,
        })
    }
}

/// `Bearer <token>`, marked sensitive so that no debug output can show it;
/// `None` when the token holds characters a header cannot carry.
fn bearer(token: &SecretString) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret())).ok()?;
    value.set_sensitive(true);
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::distribution::ClientOptions;

    #[test]
    fn the_api_is_the_configured_base_or_the_registry_host() {
        let hosts = DistributionClient::new(ClientOptions::default());
        let own = QuayClient::new(&hosts, None, None);
        let local = own
            .repository(Scheme::Http, "127.0.0.1:5000", "dev/gateway")
            .expect("a namespaced path");
        assert_eq!(local.api, "http://127.0.0.1:5000");
        assert_eq!(local.registry, "127.0.0.1:5000");
        assert_eq!(local.name, "dev/gateway");
        let remote = own.repository(Scheme::Https, "quay.io", "dev/gateway");
        assert_eq!(remote.expect("namespaced").api, "https://quay.io");
        assert!(
            own.repository(Scheme::Https, "quay.io", "gateway")
                .is_none()
        );

        let configured = QuayClient::new(&hosts, Some("https://quay.example.com"), None);
        let repository = configured.repository(Scheme::Http, "127.0.0.1:5000", "dev/gateway");
        assert_eq!(
            repository.expect("namespaced").api,
            "https://quay.example.com"
        );
    }

    #[test]
    fn the_bearer_header_is_sensitive() {
        let header = bearer(&SecretString::from("t0ken")).expect("a valid header");
        assert!(header.is_sensitive());
        assert!(bearer(&SecretString::from("line\nbreak")).is_none());
    }
}
