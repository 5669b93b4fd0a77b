//! A real registry for tests: Debian's `docker-registry` (the CNCF
//! distribution registry) on a free 127.0.0.1 port with its own storage,
//! optionally behind htpasswd basic auth; killed by PID on drop.

use quayside::config::location::{RepositoryLocation, Scheme};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the registry binary is; `.ci/run` installs the Debian package.
const BINARY: &str = "/usr/bin/docker-registry";

pub struct TestRegistry {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl TestRegistry {
    /// An anonymous registry (push and pull open to everyone).
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// A registry that requires `user`/`password` (htpasswd, bcrypt).
    pub fn start_with_basic_auth(user: &str, password: &str) -> Self {
        Self::start_with(Some((user, password)))
    }

    fn start_with(auth: Option<(&str, &str)>) -> Self {
        super::tools::require(super::tools::DOCKER_REGISTRY);
        if auth.is_some() {
            super::tools::require(super::tools::HTPASSWD);
        }
        let mut last_error = String::new();
        // A port found free can be taken before the registry binds it: retry.
        for _ in 0..3 {
            match Self::try_start(auth) {
                Ok(registry) => return registry,
                Err(error) => last_error = error,
            }
        }
        panic!("cannot start {BINARY}: {last_error}");
    }

    fn try_start(auth: Option<(&str, &str)>) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = free_port()?;
        let storage = dir.path().join("storage");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            storage.display()
        );
        if let Some((user, password)) = auth {
            let htpasswd = dir.path().join("htpasswd");
            let output = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .map_err(|e| format!("htpasswd (apache2-utils): {e}"))?;
            if !output.status.success() {
                return Err(format!("htpasswd failed: {}", output.status));
            }
            std::fs::write(&htpasswd, &output.stdout).map_err(|e| e.to_string())?;
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: basic\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).map_err(|e| e.to_string())?;
        let log =
            std::fs::File::create(dir.path().join("registry.log")).map_err(|e| e.to_string())?;
        let child = Command::new(BINARY)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut registry = TestRegistry { child, port, dir };
        registry.wait_ready()?;
        Ok(registry)
    }

    /// Waits until `/v2/` answers (200, or 401 behind auth).
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("it exited with {status}: {}", self.log()));
            }
            if let Some(status) = probe(self.port)
                && (status.starts_with("HTTP/1.1 200") || status.starts_with("HTTP/1.1 401"))
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "no answer on port {} within 15 s: {}",
            self.port,
            self.log()
        ))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<port>/<path>`.
    pub fn location(&self, path: &str) -> RepositoryLocation {
        RepositoryLocation::Remote {
            scheme: Scheme::Http,
            host: self.host(),
            path: path.to_string(),
        }
    }

    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        // Our own child, by PID: never a broad kill.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener
        .local_addr()
        .map(|address| address.port())
        .map_err(|e| e.to_string())
}

/// The status line of `GET /v2/`, if anything answers.
fn probe(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    stream
        .write_all(b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut buffer = [0u8; 64];
    let read = stream.read(&mut buffer).ok()?;
    Some(String::from_utf8_lossy(&buffer[..read]).to_string())
}
