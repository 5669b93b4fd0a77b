//! One registry host: its HTTP client, concurrency limit, authentication
//! state, and the request loop that retries transient failures, answers
//! authentication challenges once and sends the token requests `auth` asks for.

use super::auth::{self, AuthState, Authorize};
use super::errors::{self, Context};
use super::pacing::{Pacing, RequestClass};
use super::retry::{RetryPolicy, is_retryable_status};
use super::{ClientOptions, Counters};
use crate::config::location::Scheme;
use crate::registry::RegistryError;
use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, Response, Url};
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// A request body: replayable bytes, or a stream that can be sent only once
/// (such a request is never retried).
pub(crate) enum RequestBody {
    Empty,
    Bytes(Bytes),
    Once(Option<reqwest::Body>),
}

/// How a request is authorised.
pub(crate) enum Authorization {
    /// As the registry asks, for these token scopes.
    Registry(Vec<String>),
    /// A fixed header (or none), e.g. for the token realm itself.
    Fixed(Option<HeaderValue>),
}

pub(crate) struct Call<'a> {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: RequestBody,
    pub authorization: Authorization,
    pub context: Context<'a>,
    /// The response body is streamed (a blob): no whole-request timeout, the
    /// client's idle read timeout still applies.
    pub streamed_response: bool,
    /// A bearer token request (paced as its own class, see `pacing`).
    pub token: bool,
}

impl<'a> Call<'a> {
    /// A small request with its own fixed `Authorization` (a token request,
    /// a Quay API call): no registry challenge, the answer read whole.
    pub(crate) fn fixed(
        method: Method,
        url: Url,
        headers: HeaderMap,
        body: Option<Bytes>,
        authorization: Option<HeaderValue>,
        context: Context<'a>,
    ) -> Self {
        Call {
            method,
            url,
            headers,
            body: body.map_or(RequestBody::Empty, RequestBody::Bytes),
            authorization: Authorization::Fixed(authorization),
            context,
            streamed_response: false,
            token: false,
        }
    }
}

/// A response that is not a transient failure, with the number of retries it
/// took and the concurrency permit, held until the body has been read.
pub(crate) struct Answer {
    pub response: Response,
    pub retries: u32,
    pub permit: OwnedSemaphorePermit,
}

pub(crate) struct Registry {
    pub scheme: Scheme,
    pub host: String,
    http: Result<reqwest::Client, String>,
    pub options: Arc<ClientOptions>,
    pub counters: Arc<Counters>,
    permits: Arc<Semaphore>,
    pub auth: AuthState,
    policy: RetryPolicy,
    /// Whether the registry may complete an upload in its `POST` (monolithic
    /// upload); cleared when it answers one with an upload session instead.
    pub single_post_upload: std::sync::atomic::AtomicBool,
    /// The request rates learnt per class (`None`: pacing switched off).
    pacing: Option<std::sync::Mutex<Pacing>>,
    /// Signalled whenever a paced request is over, for those waiting for a
    /// class's window.
    slot_freed: Notify,
}

/// A paced request in flight; dropping it (answered, failed, cancelled)
/// frees its place in the class's window.
struct Flight<'a> {
    pacing: &'a std::sync::Mutex<Pacing>,
    freed: &'a Notify,
    class: RequestClass,
    /// The slot the pacing gave the request.
    start: Instant,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        lock(self.pacing).release(self.class);
        self.freed.notify_waiters();
    }
}

impl Registry {
    pub fn new(
        scheme: Scheme,
        host: String,
        http: Result<reqwest::Client, String>,
        options: Arc<ClientOptions>,
        counters: Arc<Counters>,
    ) -> Self {
        let policy = RetryPolicy {
            max_attempts: options.max_attempts.max(1),
            initial_backoff: options.initial_backoff,
            max_backoff: options.max_backoff,
            max_retry_after: options.max_retry_after,
        };
        let pacing = options.pacing.then(Default::default);
        Registry {
            scheme,
            permits: Arc::new(Semaphore::new(options.max_concurrency_per_host.max(1))),
            auth: AuthState::new(options.credentials.clone()),
            host,
            http,
            options,
            counters,
            policy,
            single_post_upload: std::sync::atomic::AtomicBool::new(true),
            pacing,
            slot_freed: Notify::new(),
        }
    }

    /// `http(s)://host/v2/<path>`.
    pub fn url(&self, path: &str, context: &Context<'_>) -> Result<Url, RegistryError> {
        let scheme = match self.scheme {
            Scheme::Https => "https",
            Scheme::Http => "http",
        };
        Url::parse(&format!("{scheme}://{}/v2/{path}", self.host)).map_err(|error| {
            errors::transport(
                context,
                format!("cannot build a URL: {error}"),
                "Check the registry host in the releases file",
            )
        })
    }

    /// Sends a request, retrying transient failures with backoff and answering
    /// one authentication challenge. Any other answer is returned to the
    /// caller, who decides what its status means.
    pub async fn send(&self, call: Call<'_>) -> Result<Answer, RegistryError> {
        let client = self.http.as_ref().map_err(|message| {
            errors::transport(
                &call.context,
                format!("cannot set up the HTTP client: {message}"),
                "Check the TLS configuration of this machine",
            )
        })?;
        let Call {
            method,
            url,
            headers,
            mut body,
            authorization,
            context,
            streamed_response,
            token,
        } = call;
        let class = RequestClass::of(url.path(), token);
        let mut attempt = 0;
        let mut answered_challenge = false;
        loop {
            attempt += 1;
            let retries = attempt - 1;
            // Before the registry's first answer, requests wait for one
            // probe to learn its challenge instead of each meeting a 401.
            let mut probe = match &authorization {
                Authorization::Registry(_) => self.auth.probe().await,
                Authorization::Fixed(_) => None,
            };
            let header = match &authorization {
                Authorization::Registry(scopes) => self.authorization(scopes, &context).await?,
                Authorization::Fixed(header) => header.clone(),
            };
            let flight = self.wait_for_slot(class).await;
            let permit = self.permits.clone().acquire_owned().await.map_err(|_| {
                errors::transport(&context, "the client is shutting down".into(), "Run again")
            })?;
            let (request_body, replayable) = match &mut body {
                RequestBody::Empty => (None, true),
                RequestBody::Bytes(bytes) => (Some(reqwest::Body::from(bytes.clone())), true),
                RequestBody::Once(stream) => (stream.take(), false),
            };
            let mut builder = client
                .request(method.clone(), url.clone())
                .headers(headers.clone());
            if let Some(header) = &header {
                builder = builder.header(AUTHORIZATION, header.clone());
            }
            if let Some(request_body) = request_body {
                builder = builder.body(request_body);
            }
            if !streamed_response {
                builder = builder.timeout(self.options.request_timeout);
            }
            self.counters.count(&method);
            let response = match builder.send().await {
                Ok(response) => response,
                Err(error) => {
                    drop(flight);
                    // A connection closed before the answer (a reset, a
                    // proxy or load balancer dropping it, a keep-alive
                    // connection the server closed as we reused it) is
                    // transient too, for requests that cannot do the work
                    // twice. Found by `tests/all/plan_faults.rs` (resets) and
                    // on Quay (`tests/all/quay_crash.rs`).
                    let transient = error.is_connect()
                        || error.is_timeout()
                        || (error.is_request() && safe_to_send_again(&method, &url));
                    tracing::debug!(%method, path = url.path(), attempt, transient, "request failed");
                    if transient && replayable && attempt < self.policy.max_attempts {
                        drop(probe);
                        drop(permit);
                        tokio::time::sleep(self.policy.backoff(attempt)).await;
                        continue;
                    }
                    return Err(errors::reqwest_error(&context, error, retries));
                }
            };
            let status = response.status().as_u16();
            tracing::debug!(%method, path = url.path(), status, attempt, "registry answered");
            let retry_after = is_retryable_status(status)
                .then(|| response.headers().get(RETRY_AFTER))
                .flatten()
                .and_then(|value| value.to_str().ok())
                .and_then(|value| self.policy.retry_after(value, SystemTime::now()));
            self.paced_answer(
                class,
                status,
                response.headers(),
                retry_after,
                flight.as_ref(),
            );
            drop(flight);
            let mut retry_with_challenge = false;
            if status == 401
                && replayable
                && !answered_challenge
                && let Authorization::Registry(scopes) = &authorization
            {
                let challenge = response
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|value| value.to_str().ok())
                    .and_then(super::challenge::parse);
                if let Some(challenge) = challenge {
                    answered_challenge = true;
                    retry_with_challenge = self
                        .auth
                        .on_challenge(challenge, context.repository, scopes, header.as_ref())
                        .await?;
                }
            }
            // A 429 or 5xx says nothing about authentication: the next
            // waiting request probes while this one backs off.
            if !is_retryable_status(status)
                && let Some(probe) = probe.take()
            {
                probe.answered();
            }
            if retry_with_challenge {
                drop(permit);
                attempt -= 1;
                continue;
            }
            if is_retryable_status(status) && replayable && attempt < self.policy.max_attempts {
                drop(probe);
                drop(response);
                drop(permit);
                tokio::time::sleep(retry_after.unwrap_or_else(|| self.policy.backoff(attempt)))
                    .await;
                continue;
            }
            return Ok(Answer {
                response,
                retries,
                permit,
            });
        }
    }

    /// Waits until a request of `class` may start by the rates and window
    /// learnt so far (a 429 that arrives meanwhile may pause the class: then
    /// look again); the request counts in flight until the guard is dropped.
    async fn wait_for_slot(&self, class: RequestClass) -> Option<Flight<'_>> {
        let pacing = self.pacing.as_ref()?;
        loop {
            // Registered before looking, so that a release in between wakes us.
            let freed = self.slot_freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let now = Instant::now();
            let Some(start) = lock(pacing).reserve(class, now) else {
                freed.await;
                continue;
            };
            let flight = Flight {
                pacing,
                freed: &self.slot_freed,
                class,
                start,
            };
            if start > now {
                tokio::time::sleep_until(start.into()).await;
                if lock(pacing).is_paused(class, Instant::now()) {
                    continue;
                }
            }
            return Some(flight);
        }
    }

    /// Tells the pacing what the registry answered a request of `class`.
    fn paced_answer(
        &self,
        class: RequestClass,
        status: u16,
        headers: &HeaderMap,
        retry_after: Option<std::time::Duration>,
        flight: Option<&Flight<'_>>,
    ) {
        let (Some(pacing), Some(flight)) = (&self.pacing, flight) else {
            return;
        };
        let mut pacing = lock(pacing);
        if status == 429 {
            pacing.on_throttled(class, headers, retry_after, flight.start, Instant::now());
            tracing::debug!(
                host = %self.host,
                class = class.name(),
                rate = pacing.rate(class),
                ?retry_after,
                "throttled: pacing the class"
            );
        } else {
            pacing.on_answer(class, headers, Instant::now());
        }
    }

    /// The `Authorization` header for a request needing `scopes`, fetching a
    /// bearer token first if the registry uses them and none is cached.
    ///
    /// Boxed: `send` calls this, and this calls `send` for a token, so one
    /// function of the cycle must have a nameable future type.
    fn authorization<'a>(
        &'a self,
        scopes: &'a [String],
        context: &'a Context<'a>,
    ) -> BoxFuture<'a, Result<Option<HeaderValue>, RegistryError>> {
        Box::pin(async move {
            let (request, pending) =
                match self.auth.authorization(&self.host, scopes, context).await? {
                    Authorize::Header(header) => return Ok(header),
                    Authorize::Token { request, pending } => (request, pending),
                };
            let token_context = auth::token_context(context);
            self.counters.count_token();
            let call = Call {
                token: true,
                ..Call::fixed(
                    request.method,
                    request.url,
                    request.headers,
                    request.body,
                    request.authorization,
                    token_context.clone(),
                )
            };
            let answer = self.send(call).await?;
            if !answer.response.status().is_success() {
                return Err(self.failure(&token_context, answer).await);
            }
            let body = read_capped(answer.response, auth::MAX_TOKEN_ANSWER)
                .await
                .map_err(|error| errors::reqwest_error(&token_context, error, answer.retries))?;
            pending.finish(body.as_deref(), &token_context).map(Some)
        })
    }

    /// The error for an answer the caller did not expect, with the OCI error
    /// detail from its body.
    pub async fn failure(&self, context: &Context<'_>, answer: Answer) -> RegistryError {
        let status = answer.response.status().as_u16();
        let body = read_limited(answer.response, 64 * 1024)
            .await
            .unwrap_or_default();
        let credentials = self.auth.describe_for(context.repository);
        errors::http(context, status, &body, &credentials, answer.retries)
    }
}

/// A poisoned lock only means another thread panicked while holding it; the
/// pacing state is still usable.
fn lock(pacing: &std::sync::Mutex<Pacing>) -> std::sync::MutexGuard<'_, Pacing> {
    pacing
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Requests that may be sent again after a lost answer: the idempotent
/// methods (RFC 9110 9.2.2), and a POST to `/blobs/uploads/`, which either
/// stores or mounts a blob named by its digest (`?digest=`, `?mount=`: sent
/// twice, the same bytes are there once) or opens an upload session (sent
/// twice, one session is left unused and the registry expires it). A PATCH
/// appends to a session and may not be repeated.
fn safe_to_send_again(method: &Method, url: &Url) -> bool {
    match *method {
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS => true,
        Method::POST => url.path().ends_with("/blobs/uploads/"),
        _ => false,
    }
}

/// Reads at most `limit` bytes of a body; `Ok(None)` when it is longer.
pub(crate) async fn read_capped(
    response: Response,
    limit: usize,
) -> Result<Option<Bytes>, reqwest::Error> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Ok(None);
    }
    let mut stream = response.bytes_stream();
    let mut buffer = Vec::new();
    while let Some(chunk) = stream.next().await {
        buffer.extend_from_slice(&chunk?);
        if buffer.len() > limit {
            return Ok(None);
        }
    }
    Ok(Some(Bytes::from(buffer)))
}

/// The first `limit` bytes of a body, for error details.
async fn read_limited(response: Response, limit: usize) -> Option<Bytes> {
    let mut stream = response.bytes_stream();
    let mut buffer = Vec::new();
    while let Some(Ok(chunk)) = stream.next().await {
        buffer.extend_from_slice(&chunk);
        if buffer.len() >= limit {
            buffer.truncate(limit);
            break;
        }
    }
    Some(Bytes::from(buffer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(path: &str) -> Url {
        Url::parse(&format!("http://127.0.0.1:5000{path}")).unwrap()
    }

    /// Quay's gunicorn closes keep-alive connections after 2 s idle; a mount
    /// or upload POST sent on one as it closes is answered by a reset, and
    /// failed the release (issue 12).
    #[test]
    fn regression_blob_upload_posts_are_sent_again_after_a_lost_answer() {
        let uploads = url("/v2/prod/gateway/blobs/uploads/");
        assert!(safe_to_send_again(&Method::POST, &uploads));
        let mut mount = uploads.clone();
        mount.set_query(Some("mount=sha256:abc&from=dev/gateway"));
        assert!(safe_to_send_again(&Method::POST, &mount));
        for method in [Method::GET, Method::HEAD, Method::PUT, Method::DELETE] {
            assert!(safe_to_send_again(&method, &url("/v2/x/manifests/v1")));
        }
        assert!(!safe_to_send_again(
            &Method::PATCH,
            &url("/v2/x/blobs/uploads/0f3a")
        ));
        assert!(!safe_to_send_again(
            &Method::POST,
            &url("/api/v1/organization/")
        ));
    }
}
