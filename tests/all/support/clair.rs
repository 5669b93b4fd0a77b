//! A stand-in for Clair v4's indexer and matcher HTTP APIs, for the real
//! Quay's own security worker (`workers/securityworker`) and security API to
//! call: Quay computes its `…/manifest/{digest}/security` answers from what
//! this serves, with its own code. Answers are canned per manifest digest by
//! the test ([`Clair::register`]); layers are never fetched.
//!
//! The calls Quay 3.18 makes (`util/secscan/v4/api.py`), each with
//! `Authorization: Bearer <JWT>` (HS256 over `SECURITY_SCANNER_V4_PSK`,
//! `iss: quay`, expiring in 5 min), which this checks as Clair does:
//! - `GET /indexer/api/v1/index_state`: `{"state": …}`, before every worker pass;
//! - `POST /indexer/api/v1/index_report` `{"hash", "layers": [{"hash", "uri",
//!   "headers"}]}` per platform manifest (never an index): an `IndexReport`
//!   and an `ETag` (the indexer state); `state: IndexFinished` makes Quay
//!   mark the manifest indexed, `IndexError` failed;
//! - `GET /matcher/api/v1/vulnerability_report/{hash}` from the security API
//!   (the worker's notify-on-new-index call never fires in 3.18: its own
//!   in-progress row makes every manifest look scanned before): a
//!   `VulnerabilityReport`; 404 reads as not yet indexed (`queued`), another
//!   error as a 520 from Quay's API.
//!
//! Answers must validate against Quay's copy of Clair's OpenAPI schemas
//! (`clair-v4.openapi.json`), or Quay discards them.
//!
//! It is shared by every test of the run (it lives as long as the shared
//! Quay), so it runs on its own thread with its own runtime: each test's
//! tokio runtime ends with its test.

use crate::quayside::repo_root;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The opaque indexer state Quay stores with each index (a change would make
/// it re-index everything).
const STATE: &str = "quayside-clair-stand-in-1";

/// How long an [`Canned::Indexing`] answer holds Quay's index request at
/// most: the worker operation that sent it waits meanwhile.
const HOLD_AT_MOST: Duration = Duration::from_secs(90);

/// One vulnerability of one installed package, as Clair's matcher reports it.
#[derive(Clone, Debug)]
pub struct Vuln {
    /// Clair's `name` (`CVE-…`, `RHSA-…`), which Quay reports as `Name`.
    pub name: String,
    /// Clair's `normalized_severity`: `Unknown`, `Negligible`, `Low`,
    /// `Medium`, `High` or `Critical`.
    pub severity: String,
    pub package: String,
    pub installed: String,
    /// `fixed_in_version`; empty when there is no fix.
    pub fixed: String,
    /// Clair's `links`: one string, links separated by spaces.
    pub links: String,
}

impl Vuln {
    pub fn new(name: &str, severity: &str, package: &str, installed: &str, fixed: &str) -> Self {
        Vuln {
            name: name.to_string(),
            severity: severity.to_string(),
            package: package.to_string(),
            installed: installed.to_string(),
            fixed: fixed.to_string(),
            links: format!("https://security-tracker.debian.org/tracker/{name}"),
        }
    }
}

/// What Clair answers about one manifest.
#[derive(Clone, Debug)]
pub enum Canned {
    /// Indexed (a few packages), no vulnerability matched.
    Clean,
    /// Indexed, and the matcher finds these.
    Vulnerable(Vec<Vuln>),
    /// The indexer answers `state: IndexError`: Quay marks the manifest
    /// failed (`failed`) and retries only after its re-index threshold.
    IndexError,
    /// The indexer holds Quay's index request open (Clair still indexing):
    /// Quay keeps the manifest in progress, `queued`, until the digest is
    /// registered with another answer (or [`HOLD_AT_MOST`] passes, then
    /// `IndexError`).
    Indexing,
    /// Indexed, but the matcher answers 500: Quay's security API cannot
    /// load the report (it answers 520).
    MatcherDown,
}

/// One request Quay made.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    pub path: String,
    /// The manifest digest it was about (`hash` of an index request, or the
    /// last path segment).
    pub manifest: Option<String>,
    /// Whether it carried a valid JWT signed with the PSK.
    pub authorized: bool,
}

struct Shared {
    psk: Vec<u8>,
    answers: Mutex<HashMap<String, Canned>>,
    /// Layer digests of each manifest Quay had indexed.
    indexed: Mutex<HashMap<String, Vec<String>>>,
    calls: Mutex<Vec<Call>>,
    shutdown: tokio::sync::Notify,
}

pub struct Clair {
    pub port: u16,
    shared: Arc<Shared>,
}

impl Clair {
    /// Listens on a free 127.0.0.1 port (what Quay's config gets as
    /// `SECURITY_SCANNER_V4_ENDPOINT`), on a thread of its own.
    pub fn start() -> Result<Self, String> {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("clair: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let shared = Arc::new(Shared {
            psk: psk()?,
            answers: Mutex::new(HashMap::new()),
            indexed: Mutex::new(HashMap::new()),
            calls: Mutex::new(Vec::new()),
            shutdown: tokio::sync::Notify::new(),
        });
        let serving = shared.clone();
        std::thread::Builder::new()
            .name("clair-stand-in".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the stand-in's runtime");
                runtime.block_on(serve(listener, serving));
            })
            .map_err(|e| e.to_string())?;
        Ok(Clair { port, shared })
    }

    /// What Clair answers about the manifest `digest` from now on (an
    /// [`Canned::Indexing`] answer held open ends with the new one). A digest
    /// never registered fails to index.
    pub fn register(&self, digest: impl ToString, answer: Canned) {
        lock(&self.shared.answers).insert(digest.to_string(), answer);
    }

    /// Every request Quay made so far.
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.shared.calls).clone()
    }

    /// The requests about the manifest `digest`.
    pub fn calls_about(&self, digest: impl ToString) -> Vec<Call> {
        let digest = digest.to_string();
        self.calls()
            .into_iter()
            .filter(|call| call.manifest.as_deref() == Some(digest.as_str()))
            .collect()
    }
}

impl Drop for Clair {
    fn drop(&mut self) {
        self.shared.shutdown.notify_one();
    }
}

/// The PSK Quay signs with: `SECURITY_SCANNER_V4_PSK` of `scripts/quay/config.yaml`,
/// base64 as there (Quay decodes it and uses the bytes as the HS256 key).
fn psk() -> Result<Vec<u8>, String> {
    let path = repo_root().join("scripts/quay/config.yaml");
    let config = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let value = config
        .lines()
        .find_map(|line| line.strip_prefix("SECURITY_SCANNER_V4_PSK:"))
        .ok_or_else(|| format!("{} sets no SECURITY_SCANNER_V4_PSK", path.display()))?;
    base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|e| format!("SECURITY_SCANNER_V4_PSK: {e}"))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn serve(listener: std::net::TcpListener, shared: Arc<Shared>) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            () = shared.shutdown.notified() => return,
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let shared = shared.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(&shared, request).await) }
            });
            // Quay's `requests` session keeps connections alive.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(shared: &Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let authorized = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|token| valid_jwt(token, &shared.psk));
    let body = request
        .into_body()
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    let posted: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let segment = path.rsplit('/').next().unwrap_or_default().to_string();
    let manifest = match (&method, path.as_str()) {
        (&Method::POST, "/indexer/api/v1/index_report") => {
            posted["hash"].as_str().map(str::to_string)
        }
        _ if segment.starts_with("sha256:") => Some(segment.clone()),
        _ => None,
    };
    lock(&shared.calls).push(Call {
        method: method.to_string(),
        path: path.clone(),
        manifest: manifest.clone(),
        authorized,
    });
    if !authorized {
        return answer(
            401,
            &json!({"code": "unauthorized", "message": "missing or invalid JWT"}),
        );
    }
    match (method, path.as_str()) {
        (Method::GET, "/indexer/api/v1/index_state") => answer(200, &json!({"state": STATE})),
        (Method::POST, "/indexer/api/v1/index_report") => {
            let Some(manifest) = manifest else {
                return answer(
                    400,
                    &json!({"code": "bad-request", "message": "no manifest hash"}),
                );
            };
            let layers: Vec<String> = posted["layers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|layer| layer["hash"].as_str().map(str::to_string))
                .collect();
            index(shared, &manifest, layers).await
        }
        (Method::GET, _) if path.starts_with("/indexer/api/v1/index_report/") => {
            match indexed_answer(shared, &segment) {
                Some((layers, _)) => answer(200, &index_report(&segment, &layers, true, "")),
                None => not_found(),
            }
        }
        (Method::GET, _) if path.starts_with("/matcher/api/v1/vulnerability_report/") => {
            let down = matches!(
                lock(&shared.answers).get(&segment),
                Some(Canned::MatcherDown)
            );
            if down {
                return answer(
                    500,
                    &json!({"code": "internal-error", "message": "matcher: database unavailable"}),
                );
            }
            match indexed_answer(shared, &segment) {
                Some((layers, vulns)) => {
                    answer(200, &vulnerability_report(&segment, &layers, &vulns))
                }
                None => not_found(),
            }
        }
        _ => not_found(),
    }
}

/// The answer to an index request for `manifest`.
async fn index(shared: &Shared, manifest: &str, layers: Vec<String>) -> Response<Full<Bytes>> {
    let deadline = Instant::now() + HOLD_AT_MOST;
    let canned = loop {
        let canned = lock(&shared.answers).get(manifest).cloned();
        match canned {
            Some(Canned::Indexing) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => break other,
        }
    };
    let err = match canned {
        Some(Canned::Clean | Canned::Vulnerable(_) | Canned::MatcherDown) => {
            lock(&shared.indexed).insert(manifest.to_string(), layers.clone());
            return answer_with_etag(201, &index_report(manifest, &layers, true, ""));
        }
        Some(Canned::IndexError) => "stand-in: fetching layers failed (canned IndexError)",
        Some(Canned::Indexing) => "stand-in: gave up indexing (held too long)",
        None => "stand-in: no answer registered for this manifest",
    };
    answer_with_etag(201, &index_report(manifest, &layers, false, err))
}

/// The layers and matched vulnerabilities of a manifest Quay had indexed.
fn indexed_answer(shared: &Shared, manifest: &str) -> Option<(Vec<String>, Vec<Vuln>)> {
    let layers = lock(&shared.indexed).get(manifest).cloned()?;
    match lock(&shared.answers).get(manifest)? {
        Canned::Clean => Some((layers, Vec::new())),
        Canned::Vulnerable(vulns) => Some((layers, vulns.clone())),
        Canned::MatcherDown => Some((layers, Vec::new())),
        Canned::IndexError | Canned::Indexing => None,
    }
}

/// `packages`, `distributions` and `environments` for a manifest with
/// `vulns`: a package per vulnerable `(name, version)` and two clean ones.
fn contents(layers: &[String], vulns: &[Vuln]) -> (Value, Value, Value, Vec<(String, String)>) {
    let mut found: Vec<(String, String)> = vec![
        ("bash".into(), "5.2.15-2+b7".into()),
        ("libc6".into(), "2.36-9+deb12u9".into()),
    ];
    for vuln in vulns {
        let package = (vuln.package.clone(), vuln.installed.clone());
        if !found.contains(&package) {
            found.push(package);
        }
    }
    let introduced_in = layers.first().cloned().unwrap_or_default();
    let mut packages = serde_json::Map::new();
    let mut environments = serde_json::Map::new();
    for (n, (name, version)) in found.iter().enumerate() {
        let id = (n + 1).to_string();
        packages.insert(
            id.clone(),
            json!({"id": id, "name": name, "version": version, "kind": "binary",
                   "arch": "amd64", "module": "", "cpe": "", "normalized_version": "",
                   "source": {"id": format!("s{id}"), "name": name, "version": version, "kind": "source"}}),
        );
        environments.insert(
            id,
            json!([{"package_db": "var/lib/dpkg/status", "introduced_in": introduced_in,
                    "distribution_id": "1", "repository_ids": []}]),
        );
    }
    let distributions = json!({"1": {"id": "1", "did": "debian", "name": "Debian GNU/Linux",
        "version": "12 (bookworm)", "version_code_name": "bookworm", "version_id": "12",
        "arch": "", "cpe": "", "pretty_name": "Debian GNU/Linux 12 (bookworm)"}});
    (
        Value::Object(packages),
        distributions,
        Value::Object(environments),
        found,
    )
}

fn index_report(manifest: &str, layers: &[String], success: bool, err: &str) -> Value {
    let (packages, distributions, environments, _) = if success {
        contents(layers, &[])
    } else {
        (json!({}), json!({}), json!({}), Vec::new())
    };
    json!({
        "manifest_hash": manifest,
        "state": if success { "IndexFinished" } else { "IndexError" },
        "packages": packages,
        "distributions": distributions,
        "environments": environments,
        "success": success,
        "err": err,
    })
}

fn vulnerability_report(manifest: &str, layers: &[String], vulns: &[Vuln]) -> Value {
    let (packages, distributions, environments, found) = contents(layers, vulns);
    let mut vulnerabilities = serde_json::Map::new();
    let mut package_vulnerabilities: HashMap<String, Vec<String>> = HashMap::new();
    for (n, vuln) in vulns.iter().enumerate() {
        let id = format!("{}", 1000 + n);
        let package = found
            .iter()
            .position(|(name, version)| *name == vuln.package && *version == vuln.installed)
            .map(|index| (index + 1).to_string())
            .unwrap_or_default();
        vulnerabilities.insert(
            id.clone(),
            json!({
                "id": id,
                "updater": "debian/updater/bookworm",
                "name": vuln.name,
                "description": format!("{} in {} (canned by the test's Clair stand-in)", vuln.name, vuln.package),
                "issued": "2026-01-15T00:00:00Z",
                "links": vuln.links,
                "severity": vuln.severity.to_ascii_lowercase(),
                "normalized_severity": vuln.severity,
                "package": {"id": "", "name": vuln.package, "version": "", "kind": "binary"},
                "distribution": {"id": "", "did": "debian", "name": "Debian GNU/Linux",
                    "version": "12 (bookworm)", "version_code_name": "bookworm", "version_id": "12",
                    "arch": "", "cpe": "", "pretty_name": ""},
                "repository": {},
                "range": "",
                "fixed_in_version": vuln.fixed,
            }),
        );
        package_vulnerabilities.entry(package).or_default().push(id);
    }
    json!({
        "manifest_hash": manifest,
        "packages": packages,
        "distributions": distributions,
        "environments": environments,
        "repository": {},
        "vulnerabilities": vulnerabilities,
        "package_vulnerabilities": package_vulnerabilities,
        "enrichments": {},
    })
}

fn answer(status: u16, body: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a response")
}

/// Clair's index answers carry the indexer state as their `ETag`, which
/// Quay requires and stores.
fn answer_with_etag(status: u16, body: &Value) -> Response<Full<Bytes>> {
    let mut response = answer(status, body);
    response.headers_mut().insert(
        hyper::header::ETAG,
        format!("\"{STATE}\"").parse().expect("an ETag"),
    );
    response
}

fn not_found() -> Response<Full<Bytes>> {
    answer(404, &json!({"code": "not-found", "message": "not found"}))
}

/// An HS256 JWT signed with `key`, issued by `quay`, not expired.
fn valid_jwt(token: &str, key: &[u8]) -> bool {
    let engine = &base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let decoded = |part: &str| {
        engine
            .decode(part)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
    };
    let (Some(header_json), Some(claims), Ok(signature)) =
        (decoded(header), decoded(payload), engine.decode(signature))
    else {
        return false;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default();
    header_json["alg"] == "HS256"
        && claims["iss"] == "quay"
        && claims["exp"].as_u64().is_some_and(|exp| exp > now)
        && hmac_sha256(key, format!("{header}.{payload}").as_bytes()) == signature.as_slice()
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    fn token(key: &[u8], claims: &Value) -> String {
        let engine = &base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let signed = format!(
            "{}.{}",
            engine.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
            engine.encode(claims.to_string())
        );
        let signature = engine.encode(hmac_sha256(key, signed.as_bytes()));
        format!("{signed}.{signature}")
    }

    #[test]
    fn only_an_unexpired_quay_jwt_signed_with_the_psk_is_valid() {
        let later = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 300;
        let good = json!({"iss": "quay", "exp": later});
        assert!(valid_jwt(&token(b"psk", &good), b"psk"));
        assert!(!valid_jwt(&token(b"other", &good), b"psk"));
        assert!(!valid_jwt(
            &token(b"psk", &json!({"iss": "quay", "exp": 1})),
            b"psk"
        ));
        assert!(!valid_jwt(
            &token(b"psk", &json!({"iss": "someone", "exp": later})),
            b"psk"
        ));
        assert!(!valid_jwt("not.a-jwt", b"psk"));
    }
}
