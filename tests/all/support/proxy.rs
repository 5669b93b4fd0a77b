//! The test proxy: an HTTP/1.1 reverse proxy in front of a real registry. It
//! forwards every request (bodies streamed both ways, the client's `Host`
//! kept so that the registry's upload `Location`s point back at the proxy),
//! counts requests by method, runs a hook once the N-th request has been
//! answered by the registry (the crash tests SIGKILL the `quayside apply`
//! child there, after the registry did the work but before the client heard
//! of it), and injects the faults and lies of [`super::faults`]: made-up
//! 5xx and 429 answers, resets, cut bodies, slow answers, wrong bytes. With
//! [`super::rate_limits`] it enforces per-class rate limits as quay.io does
//! (and then answers `GET /_proxy/counts` and `POST /_proxy/reset` itself,
//! for the benchmark). With [`Proxy::route_token_realm`] it points the
//! registry's bearer challenges at itself, so that token requests (Quay's
//! `/v2/auth`, whose realm names Quay's own host) pass it and are counted.

use super::faults::{Decision, FaultCounts, FaultKind, FaultPlan, Faults, Lie};
use super::rate_limits::{ClassCounts, Limiter, RateLimits};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, BodyStream, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderMap, HeaderName};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// Requests seen by the proxy, by method.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MethodCounts {
    pub get: u64,
    pub head: u64,
    pub post: u64,
    pub put: u64,
    pub patch: u64,
    pub delete: u64,
    pub other: u64,
    pub total: u64,
}

impl MethodCounts {
    /// Requests that can change a registry.
    pub fn writes(&self) -> u64 {
        self.post + self.put + self.patch + self.delete + self.other
    }
}

impl std::fmt::Display for MethodCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} requests (GET {}, HEAD {}, POST {}, PUT {}, PATCH {}, DELETE {}, other {})",
            self.total,
            self.get,
            self.head,
            self.post,
            self.put,
            self.patch,
            self.delete,
            self.other
        )
    }
}

/// Requests seen by the proxy, by kind (`"GET manifest .sig"`, …).
pub type KindCounts = std::collections::BTreeMap<String, u64>;

/// What a distribution API request is about, in a few words: the method, the
/// object (tag list, referrers, manifest, blob, upload, mount) and, for
/// manifests, how it is named (a `sha256-<hex>.sig` tag, the referrers
/// fallback tag `sha256-<hex>`, another tag, a digest). Requests per
/// kind show where an apply's requests go (`apply_requests`); answers 401
/// (an auth challenge) are counted under the kind with ` (401)` appended,
/// injected faults under the kind itself.
pub fn request_kind(method: &str, path_and_query: &str) -> String {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let object = if path.ends_with("/tags/list") {
        "tags/list"
    } else if path.contains("/referrers/") {
        "referrers"
    } else if let Some((_, reference)) = path.rsplit_once("/manifests/") {
        if reference.starts_with("sha256-") && reference.ends_with(".sig") {
            "manifest .sig"
        } else if reference.starts_with("sha256-") {
            // The referrers fallback index (bundles on CNCF distribution).
            "manifest fallback tag"
        } else if reference.starts_with("sha256:") {
            "manifest by digest"
        } else {
            "manifest by tag"
        }
    } else if path.contains("/blobs/uploads") {
        if query.contains("mount=") {
            "blob mount"
        } else if path.ends_with("/blobs/uploads/") || path.ends_with("/blobs/uploads") {
            "blob upload start"
        } else {
            "blob upload session"
        }
    } else if path.contains("/blobs/") {
        "blob"
    } else if path.starts_with("/api/v1/") && path.contains("/tag/") {
        "REST tag list"
    } else if path.starts_with("/v2/auth") {
        "token"
    } else {
        "other"
    };
    format!("{method} {object}")
}

/// One `  kind: n` line per kind, for assertion messages.
pub fn kinds_table(counts: &KindCounts) -> String {
    counts
        .iter()
        .map(|(kind, n)| format!("  {kind}: {n}"))
        .collect::<Vec<_>>()
        .join("\n")
}

type Action = Box<dyn FnOnce() + Send>;

struct Hook {
    after: u64,
    action: Action,
}

struct Shared {
    upstream: String,
    /// `127.0.0.1:<port>` of this proxy.
    own_host: String,
    /// Whether `WWW-Authenticate` realms on the upstream host are rewritten
    /// to this proxy.
    route_realm: std::sync::atomic::AtomicBool,
    client: reqwest::Client,
    sequence: AtomicU64,
    counts: Mutex<MethodCounts>,
    kinds: Mutex<KindCounts>,
    hook: Mutex<Option<Hook>>,
    faults: Mutex<Faults>,
    limiter: Mutex<Option<Limiter>>,
}

pub struct Proxy {
    pub port: u16,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

type ProxyBody = UnsyncBoxBody<Bytes, std::io::Error>;

/// Per-connection headers that a proxy must not forward (RFC 9110 7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

impl Proxy {
    /// Listens on a free 127.0.0.1 port and forwards to `upstream`
    /// (`host:port`, plain HTTP), without faults.
    pub async fn start(upstream: &str) -> Self {
        Self::with_faults(upstream, FaultPlan::none()).await
    }

    /// As [`Proxy::start`], injecting the faults of `plan`.
    pub async fn with_faults(upstream: &str, plan: FaultPlan) -> Self {
        Self::serve(upstream, plan, None, 0).await
    }

    /// As [`Proxy::start`], enforcing `limits`.
    pub async fn rate_limited(upstream: &str, limits: RateLimits) -> Self {
        Self::serve(upstream, FaultPlan::none(), Some(limits), 0).await
    }

    /// Listens on 127.0.0.1:`port` (0: a free port).
    pub async fn serve(
        upstream: &str,
        plan: FaultPlan,
        limits: Option<RateLimits>,
        port: u16,
    ) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("local address").port();
        quayside::registry::distribution::install_tls_provider();
        // Upstream connections idle for a second are not reused: Quay's
        // gunicorn closes keep-alive connections after 2 s idle, and a
        // request sent on one it closed fails here (502), so the client's
        // retry made one request count twice (a plan right after an apply,
        // under load: `quay_plan_requests`).
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .pool_idle_timeout(std::time::Duration::from_secs(1))
            .build()
            .expect("an HTTP client");
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            own_host: format!("127.0.0.1:{port}"),
            route_realm: std::sync::atomic::AtomicBool::new(false),
            client,
            sequence: AtomicU64::new(0),
            counts: Mutex::new(MethodCounts::default()),
            kinds: Mutex::new(KindCounts::new()),
            hook: Mutex::new(None),
            faults: Mutex::new(Faults::new(plan)),
            limiter: Mutex::new(limits.map(Limiter::new)),
        });
        let accepting = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                let shared = accepting.clone();
                let client = peer.ip();
                tokio::spawn(async move {
                    // An `Err` from the service makes hyper drop the
                    // connection without an answer: the `Reset` fault.
                    let service = hyper::service::service_fn(move |request| {
                        let shared = shared.clone();
                        async move { handle(&shared, request, client).await }
                    });
                    // A client killed mid-request ends its connection with
                    // an error; that is the point of the crash tests.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Proxy { port, shared, task }
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn counts(&self) -> MethodCounts {
        lock(&self.shared.counts).clone()
    }

    /// From now on, bearer challenges whose realm is on the upstream host
    /// name this proxy instead: token requests come through it (as the
    /// kind `GET token`).
    pub fn route_token_realm(&self) {
        self.shared.route_realm.store(true, Ordering::SeqCst);
    }

    /// Requests seen, by kind (see [`request_kind`]).
    pub fn kinds(&self) -> KindCounts {
        lock(&self.shared.kinds).clone()
    }

    /// Zeroes the counts and the request sequence the hook is numbered by.
    pub fn reset(&self) {
        *lock(&self.shared.counts) = MethodCounts::default();
        *lock(&self.shared.kinds) = KindCounts::new();
        self.shared.sequence.store(0, Ordering::SeqCst);
    }

    /// Runs `action` once, right after the registry has answered request
    /// number `after` (counting from 1 since the last `reset`), before the
    /// answer is passed on.
    pub fn arm(&self, after: u64, action: impl FnOnce() + Send + 'static) {
        *lock(&self.shared.hook) = Some(Hook {
            after,
            action: Box::new(action),
        });
    }

    /// Replaces the fault plan from now on (attempt counts are kept).
    pub fn set_faults(&self, plan: FaultPlan) {
        lock(&self.shared.faults).plan = plan;
    }

    /// Tells `lie` about every GET of `digest` (manifest or blob) from now on.
    pub fn lie_about(&self, digest: &str, lie: Lie) {
        lock(&self.shared.faults)
            .lies
            .push((digest.to_string(), lie));
    }

    /// Requests and 429s per rate-limited class (empty without limits).
    pub fn class_counts(&self) -> BTreeMap<&'static str, ClassCounts> {
        lock(&self.shared.limiter)
            .as_ref()
            .map(Limiter::counts)
            .unwrap_or_default()
    }

    /// The limits enforced, if any.
    pub fn rate_limits(&self) -> Option<RateLimits> {
        lock(&self.shared.limiter)
            .as_ref()
            .map(|limiter| limiter.limits.clone())
    }

    /// Zeroes the class counts and fills the buckets again.
    pub fn reset_rate_limits(&self) {
        if let Some(limiter) = lock(&self.shared.limiter).as_mut() {
            limiter.reset();
        }
    }

    /// Faults and lies injected so far.
    pub fn fault_counts(&self) -> FaultCounts {
        lock(&self.shared.faults).counts.clone()
    }

    /// Drops a hook that has not fired; true if there was one.
    /// Runs `command` (stdout and stderr discarded) and SIGKILLs it once the
    /// upstream has answered the `kill_after`-th request through this proxy.
    /// Whether it died by that signal.
    pub async fn run_killed_after(&self, command: std::process::Command, kill_after: u64) -> bool {
        use std::os::unix::process::ExitStatusExt;
        use std::sync::atomic::{AtomicU32, Ordering};
        let pid = Arc::new(AtomicU32::new(0));
        let armed = pid.clone();
        self.reset();
        self.arm(kill_after, move || {
            // The PID is stored just after spawning: wait for it.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            let mut target = armed.load(Ordering::SeqCst);
            while target == 0 && std::time::Instant::now() < deadline {
                std::thread::yield_now();
                target = armed.load(Ordering::SeqCst);
            }
            if let Ok(target) = libc::pid_t::try_from(target)
                && target > 0
            {
                // Our own child, not yet reaped, so the PID cannot be reused.
                // SAFETY: kill(2) has no memory-safety preconditions.
                unsafe { libc::kill(target, libc::SIGKILL) };
            }
        });
        let mut command = tokio::process::Command::from(command);
        command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("the command starts");
        pid.store(child.id().expect("a running child"), Ordering::SeqCst);
        let status = child.wait().await.expect("wait for the command");
        self.disarm();
        status.signal() == Some(libc::SIGKILL)
    }

    pub fn disarm(&self) -> bool {
        lock(&self.shared.hook).take().is_some()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The connection ends without an answer (see the service in `with_faults`).
#[derive(Debug)]
struct Reset;

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("injected connection reset")
    }
}

impl std::error::Error for Reset {}

async fn handle(
    shared: &Shared,
    request: Request<Incoming>,
    client: IpAddr,
) -> Result<Response<ProxyBody>, Reset> {
    if let Some(answer) = control(shared, &request) {
        return Ok(answer);
    }
    let number = shared.count(request.method());
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |path| path.as_str())
        .to_string();
    let verdict = lock(&shared.limiter)
        .as_mut()
        .and_then(|limiter| limiter.check(client, request.uri().path(), std::time::Instant::now()));
    if let Some(verdict) = &verdict
        && !verdict.admitted
    {
        shared.fire_hook(number);
        let mut answer = error_answer(429, "");
        add_headers(&mut answer, &verdict.headers);
        return Ok(answer);
    }
    let mut answer = handle_admitted(shared, request, number, path).await?;
    if let Some(verdict) = &verdict {
        add_headers(&mut answer, &verdict.headers);
    }
    Ok(answer)
}

/// The proxy's own endpoints, served only while it enforces rate limits.
fn control(shared: &Shared, request: &Request<Incoming>) -> Option<Response<ProxyBody>> {
    let mut limiter = lock(&shared.limiter);
    let limiter = limiter.as_mut()?;
    let body = match (request.method().as_str(), request.uri().path()) {
        ("GET", "/_proxy/counts") => limiter.report(),
        ("POST", "/_proxy/reset") => {
            limiter.reset();
            String::new()
        }
        _ => return None,
    };
    Some(Response::new(full(body)))
}

fn add_headers(answer: &mut Response<ProxyBody>, headers: &[(&'static str, String)]) {
    for (name, value) in headers {
        if let Ok(value) = hyper::header::HeaderValue::from_str(value) {
            answer
                .headers_mut()
                .insert(HeaderName::from_static(name), value);
        }
    }
}

async fn handle_admitted(
    shared: &Shared,
    request: Request<Incoming>,
    number: u64,
    path: String,
) -> Result<Response<ProxyBody>, Reset> {
    let kind = request_kind(request.method().as_str(), &path);
    let decision = lock(&shared.faults).decide(request.method().as_str(), &path);
    let made_up = match decision {
        Decision::Fault(FaultKind::Status500) => Some((500, "")),
        Decision::Fault(FaultKind::Status502) => Some((502, "")),
        Decision::Fault(FaultKind::Status503) => Some((503, "")),
        Decision::Fault(FaultKind::TooManyRequests) => Some((429, "0")),
        _ => None,
    };
    if let Some((status, retry_after)) = made_up {
        *lock(&shared.kinds).entry(kind).or_default() += 1;
        shared.fire_hook(number);
        return Ok(error_answer(status, retry_after));
    }
    if decision == Decision::Fault(FaultKind::Slow) {
        let delay = lock(&shared.faults).plan.slow;
        tokio::time::sleep(delay).await;
    }
    let mut response = match forward(shared, request).await {
        Ok(response) => response,
        Err(error) => Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(full(format!("proxy: {error}")))
            .expect("a static response"),
    };
    if shared.route_realm.load(Ordering::SeqCst) {
        shared.reroute_realm(response.headers_mut());
    }
    // A 401 is the registry's challenge (the client then fetches a token
    // and asks again): counted apart from the request that did the work.
    let kind = if response.status() == StatusCode::UNAUTHORIZED {
        format!("{kind} (401)")
    } else {
        kind
    };
    *lock(&shared.kinds).entry(kind).or_default() += 1;
    shared.fire_hook(number);
    if decision == Decision::Fault(FaultKind::Reset) {
        return Err(Reset);
    }
    if response.status() != StatusCode::OK {
        return Ok(response);
    }
    Ok(match decision {
        Decision::Fault(FaultKind::CutBody) | Decision::Lie(Lie::Truncated) => cut(response).await,
        Decision::Fault(FaultKind::WrongDigest) | Decision::Lie(Lie::WrongBytes) => {
            altered(response, &path).await
        }
        Decision::Lie(Lie::AbsurdSize) => absurd_size(response).await,
        Decision::Lie(Lie::ContradictingType) => retyped(response, None),
        Decision::Lie(Lie::NotAManifestType) => retyped(response, Some("text/html")),
        _ => response,
    })
}

fn full(body: impl Into<Bytes>) -> ProxyBody {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A made-up registry error, as the distribution API words them.
fn error_answer(status: u16, retry_after: &str) -> Response<ProxyBody> {
    let code = if status == 429 {
        "TOOMANYREQUESTS"
    } else {
        "UNAVAILABLE"
    };
    let mut response = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    if !retry_after.is_empty() {
        response = response.header("retry-after", retry_after);
    }
    response
        .body(full(format!(
            r#"{{"errors":[{{"code":"{code}","message":"injected fault"}}]}}"#
        )))
        .expect("a static response")
}

/// The whole body of a (small: manifests, test blobs) answer, and its head.
async fn collect(response: Response<ProxyBody>) -> (hyper::http::response::Parts, Bytes) {
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    (parts, bytes)
}

/// The full `Content-Length`, half the body, then an error that makes hyper
/// close the connection.
async fn cut(response: Response<ProxyBody>) -> Response<ProxyBody> {
    let (mut parts, bytes) = collect(response).await;
    parts
        .headers
        .insert(hyper::header::CONTENT_LENGTH, bytes.len().into());
    let half = bytes.slice(..bytes.len() / 2);
    // The pause lets hyper flush the head and the half before the error
    // closes the connection; without it the client sees a plain reset.
    let frames =
        futures::stream::iter([Ok(Frame::data(half))]).chain(futures::stream::once(async {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            Err(std::io::Error::other("injected cut body"))
        }));
    Response::from_parts(parts, StreamBody::new(frames).boxed_unsync())
}

/// Other bytes under the same digest header: a manifest gets a trailing
/// space (still valid JSON), a blob a flipped last byte.
async fn altered(response: Response<ProxyBody>, path: &str) -> Response<ProxyBody> {
    let (mut parts, bytes) = collect(response).await;
    let mut changed = bytes.to_vec();
    if path.contains("/manifests/") {
        changed.push(b' ');
    } else if let Some(last) = changed.last_mut() {
        *last ^= 1;
    } else {
        changed.push(0);
    }
    parts
        .headers
        .insert(hyper::header::CONTENT_LENGTH, changed.len().into());
    Response::from_parts(parts, full(changed))
}

/// Announces 64 GiB, sends the real (short) body, and then nothing more for
/// a while (so the head is flushed and the client can judge it).
async fn absurd_size(response: Response<ProxyBody>) -> Response<ProxyBody> {
    let (mut parts, bytes) = collect(response).await;
    parts
        .headers
        .insert(hyper::header::CONTENT_LENGTH, (64u64 << 30).into());
    let frames =
        futures::stream::iter([Ok(Frame::data(bytes))]).chain(futures::stream::once(async {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            Err(std::io::Error::other("injected absurd size"))
        }));
    Response::from_parts(parts, StreamBody::new(frames).boxed_unsync())
}

/// `Some(type)`: that `Content-Type`; `None`: the type of the other manifest
/// kind (index for an image manifest and the other way round).
fn retyped(response: Response<ProxyBody>, to: Option<&'static str>) -> Response<ProxyBody> {
    let (mut parts, body) = response.into_parts();
    let current = parts
        .headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let other = to.unwrap_or(if current.contains("index") || current.contains("list") {
        "application/vnd.oci.image.manifest.v1+json"
    } else {
        "application/vnd.oci.image.index.v1+json"
    });
    parts.headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(other),
    );
    Response::from_parts(parts, body)
}

impl Shared {
    /// `realm="http://<upstream>/…"` in a challenge becomes
    /// `realm="http://<this proxy>/…"`.
    fn reroute_realm(&self, headers: &mut HeaderMap) {
        let Some(challenge) = headers
            .get(hyper::header::WWW_AUTHENTICATE)
            .and_then(|value| value.to_str().ok())
        else {
            return;
        };
        let rerouted = challenge.replace(
            &format!("://{}/", self.upstream),
            &format!("://{}/", self.own_host),
        );
        if let Ok(value) = hyper::header::HeaderValue::from_str(&rerouted) {
            headers.insert(hyper::header::WWW_AUTHENTICATE, value);
        }
    }

    /// Counts the request; returns its number in the sequence.
    fn count(&self, method: &hyper::Method) -> u64 {
        let mut counts = lock(&self.counts);
        let counter = match *method {
            hyper::Method::GET => &mut counts.get,
            hyper::Method::HEAD => &mut counts.head,
            hyper::Method::POST => &mut counts.post,
            hyper::Method::PUT => &mut counts.put,
            hyper::Method::PATCH => &mut counts.patch,
            hyper::Method::DELETE => &mut counts.delete,
            _ => &mut counts.other,
        };
        *counter += 1;
        counts.total += 1;
        self.sequence.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn fire_hook(&self, number: u64) {
        let due = {
            let mut hook = lock(&self.hook);
            match hook.as_ref() {
                Some(armed) if armed.after <= number => hook.take(),
                _ => None,
            }
        };
        if let Some(hook) = due {
            (hook.action)();
        }
    }
}

async fn forward(
    shared: &Shared,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |path| path.as_str());
    let url = format!("http://{}{path}", shared.upstream);
    let mut outgoing = shared
        .client
        .request(parts.method.clone(), url)
        .headers(end_to_end(&parts.headers));
    if !hyper::body::Body::is_end_stream(&body) {
        let stream = BodyStream::new(body)
            .try_filter_map(|frame| async move { Ok(frame.into_data().ok()) })
            .map_err(std::io::Error::other);
        outgoing = outgoing.body(reqwest::Body::wrap_stream(stream));
    }
    let answer = outgoing.send().await?;
    let mut response = Response::builder().status(answer.status().as_u16());
    if let Some(headers) = response.headers_mut() {
        *headers = end_to_end(answer.headers());
    }
    let stream = answer
        .bytes_stream()
        .map(|chunk| chunk.map(Frame::data).map_err(std::io::Error::other));
    Ok(response
        .body(StreamBody::new(stream).boxed_unsync())
        .expect("status and headers copied from a valid response"))
}

/// The headers worth forwarding; `Host` stays, so the registry builds its
/// `Location` URLs for the proxy.
fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let mut kept = headers.clone();
    for name in HOP_BY_HOP {
        kept.remove(HeaderName::from_static(name));
    }
    // Content-Length survives: the body is streamed unchanged, and the
    // registry needs it on monolithic uploads.
    kept
}
