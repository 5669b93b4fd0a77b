//! Registry credentials from where the ecosystem keeps them (SPEC section 6):
//! the docker `config.json` (`auths`, `credHelpers`, `credsStore`), then the
//! containers `auth.json`; anonymous otherwise. Secrets are wrapped in
//! `SecretString` as soon as they are read, and no error quotes file content.

use base64::Engine as _;
use secrecy::SecretString;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// The environment credential lookup depends on, captured once so that tests
/// (and embedders) can point it elsewhere without touching process variables.
#[derive(Clone, Debug, Default)]
pub struct CredentialEnv {
    /// `$DOCKER_CONFIG`: a directory holding `config.json`.
    pub docker_config_dir: Option<PathBuf>,
    /// `$HOME`, for `~/.docker/config.json`.
    pub home: Option<PathBuf>,
    /// `$REGISTRY_AUTH_FILE`: a containers `auth.json`.
    pub registry_auth_file: Option<PathBuf>,
    /// `$XDG_RUNTIME_DIR`, for `containers/auth.json` below it.
    pub xdg_runtime_dir: Option<PathBuf>,
}

impl CredentialEnv {
    pub fn from_process() -> Self {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
        };
        CredentialEnv {
            docker_config_dir: var("DOCKER_CONFIG"),
            home: var("HOME"),
            registry_auth_file: var("REGISTRY_AUTH_FILE"),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR"),
        }
    }

    /// No credential files at all: every registry is accessed anonymously.
    pub fn anonymous() -> Self {
        CredentialEnv::default()
    }

    fn docker_config(&self) -> Option<PathBuf> {
        match (&self.docker_config_dir, &self.home) {
            (Some(dir), _) => Some(dir.join("config.json")),
            (None, Some(home)) => Some(home.join(".docker").join("config.json")),
            (None, None) => None,
        }
    }

    fn auth_file(&self) -> Option<PathBuf> {
        self.registry_auth_file.clone().or_else(|| {
            self.xdg_runtime_dir
                .as_ref()
                .map(|dir| dir.join("containers").join("auth.json"))
        })
    }
}

/// What a credential proves.
#[derive(Clone, Debug)]
pub(crate) enum Secret {
    Basic {
        username: String,
        password: SecretString,
    },
    /// An OAuth2 refresh token (`identitytoken`), exchanged at the token realm.
    IdentityToken(SecretString),
}

/// A credential and where it came from, for error messages.
#[derive(Clone, Debug)]
pub(crate) struct Credential {
    pub secret: Secret,
    pub source: CredentialSource,
}

/// Where a credential was found (or which files were searched), in words a
/// user can act on; never the secret itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CredentialSource {
    Found(String),
    Anonymous { searched: Vec<PathBuf> },
}

impl std::fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialSource::Found(text) => f.write_str(text),
            CredentialSource::Anonymous { searched } if searched.is_empty() => {
                f.write_str("no credentials (no credential file location is known: HOME, DOCKER_CONFIG, REGISTRY_AUTH_FILE are unset)")
            }
            CredentialSource::Anonymous { searched } => {
                let files: Vec<String> = searched.iter().map(|p| p.display().to_string()).collect();
                write!(f, "no credentials (searched {})", files.join(", "))
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum CredentialError {
    #[error("cannot read {path}: {source}; fix its permissions or remove it")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    // The serde message is left out on purpose: it can quote the file's
    // content, which holds secrets.
    #[error(
        "{path}:{line}:{column}: not a valid credential file ({category}); fix it or point DOCKER_CONFIG / REGISTRY_AUTH_FILE elsewhere"
    )]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        category: &'static str,
    },
    #[error(
        "{path}: the `auth` entry for {key} is not base64 of `user:password`; run `docker login` again"
    )]
    BadAuth { path: PathBuf, key: String },
    /// A helper's failure, kept for the other repositories of its host.
    #[error("{0}")]
    Repeated(String),
    #[error("credential helper docker-credential-{helper} ({origin}) failed: {message}")]
    Helper {
        helper: String,
        origin: String,
        message: String,
    },
}

#[derive(Deserialize, Default)]
struct ConfigFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(rename = "credHelpers", default)]
    cred_helpers: HashMap<String, String>,
    #[serde(rename = "credsStore", default)]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// The credential for `repository` (its path, `team/app`) on `host`, looked
/// up in the SPEC's order: the docker config (helpers, `auths`,
/// `credsStore`), then the containers `auth.json`. In `auths`, a key scoped to
/// a namespace or repository (`host/team`, `host/team/app`) wins over the
/// host key when it matches, the longest such key first
/// (containers-auth.json(5)). Helpers answer per host; `helpers` keeps their
/// answers so that each runs once per host and run, however many
/// repositories ask.
pub(crate) async fn lookup(
    env: &CredentialEnv,
    host: &str,
    repository: &str,
    helpers: &HelperCache,
) -> Result<Lookup, CredentialError> {
    let mut searched = Vec::new();
    for (path, kind) in [
        (env.docker_config(), "docker config"),
        (env.auth_file(), "containers auth"),
    ] {
        let Some(path) = path else { continue };
        if let Some(config) = read_config(&path).await?
            && let Some(found) =
                from_config(&config, &path, kind, host, repository, helpers).await?
        {
            return Ok(Lookup {
                secret: Some(found.secret),
                source: found.source,
            });
        }
        searched.push(path);
    }
    Ok(Lookup {
        secret: None,
        source: CredentialSource::Anonymous { searched },
    })
}

/// The outcome of a lookup: a secret, or none, and where we looked.
#[derive(Clone, Debug)]
pub(crate) struct Lookup {
    pub secret: Option<Secret>,
    pub source: CredentialSource,
}

impl Lookup {
    /// Which credential this is, without the secret: lookups with equal
    /// identities may share bearer tokens, others must not.
    pub fn identity(&self) -> String {
        self.source.to_string()
    }
}

/// Answers of credential helpers by program and server, errors included (as
/// their message), so that a host's helper runs once however many
/// repositories are looked up. The lock is held while a helper runs, so that
/// concurrent lookups wait for one helper process instead of each starting
/// their own.
#[derive(Default)]
pub(crate) struct HelperCache {
    answers: tokio::sync::Mutex<HashMap<(String, String), HelperAnswer>>,
}

/// A helper's credential (or none: it does not know the host), or the
/// message of its failure.
type HelperAnswer = Result<Option<Credential>, String>;

async fn read_config(path: &Path) -> Result<Option<ConfigFile>, CredentialError> {
    let text = match tokio::fs::read(path).await {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CredentialError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|error| CredentialError::Parse {
            path: path.to_path_buf(),
            line: error.line(),
            column: error.column(),
            category: match error.classify() {
                serde_json::error::Category::Syntax => "JSON syntax error",
                serde_json::error::Category::Eof => "JSON ends early",
                serde_json::error::Category::Data => "unexpected value type",
                serde_json::error::Category::Io => "read error",
            },
        })
}

async fn from_config(
    config: &ConfigFile,
    path: &Path,
    kind: &str,
    host: &str,
    repository: &str,
    helpers: &HelperCache,
) -> Result<Option<Credential>, CredentialError> {
    if let Some(helper) = find(&config.cred_helpers, host) {
        let origin = format!("credHelpers in {}", path.display());
        return cached_helper(helpers, helper, &origin, host).await;
    }
    if let Some((key, entry)) = find_scoped(&config.auths, host, repository) {
        let source = CredentialSource::Found(match key_scope(key) {
            (_, Some(scope)) => format!(
                "credentials from {} ({kind}, auths for {}/{scope})",
                path.display(),
                canonical_host(key)
            ),
            (_, None) => format!("credentials from {} ({kind}, auths)", path.display()),
        });
        if let Some(token) = entry.identitytoken.as_ref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credential {
                secret: Secret::IdentityToken(SecretString::from(token.clone())),
                source,
            }));
        }
        if let Some(auth) = entry.auth.as_ref().filter(|a| !a.is_empty()) {
            let bad = || CredentialError::BadAuth {
                path: path.to_path_buf(),
                key: host.to_string(),
            };
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| bad())?;
            let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
            let (username, password) = decoded.split_once(':').ok_or_else(bad)?;
            return Ok(Some(Credential {
                secret: Secret::Basic {
                    username: username.to_string(),
                    password: SecretString::from(password.to_string()),
                },
                source,
            }));
        }
    }
    if let Some(store) = config.creds_store.as_ref().filter(|s| !s.is_empty()) {
        let origin = format!("credsStore in {}", path.display());
        return cached_helper(helpers, store, &origin, host).await;
    }
    Ok(None)
}

async fn cached_helper(
    helpers: &HelperCache,
    helper: &str,
    origin: &str,
    host: &str,
) -> Result<Option<Credential>, CredentialError> {
    let mut answers = helpers.answers.lock().await;
    let key = (helper.to_string(), canonical_host(host));
    let answer = match answers.get(&key) {
        Some(answer) => answer.clone(),
        None => {
            let answer = run_helper(helper, origin, host)
                .await
                .map_err(|error| error.to_string());
            answers.insert(key, answer.clone());
            answer
        }
    };
    answer.map_err(CredentialError::Repeated)
}

/// The `auths` entry for `repository` on `host`: the key naming the longest
/// path prefix of the repository (on `/` boundaries), else the host key.
fn find_scoped<'a, T>(
    map: &'a HashMap<String, T>,
    host: &str,
    repository: &str,
) -> Option<(&'a str, &'a T)> {
    let wanted = canonical_host(host);
    let repository = canonical_repository(&wanted, repository);
    map.iter()
        .filter(|(key, _)| canonical_host(key) == wanted)
        .filter_map(|(key, value)| match key_scope(key) {
            (_, None) => Some((0, key, value)),
            (_, Some(scope)) => {
                // Scopes are namespaces as written: only the repository
                // gets Docker Hub's implicit `library/`.
                let scope = scope.trim_matches('/');
                let inside = repository == scope
                    || repository
                        .strip_prefix(scope)
                        .is_some_and(|rest| rest.starts_with('/'));
                inside.then_some((scope.len(), key, value))
            }
        })
        // Longest scope first; among equal ones (`host` and `https://host`),
        // the smallest key, so that the choice does not depend on hash order.
        .max_by(|(a, a_key, _), (b, b_key, _)| a.cmp(b).then_with(|| b_key.cmp(a_key)))
        .map(|(_, key, value)| (key.as_str(), value))
}

/// A key's host and, for keys without a scheme, the repository path it is
/// scoped to. Keys with a scheme are the legacy docker form
/// (`https://index.docker.io/v1/`), whose path is an API version, not a scope.
fn key_scope(key: &str) -> (&str, Option<&str>) {
    let stripped = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"));
    let (host, path) = match stripped {
        Some(rest) => (rest.split('/').next().unwrap_or(rest), None),
        None => match key.split_once('/') {
            Some((host, path)) => (host, Some(path.trim_end_matches('/'))),
            None => (key, None),
        },
    };
    (host, path.filter(|path| !path.is_empty()))
}

/// Docker Hub's official images live under `library/`: `nginx` there is
/// `library/nginx`, so that a `docker.io/library` key covers it.
fn canonical_repository(canonical_host: &str, repository: &str) -> String {
    let repository = repository.trim_matches('/');
    if canonical_host == "docker.io" && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository.to_string()
    }
}

/// The entry for `host` in a map keyed the many ways `docker login` and
/// `podman login` write registries (`host`, `https://host`, `https://host/v1/`).
fn find<'a, T>(map: &'a HashMap<String, T>, host: &str) -> Option<&'a T> {
    let wanted = canonical_host(host);
    map.iter()
        .find(|(key, _)| canonical_host(key) == wanted)
        .map(|(_, value)| value)
}

fn canonical_host(key: &str) -> String {
    let key = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = key.split('/').next().unwrap_or(key).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_string(),
        _ => host,
    }
}

#[derive(Deserialize)]
struct HelperOutput {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Runs `docker-credential-<helper> get` with the server on stdin.
async fn run_helper(
    helper: &str,
    origin: &str,
    host: &str,
) -> Result<Option<Credential>, CredentialError> {
    let failed = |message: String| CredentialError::Helper {
        helper: helper.to_string(),
        origin: origin.to_string(),
        message,
    };
    let program = format!("docker-credential-{helper}");
    let mut child = tokio::process::Command::new(&program)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| {
            failed(format!(
                "cannot start `{program}`: {error}; install it or remove it from the docker config"
            ))
        })?;
    let server = if canonical_host(host) == "docker.io" {
        "https://index.docker.io/v1/".to_string()
    } else {
        host.to_string()
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(server.as_bytes())
            .await
            .map_err(|error| failed(format!("cannot write to it: {error}")))?;
    }
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .map_err(|_| failed("no answer within 30 s".to_string()))?
        .map_err(|error| failed(format!("cannot read its answer: {error}")))?;
    if !output.status.success() {
        // Helpers report "credentials not found" on stdout: that is not an
        // error, the registry is then accessed anonymously.
        let said = String::from_utf8_lossy(&output.stdout).to_ascii_lowercase();
        if said.contains("not found") {
            return Ok(None);
        }
        let said = helper_message(&output.stderr)
            .or_else(|| helper_message(&output.stdout))
            .map(|text| format!(" saying \"{text}\""))
            .unwrap_or_default();
        return Err(failed(format!(
            "for {host}: it exited with {}{said}; run `docker login {host}` again",
            output.status
        )));
    }
    let answer: HelperOutput = serde_json::from_slice(&output.stdout)
        .map_err(|_| failed("its answer is not the expected JSON".to_string()))?;
    let source = CredentialSource::Found(format!("credentials from {program} ({origin})"));
    let secret = if answer.username == "<token>" {
        Secret::IdentityToken(SecretString::from(answer.secret))
    } else {
        Secret::Basic {
            username: answer.username,
            password: SecretString::from(answer.secret),
        }
    };
    Ok(Some(Credential { secret, source }))
}

/// The first line of what a failing helper printed, for the error message;
/// `None` when empty or when it looks like a JSON answer, which could hold a
/// secret. Capped, so that a chatty helper cannot flood the terminal.
fn helper_message(output: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(output);
    let line = text.lines().map(str::trim).find(|line| !line.is_empty())?;
    if line.starts_with('{') || line.contains("\"Secret\"") {
        return None;
    }
    let mut line: String = line.chars().filter(|c| !c.is_control()).take(200).collect();
    if text.trim().chars().count() > line.chars().count() {
        line.push('…');
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn env_with_docker_config(text: &str) -> (tempfile::TempDir, CredentialEnv) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("config.json"), text).expect("write config");
        let env = CredentialEnv {
            docker_config_dir: Some(dir.path().to_path_buf()),
            ..CredentialEnv::default()
        };
        (dir, env)
    }

    #[tokio::test]
    async fn reads_basic_auth_from_docker_config_whatever_the_key_form() {
        // base64("robot+ci:s3cret")
        let (_dir, env) = env_with_docker_config(
            r#"{"auths":{"https://quay.io/v1/":{"auth":"cm9ib3QrY2k6czNjcmV0"}}}"#,
        );
        let lookup = lookup(&env, "quay.io", "team/app", &HelperCache::default())
            .await
            .expect("lookup");
        match lookup.secret {
            Some(Secret::Basic { username, password }) => {
                assert_eq!(username, "robot+ci");
                assert_eq!(password.expose_secret(), "s3cret");
            }
            other => panic!("expected basic credentials, got {other:?}"),
        }
        assert!(
            lookup
                .source
                .to_string()
                .contains("config.json (docker config, auths)")
        );
        assert!(!format!("{:?}", lookup.source).contains("s3cret"));
    }

    #[tokio::test]
    async fn reads_identity_tokens_and_falls_back_to_auth_json() {
        let (_dir, mut env) =
            env_with_docker_config(r#"{"auths":{"other.io":{"identitytoken":"tok"}}}"#);
        let auth_dir = tempfile::tempdir().expect("temp dir");
        let auth_file = auth_dir.path().join("auth.json");
        std::fs::write(&auth_file, r#"{"auths":{"quay.io":{"auth":"dTpw"}}}"#).expect("write");
        env.registry_auth_file = Some(auth_file);
        let found = lookup(&env, "other.io", "team/app", &HelperCache::default())
            .await
            .expect("lookup");
        assert!(matches!(found.secret, Some(Secret::IdentityToken(_))));
        let found = lookup(&env, "quay.io", "team/app", &HelperCache::default())
            .await
            .expect("lookup");
        assert!(
            found
                .source
                .to_string()
                .contains("auth.json (containers auth, auths)")
        );
        let none = lookup(&env, "ghcr.io", "team/app", &HelperCache::default())
            .await
            .expect("lookup");
        assert!(none.secret.is_none());
        assert!(
            none.source
                .to_string()
                .starts_with("no credentials (searched ")
        );
    }

    #[tokio::test]
    async fn malformed_files_are_reported_without_their_content() {
        let (_dir, env) = env_with_docker_config(r#"{"auths":{"quay.io":{"auth":["hunter2"]}}}"#);
        let error = lookup(&env, "quay.io", "team/app", &HelperCache::default())
            .await
            .expect_err("malformed")
            .to_string();
        assert!(error.contains("config.json:1:"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");

        let (_dir, env) =
            env_with_docker_config(r#"{"auths":{"quay.io":{"auth":"bm9jb2xvbg=="}}}"#);
        let error = lookup(&env, "quay.io", "team/app", &HelperCache::default())
            .await
            .expect_err("no colon")
            .to_string();
        assert!(error.contains("not base64 of `user:password`"), "{error}");
    }

    #[tokio::test]
    async fn a_missing_helper_is_an_error_naming_it() {
        let (_dir, env) = env_with_docker_config(r#"{"credsStore":"quayside-test-absent-helper"}"#);
        let error = lookup(&env, "quay.io", "team/app", &HelperCache::default())
            .await
            .expect_err("no helper")
            .to_string();
        assert!(
            error.contains("docker-credential-quayside-test-absent-helper"),
            "{error}"
        );
        assert!(error.contains("credsStore in"), "{error}");
    }

    fn keys(entries: &[&str]) -> HashMap<String, String> {
        entries
            .iter()
            .map(|key| (key.to_string(), key.to_string()))
            .collect()
    }

    fn chosen(map: &HashMap<String, String>, host: &str, repository: &str) -> Option<String> {
        find_scoped(map, host, repository).map(|(_, value)| value.clone())
    }

    #[test]
    fn the_most_specific_scoped_key_wins_then_the_host_key() {
        let map = keys(&[
            "registry.example",
            "registry.example/team",
            "registry.example/team/app",
            "other.example/team",
        ]);
        let pick = |repository| chosen(&map, "registry.example", repository);
        assert_eq!(
            pick("team/app").as_deref(),
            Some("registry.example/team/app")
        );
        assert_eq!(
            pick("team/app/sub").as_deref(),
            Some("registry.example/team/app")
        );
        assert_eq!(pick("team/api").as_deref(), Some("registry.example/team"));
        assert_eq!(pick("team").as_deref(), Some("registry.example/team"));
        // Prefixes count on `/` boundaries only: `teamster` is not in `team`.
        assert_eq!(pick("teamster/app").as_deref(), Some("registry.example"));
        assert_eq!(
            pick("team/application").as_deref(),
            Some("registry.example/team")
        );
        assert_eq!(chosen(&map, "other.example", "elsewhere/app"), None);
        assert_eq!(
            chosen(&map, "other.example", "team/x").as_deref(),
            Some("other.example/team")
        );
        // A trailing slash and the host's case do not matter.
        let map = keys(&["Registry.Example/team/"]);
        assert_eq!(
            chosen(&map, "registry.example", "team/app").as_deref(),
            Some("Registry.Example/team/")
        );
    }

    #[test]
    fn keys_with_a_scheme_are_host_keys_and_docker_hub_forms_are_one() {
        // The legacy docker form's `/v1/` is an API version, not a scope.
        let map = keys(&["https://index.docker.io/v1/", "docker.io/library"]);
        assert_eq!(
            chosen(&map, "docker.io", "library/nginx").as_deref(),
            Some("docker.io/library")
        );
        // Official images: `nginx` is `library/nginx` on Docker Hub.
        assert_eq!(
            chosen(&map, "registry-1.docker.io", "nginx").as_deref(),
            Some("docker.io/library")
        );
        assert_eq!(
            chosen(&map, "index.docker.io", "someone/tool").as_deref(),
            Some("https://index.docker.io/v1/")
        );
        let map = keys(&["index.docker.io/someone"]);
        assert_eq!(
            chosen(&map, "docker.io", "someone/tool").as_deref(),
            Some("index.docker.io/someone")
        );
        // Elsewhere a one-part path is taken as it is.
        let map = keys(&["quay.io/library"]);
        assert_eq!(chosen(&map, "quay.io", "nginx"), None);
        let map = keys(&["https://quay.io/team"]);
        assert_eq!(
            chosen(&map, "quay.io", "elsewhere/app").as_deref(),
            Some("https://quay.io/team")
        );
    }

    #[tokio::test]
    async fn scoped_auth_json_keys_give_each_repository_its_credential() {
        let dir = tempfile::tempdir().expect("temp dir");
        let auth_file = dir.path().join("auth.json");
        // base64("host-user:h"), ("team-user:t"), ("app-user:a")
        std::fs::write(
            &auth_file,
            r#"{"auths":{"registry.example":{"auth":"aG9zdC11c2VyOmg="},
                "registry.example/team":{"auth":"dGVhbS11c2VyOnQ="},
                "registry.example/team/app":{"auth":"YXBwLXVzZXI6YQ=="}}}"#,
        )
        .expect("write auth.json");
        let env = CredentialEnv {
            registry_auth_file: Some(auth_file),
            ..CredentialEnv::default()
        };
        let helpers = HelperCache::default();
        let user = |lookup: &Lookup| match &lookup.secret {
            Some(Secret::Basic { username, .. }) => username.clone(),
            other => panic!("expected basic credentials, got {other:?}"),
        };
        let app = lookup(&env, "registry.example", "team/app", &helpers)
            .await
            .expect("lookup");
        let team = lookup(&env, "registry.example", "team/web", &helpers)
            .await
            .expect("lookup");
        let host = lookup(&env, "registry.example", "ops/tool", &helpers)
            .await
            .expect("lookup");
        assert_eq!(user(&app), "app-user");
        assert_eq!(user(&team), "team-user");
        assert_eq!(user(&host), "host-user");
        assert!(
            app.source
                .to_string()
                .ends_with("(containers auth, auths for registry.example/team/app)"),
            "{}",
            app.source
        );
        // Distinct identities: tokens fetched for one are not reused for another.
        assert_ne!(app.identity(), team.identity());
        assert_ne!(team.identity(), host.identity());
    }

    #[test]
    fn docker_hub_keys_are_one_host() {
        assert_eq!(canonical_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(canonical_host("registry-1.docker.io"), "docker.io");
        assert_eq!(canonical_host("http://127.0.0.1:5000"), "127.0.0.1:5000");
    }
}
