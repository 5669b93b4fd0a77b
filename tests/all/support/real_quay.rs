//! The real Quay (v3.18, from `../shared/quay/`) for tests: one instance per
//! test run — PostgreSQL, Redis and Quay's gunicorn app on free loopback
//! ports, started by `scripts/quay/start.sh` on first use and shared by every
//! test, each of which makes its own organizations, repositories and robots
//! through Quay's API. A watchdog started with it stops every process by PID
//! and removes its folder as soon as the test binary is gone. Quay's own
//! security worker runs beside it, indexing every pushed manifest through a
//! stand-in for Clair v4 served by this test binary (`support::clair`), on
//! the port Quay's config names as `SECURITY_SCANNER_V4_ENDPOINT`.
//!
//! Where Quay is not installed (no `../shared/quay`, or `scripts/quay/setup.sh`
//! not run) the Quay tests say so once on stderr and return; with
//! `QUAYSIDE_REQUIRE_QUAY=1` (what `scripts/test` sets when it installed
//! Quay) they fail instead, so CI cannot pass without having run them.

use crate::quayside::repo_root;
use crate::support::clair::Clair;
use base64::Engine as _;
use quayside::config::location::{RepositoryLocation, Scheme};
use quayside::registry::Connector;
use quayside::registry::distribution::{ClientOptions, CredentialEnv};
use reqwest::Method;
use serde_json::{Value, json};
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Once, OnceLock};

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "password123";

pub struct RealQuay {
    pub port: u16,
    /// The admin's OAuth token, for the REST API.
    token: String,
    /// Where the instance's state and logs are (removed by the watchdog).
    pub work: PathBuf,
    names: AtomicU32,
    /// The Clair v4 stand-in Quay's security worker and API call.
    clair: Clair,
}

static QUAY: OnceLock<Result<RealQuay, String>> = OnceLock::new();
static REPORTED: Once = Once::new();

/// The shared Quay, started on first use; `None` (said once) where it is not
/// installed and not required.
pub fn shared() -> Option<&'static RealQuay> {
    match QUAY.get_or_init(start) {
        Ok(quay) => Some(quay),
        Err(reason) => {
            if std::env::var("QUAYSIDE_REQUIRE_QUAY").as_deref() == Ok("1") {
                panic!("the real Quay is required (QUAYSIDE_REQUIRE_QUAY=1) but {reason}");
            }
            REPORTED.call_once(|| {
                // Straight to the stream: libtest captures `eprintln!`.
                let _ = writeln!(
                    std::io::stderr(),
                    "\nquayside: the real-Quay tests did NOT run: {reason}. Run `scripts/test` \
                     (it installs Quay from ../shared/quay) to run them.\n"
                );
            });
            None
        }
    }
}

fn quay_home() -> PathBuf {
    if let Some(home) = std::env::var_os("QUAYSIDE_QUAY_HOME") {
        return PathBuf::from(home);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    cache.join("quayside/quay-3.18.0")
}

fn start() -> Result<RealQuay, String> {
    let home = quay_home();
    if !home.join("venv/.complete").exists() {
        let dist = repo_root().join("../shared/quay");
        return Err(if dist.join("quay-v3.18.0-trim.tgz").exists() {
            format!("Quay is not installed in {}", home.display())
        } else {
            format!(
                "there is no Quay source at {} and none installed in {}",
                dist.display(),
                home.display()
            )
        });
    }
    let mut last = String::new();
    // A port found free can be taken before Quay binds it: try again.
    for _ in 0..2 {
        match try_start(&home) {
            Ok(quay) => return Ok(quay),
            Err(error) => last = error,
        }
    }
    Err(format!("it could not be started: {last}"))
}

fn try_start(home: &Path) -> Result<RealQuay, String> {
    let work = tempfile::Builder::new()
        .prefix("quayside-quay-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    // Quay, PostgreSQL, Redis; the Clair stand-in holds its own port.
    let ports = free_ports(3)?;
    let clair = Clair::start()?;
    let started = std::time::Instant::now();
    let output = Command::new(repo_root().join("scripts/quay/start.sh"))
        .env("QUAYSIDE_QUAY_HOME", home)
        .env("QUAY_WORK", &work)
        .env("QUAY_PORT", ports[0].to_string())
        .env("PG_PORT", ports[1].to_string())
        .env("REDIS_PORT", ports[2].to_string())
        .env("CLAIR_PORT", clair.port.to_string())
        .env("QUAY_WATCH_PID", std::process::id().to_string())
        .output()
        .map_err(|e| format!("scripts/quay/start.sh: {e}"))?;
    let init = std::fs::read_to_string(work.join("init.json")).unwrap_or_default();
    let token = serde_json::from_str::<Value>(&init)
        .ok()
        .and_then(|v| v["access_token"].as_str().map(str::to_string));
    match (output.status.success(), token) {
        (true, Some(token)) => {
            let _ = writeln!(
                std::io::stderr(),
                "quayside tests: real Quay on 127.0.0.1:{} ready in {:.1} s ({})",
                ports[0],
                started.elapsed().as_secs_f64(),
                work.display()
            );
            Ok(RealQuay {
                port: ports[0],
                token,
                work,
                names: AtomicU32::new(0),
                clair,
            })
        }
        _ => {
            let log = std::fs::read_to_string(work.join("gunicorn.log")).unwrap_or_default();
            let tail: String = log.lines().rev().take(15).collect::<Vec<_>>().join("\n");
            // The watchdog stops what started; stop now to free the ports.
            let _ = Command::new(repo_root().join("scripts/quay/stop.sh"))
                .env("QUAY_WORK", &work)
                .status();
            Err(format!(
                "start.sh exited {}: {}{}\n{tail}",
                output.status,
                String::from_utf8_lossy(&output.stderr),
                String::from_utf8_lossy(&output.stdout)
            ))
        }
    }
}

fn free_ports(count: usize) -> Result<Vec<u16>, String> {
    // Hold all listeners at once so the ports differ.
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()).map_err(|e| e.to_string()))
        .collect()
}

/// A robot account: `org+name` and its token.
#[derive(Clone, Debug)]
pub struct Robot {
    pub name: String,
    pub token: String,
}

impl RealQuay {
    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn location(&self, path: &str) -> RepositoryLocation {
        RepositoryLocation::Remote {
            scheme: Scheme::Http,
            host: self.host(),
            path: path.to_string(),
        }
    }

    /// The Clair v4 stand-in behind this Quay: what it answers per manifest.
    pub fn clair(&self) -> &Clair {
        &self.clair
    }

    /// The admin's OAuth token (for `QUAY_API_TOKEN`: it may read every
    /// repository).
    pub fn admin_token(&self) -> &str {
        &self.token
    }

    /// A name no other test of this run has, starting with `prefix`.
    pub fn unique(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.names.fetch_add(1, Ordering::Relaxed))
    }

    /// A REST call as the admin: `(status, JSON body or Null)`.
    pub async fn api(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!(
            "http://{}/api/v1/{}",
            self.host(),
            path.trim_start_matches('/')
        );
        quayside::registry::distribution::install_tls_provider();
        let mut request = reqwest::Client::new()
            .request(method.clone(), &url)
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A REST call that must succeed (2xx); its JSON answer.
    pub async fn api_ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.api(method.clone(), path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} /api/v1/{path}: HTTP {status} {answer}"
        );
        answer
    }

    /// A new organization named `<prefix><n>`.
    pub async fn organization(&self, prefix: &str) -> String {
        let name = self.unique(prefix);
        self.api_ok(
            Method::POST,
            "organization/",
            Some(json!({"name": name, "email": format!("{name}@example.com")})),
        )
        .await;
        name
    }

    /// A new private, empty repository `org/name`.
    pub async fn repository(&self, org: &str, name: &str) {
        self.api_ok(
            Method::POST,
            "repository",
            Some(
                json!({"namespace": org, "repository": name, "visibility": "private",
                        "description": "", "repo_kind": "image"}),
            ),
        )
        .await;
    }

    /// A new robot `org+name`.
    pub async fn robot(&self, org: &str, name: &str) -> Robot {
        let answer = self
            .api_ok(
                Method::PUT,
                &format!("organization/{org}/robots/{name}"),
                Some(json!({})),
            )
            .await;
        Robot {
            name: answer["name"].as_str().expect("robot name").to_string(),
            token: answer["token"].as_str().expect("robot token").to_string(),
        }
    }

    /// Gives `robot` `role` (`read`, `write`, `admin`) on `org/repository`.
    pub async fn grant(&self, org: &str, repository: &str, robot: &Robot, role: &str) {
        self.api_ok(
            Method::PUT,
            &format!(
                "repository/{org}/{repository}/permissions/user/{}",
                robot.name
            ),
            Some(json!({"role": role})),
        )
        .await;
    }

    /// Active tags of `org/repository` from the REST API (not the cached
    /// `/v2/…/tags/list`): `(name, manifest digest, start_ts, immutable)`.
    pub async fn rest_tags(&self, org: &str, repository: &str) -> Vec<(String, String, i64, bool)> {
        let mut tags = Vec::new();
        for page in 1..100 {
            let answer = self
                .api_ok(
                    Method::GET,
                    &format!(
                        "repository/{org}/{repository}/tag/?onlyActiveTags=true&limit=100&page={page}"
                    ),
                    None,
                )
                .await;
            for tag in answer["tags"].as_array().into_iter().flatten() {
                tags.push((
                    tag["name"].as_str().unwrap_or_default().to_string(),
                    tag["manifest_digest"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    tag["start_ts"].as_i64().unwrap_or_default(),
                    tag["immutable"].as_bool().unwrap_or(false),
                ));
            }
            if answer["has_additional"].as_bool() != Some(true) {
                break;
            }
        }
        tags.sort();
        tags
    }

    /// A docker `config.json` folder under `dir` whose `auths` map each key
    /// (`host`, `host/org`, `host/org/repo`) to `(user, password)`.
    pub fn docker_config(&self, dir: &Path, auths: &[(String, String, String)]) -> PathBuf {
        let encode = |user: &str, password: &str| {
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        };
        let mut entries = serde_json::Map::new();
        for (key, user, password) in auths {
            entries.insert(key.clone(), json!({"auth": encode(user, password)}));
        }
        let folder = dir.join("docker");
        std::fs::create_dir_all(&folder).expect("create docker config dir");
        std::fs::write(
            folder.join("config.json"),
            json!({"auths": entries}).to_string(),
        )
        .expect("write config.json");
        folder
    }

    /// A connector that talks to Quay as the admin (pushing fixtures,
    /// checking what quayside wrote).
    pub fn admin_connector(&self) -> Arc<Connector> {
        let dir = self.work.join("admin-docker");
        let folder = self.docker_config(
            &dir,
            &[(self.host(), ADMIN.to_string(), ADMIN_PASSWORD.to_string())],
        );
        Arc::new(Connector::new(ClientOptions {
            credentials: CredentialEnv {
                docker_config_dir: Some(folder),
                ..CredentialEnv::anonymous()
            },
            ..ClientOptions::default()
        }))
    }
}
