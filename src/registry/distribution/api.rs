//! Requests to a registry host beside the distribution API (a registry's own
//! REST API, such as Quay's `/api/v1`), sent through the same per-host
//! concurrency limit, retry loop (backoff, `Retry-After`) and request
//! counters as the registry requests themselves, so they cost and count alike.
//! What the URL, headers and answers mean belongs to the caller's adapter.

use super::DistributionClient;
use super::errors::{self, Context};
use super::transport::{Call, read_capped};
use crate::config::location::Scheme;
use crate::registry::RegistryError;
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, Url};

/// One request beside the distribution API.
pub struct HostRequest<'a> {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    /// Sent as `Authorization`; mark it sensitive so that no debug output
    /// can show it.
    pub authorization: Option<HeaderValue>,
    /// The request body (a JSON document for Quay's API), if any.
    pub body: Option<Bytes>,
    /// A longer body is not read: the answer's `body` is `None`.
    pub body_limit: usize,
    /// Named in errors beside the host.
    pub repository: &'a str,
    pub operation: &'a str,
}

/// A non-transient answer (transient failures were retried; the last one is
/// returned once the attempts are spent).
#[derive(Clone, Debug)]
pub struct HostAnswer {
    pub status: u16,
    /// `None` when the body is longer than the request's `body_limit`.
    pub body: Option<Bytes>,
    /// How often the request was retried before this answer.
    pub retries: u32,
}

impl DistributionClient {
    /// Sends `request` on the state of the host its URL names (`http` or
    /// `https`, `host[:port]`), the one that host's repositories share.
    pub async fn send_to_host(
        &self,
        request: HostRequest<'_>,
    ) -> Result<HostAnswer, RegistryError> {
        let host = host_of(&request.url);
        let context = Context {
            registry: &host,
            repository: request.repository,
            operation: request.operation,
        };
        let scheme = match request.url.scheme() {
            "http" => Scheme::Http,
            _ => Scheme::Https,
        };
        let answer = self
            .registry(scheme, &host)
            .send(Call::fixed(
                request.method,
                request.url,
                request.headers,
                request.body,
                request.authorization,
                context.clone(),
            ))
            .await?;
        let status = answer.response.status().as_u16();
        let retries = answer.retries;
        let body = read_capped(answer.response, request.body_limit)
            .await
            .map_err(|error| errors::broken_body(&context, "the API answer", error))?;
        Ok(HostAnswer {
            status,
            body,
            retries,
        })
    }
}

/// `host[:port]`, as the registry map keys it; empty for a URL without a host.
pub fn host_of(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        (None, _) => String::new(),
    }
}
