//! A counting HTTP/1.1 reverse proxy in front of a real registry, for the
//! apply tests: it forwards every request (bodies streamed both ways, the
//! client's `Host` kept so that the registry's upload `Location`s point back
//! at the proxy), counts requests by method, and runs a hook once the N-th
//! request has been answered by the registry (the crash tests SIGKILL the
//! `quayside apply` child there, after the registry did the work but before
//! the client heard of it).

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, BodyStream, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderMap, HeaderName};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
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

type Action = Box<dyn FnOnce() + Send>;

struct Hook {
    after: u64,
    action: Action,
}

struct Shared {
    upstream: String,
    client: reqwest::Client,
    sequence: AtomicU64,
    counts: Mutex<MethodCounts>,
    hook: Mutex<Option<Hook>>,
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
    /// (`host:port`, plain HTTP).
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .expect("an HTTP client");
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            client,
            sequence: AtomicU64::new(0),
            counts: Mutex::new(MethodCounts::default()),
            hook: Mutex::new(None),
        });
        let accepting = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = accepting.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(handle(&shared, request).await) }
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

    /// Zeroes the counts and the request sequence the hook is numbered by.
    pub fn reset(&self) {
        *lock(&self.shared.counts) = MethodCounts::default();
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

    /// Drops a hook that has not fired; true if there was one.
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

async fn handle(shared: &Shared, request: Request<Incoming>) -> Response<ProxyBody> {
    let number = shared.count(request.method());
    let response = match forward(shared, request).await {
        Ok(response) => response,
        Err(error) => Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(
                Full::new(Bytes::from(format!("proxy: {error}")))
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            )
            .expect("a static response"),
    };
    shared.fire_hook(number);
    response
}

impl Shared {
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
    debug_assert!(!kept.contains_key(header::TRANSFER_ENCODING));
    kept
}
