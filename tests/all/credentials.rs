//! Credentials end to end: a real `docker-credential-*` helper (a script put
//! first on `PATH`) named by `credHelpers` or `credsStore`, in front of a
//! real registry with htpasswd basic auth, driven through the CLI; and a
//! helper that fails, whose error names it and the host but never a secret.

use crate::quayside::{Outcome, Quayside};
use crate::support::images::{push, two_platform_image};
use crate::support::registry::TestRegistry;
use crate::support::releases::{scratch_dir, write_releases};
use base64::Engine as _;
use quayside::registry::Connector;
use quayside::registry::distribution::{ClientOptions, CredentialEnv};
use std::path::{Path, PathBuf};

const USER: &str = "helper-bot";
const PASSWORD: &str = "He1per-Pa55-c0ffee-91";

/// Writes an executable `docker-credential-<name>` into `bin` running `body`
/// (a POSIX shell script body; `$server` holds what was read on stdin).
fn write_helper(bin: &Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    let path = bin.join(format!("docker-credential-{name}"));
    let script = format!(
        "#!/bin/sh\n[ \"$1\" = get ] || {{ echo \"unsupported: $1\" >&2; exit 1; }}\n\
         IFS= read -r server || true\n{body}\n"
    );
    std::fs::write(&path, script).expect("write the helper");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .expect("make the helper executable");
}

/// A helper that knows `host` only, and logs each question to `calls.log`.
fn working_helper(bin: &Path, name: &str, host: &str) {
    let log = bin.join("calls.log");
    write_helper(
        bin,
        name,
        &format!(
            "echo \"$server\" >> '{}'\n\
             if [ \"$server\" = '{host}' ]; then\n\
               printf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}\\n' \"$server\"\n\
               exit 0\n\
             fi\n\
             echo 'credentials not found in native keychain'\n\
             exit 1",
            log.display()
        ),
    );
}

fn helper_calls(bin: &Path) -> Vec<String> {
    std::fs::read_to_string(bin.join("calls.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// A folder holding a docker `config.json` with `config`.
fn docker_config(dir: &Path, name: &str, config: serde_json::Value) -> PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).expect("create docker config dir");
    std::fs::write(folder.join("config.json"), config.to_string()).expect("write config.json");
    folder
}

/// The password and its base64 spellings, none of which may be printed.
fn forbidden() -> Vec<String> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    vec![
        PASSWORD.to_string(),
        b64(PASSWORD),
        b64(&format!("{USER}:{PASSWORD}")),
    ]
}

fn assert_clean(what: &str, out: &Outcome) {
    for secret in forbidden() {
        assert!(
            !out.stdout.contains(&secret) && !out.stderr.contains(&secret),
            "{what}: the password ({} chars) was printed",
            secret.len()
        );
    }
    assert!(!out.stderr.contains("panicked"), "{what}: {out:?}");
}

/// Runs quayside in `dir` with `bin` first on `PATH`, `DOCKER_CONFIG` set to
/// `docker`, no containers auth file, at the most verbose level.
async fn run(dir: &Path, bin: &Path, docker: &Path, args: &[&str]) -> Outcome {
    let path = match std::env::var_os("PATH") {
        Some(rest) => {
            let mut parts = vec![bin.to_path_buf()];
            parts.extend(std::env::split_paths(&rest));
            std::env::join_paths(parts).expect("PATH joins")
        }
        None => bin.as_os_str().to_owned(),
    };
    let command = Quayside::new(dir)
        .env("PATH", path)
        .env("DOCKER_CONFIG", docker)
        .env("REGISTRY_AUTH_FILE", dir.join("no-auth.json"))
        .env("QUAYSIDE_LOG", "trace")
        .args(["-vv"])
        .args(args);
    tokio::task::spawn_blocking(move || command.run())
        .await
        .expect("the run joins")
}

/// A password-protected registry with one image pushed to `dev/gateway`, and
/// a scratch directory whose `releases.toml` promotes it to `prod/gateway`.
async fn setup(target: &str) -> (TestRegistry, tempfile::TempDir, String) {
    let registry = TestRegistry::start_with_basic_auth(USER, PASSWORD);
    let host = registry.host();
    let dir = scratch_dir();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let direct = docker_config(
        dir.path(),
        "direct",
        serde_json::json!({"auths": {&host: {"auth": auth}}}),
    );
    let connector = Connector::new(ClientOptions {
        credentials: CredentialEnv {
            docker_config_dir: Some(direct),
            ..CredentialEnv::default()
        },
        ..ClientOptions::default()
    });
    let image = two_platform_image("credential-helper");
    push(
        connector.open(&registry.location("dev/gateway")).as_ref(),
        &image,
        None,
    )
    .await;
    write_releases(
        dir.path(),
        &format!("http://{host}/dev"),
        &format!("http://{host}/{target}"),
        &[("gateway", "v1.0.0", &image.digest().to_string())],
    );
    (registry, dir, host)
}

#[tokio::test]
async fn cred_helpers_entry_runs_the_helper_for_plan_apply_and_verify() {
    let (registry, dir, host) = setup("prod").await;
    let bin = tempfile::tempdir().expect("temp dir");
    working_helper(bin.path(), "qstest", &host);
    let docker = docker_config(
        dir.path(),
        "helpers",
        serde_json::json!({"credHelpers": {&host: "qstest", "other.example": "absent"}}),
    );
    for (args, want) in [
        (vec!["plan", "--detailed-exitcode"], 2),
        (vec!["apply"], 0),
        (vec!["plan", "--detailed-exitcode"], 0),
        (vec!["verify"], 0),
    ] {
        let what = args.join(" ");
        let out = run(dir.path(), bin.path(), &docker, &args).await;
        assert_eq!(out.code, want, "{what}: {out:?}");
        assert_clean(&what, &out);
    }
    let calls = helper_calls(bin.path());
    // One question per run: the helper's answer is kept for the host.
    assert_eq!(calls.len(), 4, "helper calls: {calls:?}");
    assert!(calls.iter().all(|server| *server == host), "{calls:?}");
    drop(registry);
}

#[tokio::test]
async fn creds_store_runs_the_helper_and_an_unknown_host_is_anonymous() {
    let (_registry, dir, host) = setup("release").await;
    let bin = tempfile::tempdir().expect("temp dir");
    working_helper(bin.path(), "qsstore", &host);
    let docker = docker_config(
        dir.path(),
        "store",
        serde_json::json!({"credsStore": "qsstore"}),
    );
    let out = run(dir.path(), bin.path(), &docker, &["apply"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_clean("apply", &out);
    let out = run(dir.path(), bin.path(), &docker, &["verify"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_clean("verify", &out);

    // A helper that does not know the host ("not found") means anonymous
    // access, which this registry refuses with a 401 naming the source.
    let bin_elsewhere = tempfile::tempdir().expect("temp dir");
    working_helper(bin_elsewhere.path(), "qsstore", "elsewhere.example");
    let out = run(dir.path(), bin_elsewhere.path(), &docker, &["plan"]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("401"), "{out:?}");
    assert!(out.stderr.contains("no credentials"), "{out:?}");
    assert_clean("plan, unknown to the helper", &out);
}

#[tokio::test]
async fn a_failing_helper_is_an_error_naming_it_and_the_host() {
    let (_registry, dir, host) = setup("prod").await;
    let bin = tempfile::tempdir().expect("temp dir");
    write_helper(
        bin.path(),
        "qsfail",
        "echo 'error getting credentials: the vault is sealed' >&2\nexit 3",
    );
    let docker = docker_config(
        dir.path(),
        "failing",
        serde_json::json!({"credHelpers": {&host: "qsfail"}}),
    );
    let out = run(dir.path(), bin.path(), &docker, &["plan"]).await;
    assert_eq!(out.code, 1, "{out:?}");
    for wanted in [
        "docker-credential-qsfail",
        host.as_str(),
        "the vault is sealed",
        "credHelpers in",
    ] {
        assert!(out.stderr.contains(wanted), "missing {wanted:?}: {out:?}");
    }
    assert_clean("plan, failing helper", &out);
}

#[tokio::test]
async fn scoped_auth_json_keys_give_each_repository_of_a_host_its_credential() {
    let (_registry, dir, host) = setup("prod").await;
    let b64 = |password: &str| {
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{password}"))
    };
    let write_auth = |prod_password: &str| {
        let auth = serde_json::json!({"auths": {
            &host: {"auth": b64("wrong-host-password")},
            format!("{host}/dev"): {"auth": b64(PASSWORD)},
            format!("{host}/prod/gateway"): {"auth": b64(prod_password)},
        }});
        std::fs::write(dir.path().join("auth.json"), auth.to_string()).expect("write auth.json");
    };
    let empty = docker_config(dir.path(), "empty", serde_json::json!({}));
    let plan = |args: &'static [&'static str]| {
        let path = dir.path().to_path_buf();
        let auth = dir.path().join("auth.json");
        let empty = empty.clone();
        async move {
            let command = Quayside::new(&path)
                .env("DOCKER_CONFIG", &empty)
                .env("REGISTRY_AUTH_FILE", &auth)
                .env("QUAYSIDE_LOG", "trace")
                .args(["-vv"])
                .args(args);
            tokio::task::spawn_blocking(move || command.run())
                .await
                .expect("the run joins")
        }
    };

    // The host key is wrong: only the scoped keys let both repositories in.
    write_auth(PASSWORD);
    let out = plan(&["plan", "--detailed-exitcode"]).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert_clean("plan, scoped keys", &out);

    // A wrong password under the repository's own key is the one used (not
    // the right one for the namespace `dev`, nor the host's), and named.
    write_auth("wrong-prod-password");
    let out = plan(&["plan"]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("401"), "{out:?}");
    assert!(
        out.stderr
            .contains(&format!("auths for {host}/prod/gateway")),
        "{out:?}"
    );
    assert!(!out.stderr.contains("wrong-prod-password"), "{out:?}");
    assert_clean("plan, wrong scoped key", &out);
}
