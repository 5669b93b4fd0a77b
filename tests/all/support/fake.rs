//! An in-process fake registry on an ephemeral 127.0.0.1 port, only for what
//! the real registry cannot be made to do: a bearer token realm, 429 with
//! `Retry-After`, bursts of 503, immutable tags, a missing
//! `Docker-Content-Digest`, paginated tag lists (the Debian registry 2.8
//! ignores `n`), a paged OCI referrers API (distribution 2.8 has none, Quay
//! answers one page). It serves manifests and blobs from memory over
//! a deliberately small HTTP/1.1 (one request per connection).

use quayside::digest::Digest;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// How the fake misbehaves.
#[derive(Clone, Debug, Default)]
pub struct FakeConfig {
    /// Require `Bearer` tokens from its own `/token` realm; the realm itself
    /// requires these basic credentials when given.
    pub bearer: bool,
    pub realm_credentials: Option<(String, String)>,
    /// Fail this many requests in ten (alternating 429 with `Retry-After: 0`
    /// and 503), spread evenly.
    pub flaky_in_ten: u64,
    /// Answer every registry request 503.
    pub always_503: bool,
    /// Refuse to move an existing tag with 409 `TAG_IMMUTABLE`.
    pub immutable_tags: bool,
    /// Leave `Docker-Content-Digest` out of manifest answers.
    pub omit_digest_header: bool,
    /// Hold every registry answer this long (to observe concurrency).
    pub delay: std::time::Duration,
    /// Hold every token answer this long (Quay's `/v2/auth` spends ~0.3 s in
    /// bcrypt), to observe whether token fetches overlap.
    pub token_delay: std::time::Duration,
    /// Serve `GET /v2/<repo>/referrers/<digest>` (the stored manifests whose
    /// `subject` is that digest, by digest), this many per page with a
    /// `Link` to the next; `None`: 404, as a registry without the API.
    pub referrers_page: Option<usize>,
    /// Every referrers page links to a next one (pages that never end).
    pub referrers_endless: bool,
    /// Next-page links name this other host.
    pub referrers_next_host: Option<String>,
}

#[derive(Default)]
struct Store {
    /// By digest: media type and bytes.
    manifests: HashMap<String, (String, Vec<u8>)>,
    tags: HashMap<String, HashMap<String, String>>,
    blobs: HashMap<String, Vec<u8>>,
}

pub struct FakeRegistry {
    pub port: u16,
    /// The most registry requests ever handled at once.
    pub max_in_flight: Arc<AtomicU64>,
    pub token_requests: Arc<AtomicU64>,
    /// The most token requests ever handled at once.
    pub max_tokens_in_flight: Arc<AtomicU64>,
    pub registry_requests: Arc<AtomicU64>,
    store: Arc<Mutex<Store>>,
    task: tokio::task::JoinHandle<()>,
}

struct Request {
    method: String,
    path: String,
    query: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
    fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
    fn oci_error(status: u16, code: &str) -> Self {
        Response::new(status)
            .header("Content-Type", "application/json")
            .body(format!(
                r#"{{"errors":[{{"code":"{code}","message":"{code} from the fake"}}]}}"#
            ))
    }
}

impl FakeRegistry {
    pub async fn start(config: FakeConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        let token_requests = Arc::new(AtomicU64::new(0));
        let registry_requests = Arc::new(AtomicU64::new(0));
        let store = Arc::new(Mutex::new(Store::default()));
        let max_in_flight = Arc::new(AtomicU64::new(0));
        let max_tokens_in_flight = Arc::new(AtomicU64::new(0));
        let shared = Arc::new(Shared {
            config,
            port,
            token_requests: token_requests.clone(),
            registry_requests: registry_requests.clone(),
            store: store.clone(),
            in_flight: AtomicU64::new(0),
            max_in_flight: max_in_flight.clone(),
            tokens_in_flight: AtomicU64::new(0),
            max_tokens_in_flight: max_tokens_in_flight.clone(),
        });
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, &shared).await;
                });
            }
        });
        FakeRegistry {
            port,
            max_in_flight,
            token_requests,
            max_tokens_in_flight,
            registry_requests,
            store,
            task,
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn location(&self, path: &str) -> quayside::config::location::RepositoryLocation {
        quayside::config::location::RepositoryLocation::Remote {
            scheme: quayside::config::location::Scheme::Http,
            host: self.host(),
            path: path.to_string(),
        }
    }

    /// Stores a manifest (and tags it) directly, bypassing HTTP.
    pub fn seed_manifest(
        &self,
        repository: &str,
        media_type: &str,
        bytes: &[u8],
        tag: Option<&str>,
    ) {
        let digest = Digest::of_bytes(bytes).to_string();
        let mut store = self.store.lock().expect("store");
        store
            .manifests
            .insert(digest.clone(), (media_type.to_string(), bytes.to_vec()));
        if let Some(tag) = tag {
            store
                .tags
                .entry(repository.to_string())
                .or_default()
                .insert(tag.to_string(), digest);
        }
    }

    /// Serves `bytes` under a digest that is not theirs (a corrupt registry).
    pub fn seed_corrupt(&self, claimed: &Digest, media_type: &str, bytes: &[u8]) {
        let mut store = self.store.lock().expect("store");
        store.blobs.insert(claimed.to_string(), bytes.to_vec());
        store.manifests.insert(
            claimed.to_string(),
            (media_type.to_string(), bytes.to_vec()),
        );
    }

    pub fn seed_blob(&self, bytes: &[u8]) {
        let digest = Digest::of_bytes(bytes).to_string();
        self.store
            .lock()
            .expect("store")
            .blobs
            .insert(digest, bytes.to_vec());
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared {
    config: FakeConfig,
    port: u16,
    token_requests: Arc<AtomicU64>,
    registry_requests: Arc<AtomicU64>,
    store: Arc<Mutex<Store>>,
    in_flight: AtomicU64,
    max_in_flight: Arc<AtomicU64>,
    tokens_in_flight: AtomicU64,
    max_tokens_in_flight: Arc<AtomicU64>,
}

async fn serve(stream: tokio::net::TcpStream, shared: &Shared) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).await? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    let request = Request {
        method,
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body,
    };
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    if !shared.config.delay.is_zero() && request.path != "/token" {
        tokio::time::sleep(shared.config.delay).await;
    }
    if request.path == "/token" {
        let tokens = shared.tokens_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared
            .max_tokens_in_flight
            .fetch_max(tokens, Ordering::SeqCst);
        tokio::time::sleep(shared.config.token_delay).await;
        shared.tokens_in_flight.fetch_sub(1, Ordering::SeqCst);
    }
    let response = respond(&request, shared);
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    let mut head = format!(
        "HTTP/1.1 {} Fake\r\nContent-Length: {}\r\nConnection: close\r\n",
        response.status,
        response.body.len()
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = reader.into_inner();
    stream.write_all(head.as_bytes()).await?;
    if request.method != "HEAD" {
        stream.write_all(&response.body).await?;
    }
    stream.shutdown().await
}

fn respond(request: &Request, shared: &Shared) -> Response {
    let config = &shared.config;
    if request.path == "/token" {
        shared.token_requests.fetch_add(1, Ordering::Relaxed);
        if let Some((user, password)) = &config.realm_credentials {
            use base64::Engine as _;
            let expected = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            );
            if request.headers.get("authorization") != Some(&expected) {
                return Response::oci_error(401, "UNAUTHORIZED");
            }
        }
        return Response::new(200)
            .header("Content-Type", "application/json")
            .body(r#"{"token":"fake-token","expires_in":300}"#);
    }
    let number = shared.registry_requests.fetch_add(1, Ordering::Relaxed);
    if config.always_503 {
        return Response::oci_error(503, "UNAVAILABLE");
    }
    // (n * 7) % 10 visits 0..10 once per ten requests, so failures are
    // spread out and never more than one in a row.
    if (number * 7) % 10 < config.flaky_in_ten {
        return if number.is_multiple_of(2) {
            Response::oci_error(429, "TOOMANYREQUESTS").header("Retry-After", "0")
        } else {
            Response::oci_error(503, "UNAVAILABLE")
        };
    }
    if config.bearer
        && request.headers.get("authorization").map(String::as_str) != Some("Bearer fake-token")
    {
        return Response::oci_error(401, "UNAUTHORIZED").header(
            "WWW-Authenticate",
            format!(
                r#"Bearer realm="http://127.0.0.1:{}/token",service="fake""#,
                shared.port
            ),
        );
    }
    route(request, shared)
}

fn route(request: &Request, shared: &Shared) -> Response {
    let Some(rest) = request.path.strip_prefix("/v2/") else {
        return Response::new(404);
    };
    let mut store = shared.store.lock().expect("store");
    if let Some(repository) = rest.strip_suffix("/tags/list") {
        let mut tags: Vec<String> = store
            .tags
            .get(repository)
            .map(|tags| tags.keys().cloned().collect())
            .unwrap_or_default();
        tags.sort();
        // Pagination as the distribution spec (and Quay) do it: `n` and
        // `last`, with a relative `Link` to the next page.
        let parameter = |name: &str| {
            request.query.split('&').find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                (key == name).then(|| value.to_string())
            })
        };
        if let Some(last) = parameter("last") {
            tags.retain(|tag| *tag > last);
        }
        let mut response = Response::new(200).header("Content-Type", "application/json");
        if let Some(n) = parameter("n").and_then(|n| n.parse::<usize>().ok())
            && tags.len() > n
        {
            tags.truncate(n);
            let last = tags.last().cloned().unwrap_or_default();
            response = response.header(
                "Link",
                format!(r#"</v2/{repository}/tags/list?n={n}&last={last}>; rel="next""#),
            );
        }
        return response.body(serde_json::json!({"name": repository, "tags": tags}).to_string());
    }
    if let Some((repository, reference)) = rest.rsplit_once("/manifests/") {
        let digest = if reference.starts_with("sha256:") {
            Some(reference.to_string())
        } else {
            store
                .tags
                .get(repository)
                .and_then(|tags| tags.get(reference))
                .cloned()
        };
        return match request.method.as_str() {
            "GET" | "HEAD" => match digest.and_then(|d| store.manifests.get(&d).map(|m| (d, m))) {
                Some((digest, (media_type, bytes))) => {
                    let mut response = Response::new(200)
                        .header("Content-Type", media_type.clone())
                        .body(bytes.clone());
                    if !shared.config.omit_digest_header {
                        response = response.header("Docker-Content-Digest", digest);
                    }
                    response
                }
                None => Response::oci_error(404, "MANIFEST_UNKNOWN"),
            },
            "PUT" => {
                let digest = Digest::of_bytes(&request.body).to_string();
                if !reference.starts_with("sha256:") {
                    let tags = store.tags.entry(repository.to_string()).or_default();
                    if shared.config.immutable_tags
                        && tags.get(reference).is_some_and(|old| *old != digest)
                    {
                        return Response::oci_error(409, "TAG_IMMUTABLE");
                    }
                    tags.insert(reference.to_string(), digest.clone());
                }
                let media_type = request
                    .headers
                    .get("content-type")
                    .cloned()
                    .unwrap_or_default();
                store
                    .manifests
                    .insert(digest.clone(), (media_type, request.body.clone()));
                Response::new(201).header("Docker-Content-Digest", digest)
            }
            _ => Response::new(405),
        };
    }
    if let Some((repository, digest)) = rest.rsplit_once("/referrers/") {
        return referrers(request, &shared.config, &store, repository, digest);
    }
    if let Some((_, digest)) = rest.rsplit_once("/blobs/") {
        return match (request.method.as_str(), store.blobs.get(digest)) {
            ("GET" | "HEAD", Some(bytes)) => Response::new(200)
                .header("Docker-Content-Digest", digest)
                .body(bytes.clone()),
            ("GET" | "HEAD", None) => Response::oci_error(404, "BLOB_UNKNOWN"),
            _ => Response::new(405),
        };
    }
    Response::new(404)
}

/// One page (`?page=<k>`, from 0) of the referrers index of `digest`.
fn referrers(
    request: &Request,
    config: &FakeConfig,
    store: &Store,
    repository: &str,
    digest: &str,
) -> Response {
    let Some(per_page) = config.referrers_page else {
        // As CNCF distribution 2.8: no such route, a plain-text 404.
        return Response::new(404).body("404 page not found\n");
    };
    let mut entries: Vec<(String, serde_json::Value)> = store
        .manifests
        .iter()
        .filter_map(|(manifest_digest, (media_type, bytes))| {
            let document: serde_json::Value = serde_json::from_slice(bytes).ok()?;
            (document["subject"]["digest"] == digest).then(|| {
                let entry = serde_json::json!({
                    "mediaType": media_type,
                    "digest": manifest_digest,
                    "size": bytes.len(),
                    "artifactType": document["artifactType"],
                });
                (manifest_digest.clone(), entry)
            })
        })
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let page: usize = request
        .query
        .split('&')
        .find_map(|pair| pair.strip_prefix("page="))
        .and_then(|k| k.parse().ok())
        .unwrap_or(0);
    let shown: Vec<serde_json::Value> = entries
        .iter()
        .skip(page * per_page)
        .take(per_page)
        .map(|(_, entry)| entry.clone())
        .collect();
    let mut response =
        Response::new(200).header("Content-Type", "application/vnd.oci.image.index.v1+json");
    if config.referrers_endless || entries.len() > (page + 1) * per_page {
        let path = format!("/v2/{repository}/referrers/{digest}?page={}", page + 1);
        let target = match &config.referrers_next_host {
            Some(host) => format!("http://{host}{path}"),
            None => path,
        };
        response = response.header("Link", format!(r#"<{target}>; rel="next""#));
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": shown,
    });
    response.body(index.to_string())
}
