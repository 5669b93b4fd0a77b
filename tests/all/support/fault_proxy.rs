//! A fault-injecting HTTP proxy on an ephemeral 127.0.0.1 port, in front of
//! a real registry: a seeded share of requests is answered 429
//! (`Retry-After: 0`) or 503 instead of being forwarded. The real registry
//! keeps all its behaviour; only the faults are made up.
//!
//! The same request (method and path) is never failed more than
//! [`MAX_FAULTS_IN_A_ROW`] times in a row, so a client that retries a few
//! times always gets through: the tests assert that the result is right, not
//! how lucky the dice were. Which requests fail depends on arrival order, so
//! a concurrent client sees a different (but always bounded) fault pattern
//! each run.
//!
//! One request per connection (`Connection: close` both ways), bodies only
//! with `Content-Length`: enough for a registry client's reads and small
//! writes.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Consecutive faults one request can get; clients make 5 attempts.
pub const MAX_FAULTS_IN_A_ROW: u32 = 2;

pub struct FaultProxy {
    pub port: u16,
    /// Requests received, faults included.
    pub requests: Arc<AtomicU64>,
    /// Requests answered with a made-up 429 or 503.
    pub faults: Arc<AtomicU64>,
    percent: Arc<AtomicU32>,
    task: tokio::task::JoinHandle<()>,
}

struct Dice {
    rng: StdRng,
    /// Faults in a row per `METHOD path?query`.
    streaks: HashMap<String, u32>,
}

impl Dice {
    /// `Some(status)` to fail this request.
    fn roll(&mut self, key: &str, percent: u32) -> Option<u16> {
        let streak = self.streaks.entry(key.to_string()).or_default();
        let fail = *streak < MAX_FAULTS_IN_A_ROW && self.rng.gen_range(0..100) < percent;
        if !fail {
            *streak = 0;
            return None;
        }
        *streak += 1;
        Some(if self.rng.gen_bool(0.5) { 429 } else { 503 })
    }
}

struct Shared {
    upstream_port: u16,
    percent: Arc<AtomicU32>,
    dice: Mutex<Dice>,
    requests: Arc<AtomicU64>,
    faults: Arc<AtomicU64>,
}

impl FaultProxy {
    /// Proxies to `127.0.0.1:<upstream_port>`, failing about `percent` % of
    /// requests, chosen by a generator seeded with `seed`.
    pub async fn start(upstream_port: u16, percent: u32, seed: u64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        let requests = Arc::new(AtomicU64::new(0));
        let faults = Arc::new(AtomicU64::new(0));
        let percent = Arc::new(AtomicU32::new(percent));
        let shared = Arc::new(Shared {
            upstream_port,
            percent: percent.clone(),
            dice: Mutex::new(Dice {
                rng: StdRng::seed_from_u64(seed),
                streaks: HashMap::new(),
            }),
            requests: requests.clone(),
            faults: faults.clone(),
        });
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, &shared).await;
                });
            }
        });
        FaultProxy {
            port,
            requests,
            faults,
            percent,
            task,
        }
    }

    /// Changes the share of failed requests from now on (0 passes all).
    pub fn set_fault_percent(&self, percent: u32) {
        self.percent.store(percent, Ordering::Relaxed);
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).await? == 0 {
        return Ok(());
    }
    let mut head = request_line.clone();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).await? == 0 || header.trim().is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        if name == "content-length" {
            length = value.trim().parse().unwrap_or(0);
        }
        // The upstream must close after its answer: we copy until EOF.
        if name != "connection" && name != "keep-alive" {
            head.push_str(&header);
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    let mut client = reader.into_inner();
    shared.requests.fetch_add(1, Ordering::Relaxed);

    let key: String = request_line
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let fault = shared
        .dice
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .roll(&key, shared.percent.load(Ordering::Relaxed));
    if let Some(status) = fault {
        shared.faults.fetch_add(1, Ordering::Relaxed);
        let (reason, code, extra) = match status {
            429 => ("Too Many Requests", "TOOMANYREQUESTS", "Retry-After: 0\r\n"),
            _ => ("Service Unavailable", "UNAVAILABLE", ""),
        };
        let body = format!(r#"{{"errors":[{{"code":"{code}","message":"injected fault"}}]}}"#);
        let answer = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
            body.len()
        );
        client.write_all(answer.as_bytes()).await?;
        return client.shutdown().await;
    }

    let mut upstream = TcpStream::connect(("127.0.0.1", shared.upstream_port)).await?;
    upstream.write_all(head.as_bytes()).await?;
    upstream.write_all(&body).await?;
    tokio::io::copy(&mut upstream, &mut client).await?;
    client.shutdown().await
}
