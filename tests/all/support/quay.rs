//! An in-process fake of Quay's security API on an ephemeral 127.0.0.1 port:
//! `GET /api/v1/repository/{ns}/{repo}/manifest/{digest}/security`, serving
//! the documented JSON per manifest digest (scanned with or without
//! vulnerabilities, queued, failed, unsupported; 404 for unknown digests),
//! optionally demanding a bearer token (401) or rate limiting (429 with
//! `Retry-After`). Deliberately small HTTP/1.1, one request per connection,
//! in the style of `fake.rs`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// What Quay says about one manifest.
#[derive(Clone, Debug)]
pub enum Scan {
    /// `scanned`, with `(id, severity, package, installed, fixed)` entries
    /// (`fixed` empty means no fix; Quay sends `""`).
    Scanned(
        Vec<(
            &'static str,
            &'static str,
            &'static str,
            &'static str,
            &'static str,
        )>,
    ),
    Queued,
    Failed,
    Unsupported,
}

#[derive(Clone, Debug, Default)]
pub struct QuayConfig {
    /// Answer 401 unless `Authorization: Bearer <token>` carries this token.
    pub token: Option<String>,
    /// Answer the first this-many requests 429 with `Retry-After: 0`.
    pub rate_limited_first: u64,
    /// Answer every request 429 (with `Retry-After: 0`).
    pub always_429: bool,
}

pub struct FakeQuay {
    pub port: u16,
    /// Every request, as `ns/repo@digest`.
    pub requests: Arc<Mutex<Vec<String>>>,
    pub count: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    config: QuayConfig,
    scans: HashMap<String, Scan>,
    requests: Arc<Mutex<Vec<String>>>,
    count: Arc<AtomicU64>,
}

impl FakeQuay {
    /// `scans` is keyed by manifest digest (`sha256:…`).
    pub async fn start(config: QuayConfig, scans: HashMap<String, Scan>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicU64::new(0));
        let shared = Arc::new(Shared {
            config,
            scans,
            requests: requests.clone(),
            count: count.clone(),
        });
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, &shared).await;
                });
            }
        });
        FakeQuay {
            port,
            requests,
            count,
            task,
        }
    }

    /// `http://127.0.0.1:<port>`, for `policy.quay_api`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("requests lock").clone()
    }
}

impl Drop for FakeQuay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(stream: tokio::net::TcpStream, shared: &Shared) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let target = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let mut authorization = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).await? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.trim().eq_ignore_ascii_case("authorization")
        {
            authorization = Some(value.trim().to_string());
        }
    }
    let (status, extra, body) = respond(&target, authorization.as_deref(), shared);
    let head = format!(
        "HTTP/1.1 {status} Fake\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
        body.len()
    );
    let mut stream = reader.into_inner();
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

fn respond(target: &str, authorization: Option<&str>, shared: &Shared) -> (u16, String, String) {
    let seen = shared.count.fetch_add(1, Ordering::SeqCst) + 1;
    if shared.config.always_429 || seen <= shared.config.rate_limited_first {
        return (
            429,
            "Retry-After: 0\r\n".into(),
            r#"{"error":"rate limited"}"#.into(),
        );
    }
    if let Some(token) = &shared.config.token
        && authorization != Some(&format!("Bearer {token}"))
    {
        return (401, String::new(), r#"{"error":"unauthorized"}"#.into());
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // api/v1/repository/{ns}/{repo}/manifest/{digest}/security
    let [
        "api",
        "v1",
        "repository",
        namespace,
        repo,
        "manifest",
        digest,
        "security",
    ] = parts.as_slice()
    else {
        return (404, String::new(), r#"{"error":"not found"}"#.into());
    };
    shared
        .requests
        .lock()
        .expect("requests lock")
        .push(format!("{namespace}/{repo}@{digest}"));
    let Some(scan) = shared.scans.get(*digest) else {
        return (
            404,
            String::new(),
            r#"{"error_message":"Not Found"}"#.into(),
        );
    };
    let with_vulnerabilities = query.contains("vulnerabilities=true");
    let body = match scan {
        Scan::Queued => r#"{"status":"queued","data":null}"#.to_string(),
        Scan::Failed => r#"{"status":"failed","data":null}"#.to_string(),
        Scan::Unsupported => r#"{"status":"unsupported","data":null}"#.to_string(),
        Scan::Scanned(found) => {
            let mut features: Vec<serde_json::Value> = Vec::new();
            for (id, severity, package, installed, fixed) in found {
                let vulnerability = serde_json::json!({
                    "Severity": severity, "Name": id, "FixedBy": fixed,
                    "Link": format!("https://access.redhat.com/security/cve/{id}"),
                    "NamespaceName": "debian:12", "Description": "test", "Metadata": {}
                });
                let listed = if with_vulnerabilities {
                    vec![vulnerability]
                } else {
                    vec![]
                };
                features.push(serde_json::json!({
                    "Name": package, "Version": installed, "VersionFormat": "dpkg",
                    "NamespaceName": "debian:12", "AddedBy": "sha256:abc",
                    "Vulnerabilities": listed
                }));
            }
            features.push(serde_json::json!({
                "Name": "bash", "Version": "5.2", "Vulnerabilities": []
            }));
            serde_json::json!({
                "status": "scanned",
                "data": {"Layer": {"Name": "layer", "ParentName": "", "NamespaceName": "",
                    "IndexedByVersion": 4, "Features": features}}
            })
            .to_string()
        }
    };
    (200, String::new(), body)
}
