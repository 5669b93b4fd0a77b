//! No secret ever reaches stdout, stderr or a plan file: every command, at
//! the most verbose level, against a password-protected registry, with a Quay
//! API token and an encrypted signing key, and the failures that are most
//! tempted to echo a secret (wrong registry password, wrong key password).

use crate::quayside::{Outcome, Quayside};
use crate::support::images::{push, two_platform_image};
use crate::support::quay::{FakeQuay, QuayConfig, Scan};
use crate::support::registry::TestRegistry;
use base64::Engine as _;
use quayside::registry::distribution::{ClientOptions, CredentialEnv};
use quayside::registry::{Connector, Repository};
use quayside::signing::SigningKey;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

const USER: &str = "release-bot";
const REGISTRY_PASSWORD: &str = "Reg1stry-Pa55-7f1c9e";
const WRONG_REGISTRY_PASSWORD: &str = "Wr0ng-Reg-Pa55-0d2b";
const QUAY_TOKEN: &str = "quay-api-token-4b8e2d61";
const KEY_PASSWORD: &str = "Cosign-Key-Pa55-93ad";
const WRONG_KEY_PASSWORD: &str = "Wr0ng-Key-Pa55-5e7f";

/// `auths` for `host` in a docker `config.json` inside `dir/<name>`.
fn docker_config(dir: &Path, name: &str, host: &str, password: &str) -> String {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).expect("create docker config dir");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{password}"));
    let config = serde_json::json!({"auths": {host: {"auth": auth}}});
    std::fs::write(folder.join("config.json"), config.to_string()).expect("write config.json");
    folder.display().to_string()
}

/// Every spelling of a secret that could leak: itself, base64 of it (and of
/// the basic-auth pair), and for the key each line of the PEM body.
fn forbidden(secrets: &[&str], pem: &str) -> Vec<String> {
    let b64 = |s: &str| {
        [
            base64::engine::general_purpose::STANDARD.encode(s),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s),
        ]
    };
    let mut out = Vec::new();
    for secret in secrets {
        out.push(secret.to_string());
        out.extend(b64(secret));
    }
    for password in [REGISTRY_PASSWORD, WRONG_REGISTRY_PASSWORD] {
        out.extend(b64(&format!("{USER}:{password}")));
    }
    out.extend(
        pem.lines()
            .filter(|line| !line.starts_with("-----") && line.len() >= 16)
            .map(str::to_string),
    );
    out
}

fn assert_clean(what: &str, out: &Outcome, extra: &str, forbidden: &[String]) {
    for secret in forbidden {
        for (stream, text) in [
            ("stdout", &out.stdout),
            ("stderr", &out.stderr),
            ("file", &extra.to_string()),
        ] {
            assert!(
                !text.contains(secret.as_str()),
                "{what}: a secret ({} chars) appeared in {stream}",
                secret.len()
            );
        }
    }
    assert!(!out.stderr.contains("panicked"), "{what}: {out:?}");
}

#[tokio::test]
async fn no_command_prints_or_writes_a_secret_even_at_trace_level() {
    let registry = TestRegistry::start_with_basic_auth(USER, REGISTRY_PASSWORD);
    let host = registry.host();
    let dir = tempfile::tempdir().expect("temp dir");
    let good = docker_config(dir.path(), "good", &host, REGISTRY_PASSWORD);
    let bad = docker_config(dir.path(), "bad", &host, WRONG_REGISTRY_PASSWORD);

    let connector = Connector::new(ClientOptions {
        credentials: CredentialEnv {
            docker_config_dir: Some(Path::new(&good).to_path_buf()),
            ..CredentialEnv::default()
        },
        ..ClientOptions::default()
    });
    let repository: Arc<dyn Repository> = connector.open(&registry.location("dev/gateway"));
    let image = two_platform_image("secrets");
    push(repository.as_ref(), &image, None).await;

    let scans = image
        .manifests
        .iter()
        .map(|m| (m.digest.to_string(), Scan::Scanned(vec![])))
        .collect::<HashMap<_, _>>();
    let quay = FakeQuay::start(
        QuayConfig {
            token: Some(QUAY_TOKEN.into()),
            ..QuayConfig::default()
        },
        scans,
    )
    .await;

    let key = SigningKey::generate().unwrap();
    let pem = key
        .to_encrypted_pem(&SecretString::from(KEY_PASSWORD.to_string()))
        .expect("encrypt the key");
    let pem = pem.expose_secret().to_string();
    let public = key.public_key().to_pem().expect("public key PEM");
    std::fs::write(dir.path().join("cosign.pub"), public).expect("write cosign.pub");
    std::fs::write(
        dir.path().join("releases.toml"),
        format!(
            "version = 1\n\n[registries]\nsource = \"http://{host}/dev\"\ntarget = \"http://{host}/prod\"\n\n\
             [policy]\nquay_api = \"{}\"\n\n[signing]\nkey = \"env:COSIGN_PRIVATE_KEY\"\npublic_key = \"cosign.pub\"\n\n\
             [services.gateway.releases]\n\"v1.0.0\" = \"{}\"\n",
            quay.base(),
            image.digest()
        ),
    )
    .expect("write releases.toml");
    let forbidden = forbidden(
        &[
            REGISTRY_PASSWORD,
            WRONG_REGISTRY_PASSWORD,
            QUAY_TOKEN,
            KEY_PASSWORD,
            WRONG_KEY_PASSWORD,
        ],
        &pem,
    );

    let folder = dir.path().to_path_buf();
    let run = move |args: Vec<&'static str>, docker: String, key_password: &'static str| {
        let folder = folder.clone();
        let pem = pem.clone();
        tokio::task::spawn_blocking(move || {
            Quayside::new(&folder)
                .env("QUAYSIDE_LOG", "trace")
                .env("DOCKER_CONFIG", &docker)
                .env(
                    "REGISTRY_AUTH_FILE",
                    folder.join("none.json").display().to_string(),
                )
                .env("QUAY_API_TOKEN", QUAY_TOKEN)
                .env("COSIGN_PRIVATE_KEY", &pem)
                .env("COSIGN_PASSWORD", key_password)
                .args(["-vv"])
                .args(args)
                .run()
        })
    };
    let plan_file = dir.path().join("plan.json");
    let read_plan = || std::fs::read_to_string(&plan_file).unwrap_or_default();

    // (command line, docker config, key password, expected exit code)
    let steps: Vec<(Vec<&'static str>, &str, &'static str, i32)> = vec![
        (vec!["validate"], &good, KEY_PASSWORD, 0),
        (vec!["plan", "--out", "plan.json"], &bad, KEY_PASSWORD, 1),
        (
            vec!["plan", "--format", "json", "--out", "plan.json"],
            &good,
            KEY_PASSWORD,
            0,
        ),
        (vec!["apply", "plan.json"], &good, WRONG_KEY_PASSWORD, 1),
        (vec!["apply", "plan.json"], &good, KEY_PASSWORD, 0),
        (vec!["verify"], &good, KEY_PASSWORD, 0),
        (vec!["verify"], &bad, KEY_PASSWORD, 1),
        (vec!["plan", "--format", "markdown"], &good, KEY_PASSWORD, 0),
        (vec!["apply"], &good, KEY_PASSWORD, 0),
    ];
    let mut saw_trace = false;
    for (args, docker, key_password, want) in steps {
        let what = args.join(" ");
        let out = run(args, docker.to_string(), key_password)
            .await
            .expect("the run joins");
        assert_eq!(out.code, want, "{what}: {out:?}");
        saw_trace |= out.stderr.contains("TRACE") || out.stderr.contains("trace");
        assert_clean(&what, &out, &read_plan(), &forbidden);
    }
    assert!(saw_trace, "QUAYSIDE_LOG=trace printed no trace lines");
    assert!(
        !quay.requests().is_empty(),
        "the token was never used: the fake Quay served no authorised scan request"
    );
    assert!(!read_plan().is_empty(), "plan --out wrote nothing");
}
