//! Plain JSON API reads on a registry host (Quay's security API), sent
//! through the same per-host concurrency limit, retry loop (backoff,
//! `Retry-After`) and request counters as the registry requests themselves.

use super::DistributionClient;
use super::errors::{self, Context};
use super::transport::{Authorization, Call, RequestBody, read_capped};
use crate::config::location::Scheme;
use crate::registry::RegistryError;
use bytes::Bytes;
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use reqwest::{Method, Url};
use secrecy::{ExposeSecret, SecretString};

/// API answers are small JSON documents; refuse anything larger.
const MAX_API_BODY: usize = 16 * 1024 * 1024;

/// A non-transient answer: its status and body (transient failures were
/// retried; the last one is returned once the attempts are spent).
#[derive(Clone, Debug)]
pub struct ApiAnswer {
    pub status: u16,
    pub body: Bytes,
    /// How often the request was retried before this answer.
    pub retries: u32,
}

impl DistributionClient {
    /// `GET url` with an optional `Authorization: Bearer` token. The token is
    /// marked sensitive so that no debug output can show it.
    pub async fn api_get(
        &self,
        url: &str,
        bearer: Option<&SecretString>,
        repository: &str,
        operation: &str,
    ) -> Result<ApiAnswer, RegistryError> {
        let parsed = Url::parse(url).ok();
        let host = parsed.as_ref().and_then(host_of).unwrap_or_default();
        let context = Context {
            registry: &host,
            repository,
            operation,
        };
        let Some(url) = parsed.filter(|_| !host.is_empty()) else {
            return Err(errors::transport(
                &context,
                "cannot build the API URL".into(),
                "Check policy.quay_api and the source registry host in the releases file",
            ));
        };
        let scheme = match url.scheme() {
            "http" => Scheme::Http,
            _ => Scheme::Https,
        };
        let header = match bearer {
            Some(token) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
                    .map_err(|_| {
                        errors::transport(
                            &context,
                            "the API token contains characters a header cannot carry".into(),
                            "Check the value of QUAY_API_TOKEN",
                        )
                    })?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let registry = self.registry(scheme, &host);
        let answer = registry
            .send(Call {
                method: Method::GET,
                url,
                headers,
                body: RequestBody::Empty,
                authorization: Authorization::Fixed(header),
                context: context.clone(),
                streamed_response: false,
            })
            .await?;
        let status = answer.response.status().as_u16();
        let retries = answer.retries;
        let body = read_capped(answer.response, MAX_API_BODY)
            .await
            .map_err(|error| errors::broken_body(&context, "the API answer", error))?
            .ok_or_else(|| {
                errors::transport(
                    &context,
                    format!("the answer is larger than {MAX_API_BODY} bytes"),
                    "Check that policy.quay_api points at a Quay instance",
                )
            })?;
        Ok(ApiAnswer {
            status,
            body,
            retries,
        })
    }
}

/// `host[:port]`, as the registry map keys it.
fn host_of(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}
