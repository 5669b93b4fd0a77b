//! `quayside validate` sees what plan and apply will need: the key files
//! `[signing]` names exist, parse and are one pair, each problem at its
//! setting's line and column; and a problem that makes the file unusable is
//! listed before thousands of refused tags, with the counts per code.

use crate::quayside::{Outcome, Quayside};
use crate::support::releases::{DEMO_KEY, DEMO_PUBLIC_KEY, scratch_dir};
use quayside::signing::SigningKey;
use secrecy::SecretString;
use std::path::Path;

const PASSWORD: &str = "lantern-quay-42";

/// A file whose `[signing]` is on lines 7–9: `key` at 8:7, `public_key` at
/// 9:14.
fn write_file(dir: &Path, key: &str, public_key: &str) {
    let text = format!(
        "version = 1\n[registries]\nsource = \"oci:dev\"\ntarget = \"oci:prod\"\n[policy]\nvulnerability_source = \"none\"\n\
         [signing]\nkey = \"{key}\"\npublic_key = \"{public_key}\"\n[services.gateway.releases]\n"
    );
    std::fs::write(dir.join("releases.toml"), text).unwrap_or_else(|e| panic!("write: {e}"));
}

fn validate(dir: &Path, password: Option<&str>) -> Outcome {
    let command = Quayside::new(dir)
        .args(["validate"])
        .env_remove("COSIGN_PRIVATE_KEY");
    match password {
        Some(password) => command.env("COSIGN_PASSWORD", password),
        None => command.env_remove("COSIGN_PASSWORD"),
    }
    .run()
}

fn encrypted_key(dir: &Path, name: &str) -> SigningKey {
    let key = SigningKey::generate().unwrap();
    let pem = key
        .to_encrypted_pem(&SecretString::from(PASSWORD.to_string()))
        .unwrap_or_else(|e| panic!("encrypt: {e}"));
    std::fs::write(dir.join(name), secrecy::ExposeSecret::expose_secret(&pem))
        .unwrap_or_else(|e| panic!("write: {e}"));
    key
}

fn assert_one_problem(out: &Outcome, code: &str, at: &str, words: &[&str]) {
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout.matches("error[").count(), 1, "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!("error[{code}]")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!("--> releases.toml:{at}\n")),
        "{}",
        out.stdout
    );
    for word in words {
        assert!(
            out.stdout.contains(word),
            "{word:?} missing:\n{}",
            out.stdout
        );
    }
    assert!(
        out.stdout.ends_with("1 problem in releases.toml\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_missing_public_key_is_named_at_its_setting_with_the_command_that_makes_one() {
    let dir = scratch_dir();
    write_file(dir.path(), DEMO_KEY, "keys/cosign.pub");
    let out = validate(dir.path(), None);
    assert_one_problem(
        &out,
        "key-missing",
        "9:14",
        &[
            "keys/cosign.pub",
            "does not exist",
            "`quayside generate-key-pair --output-key-prefix ./keys/cosign`",
        ],
    );
}

#[test]
fn a_missing_private_key_file_is_named_at_the_key_setting() {
    let dir = scratch_dir();
    write_file(dir.path(), "ci/cosign.key", DEMO_PUBLIC_KEY);
    let out = validate(dir.path(), None);
    assert_one_problem(
        &out,
        "key-missing",
        "8:7",
        &[
            "ci/cosign.key",
            "env:COSIGN_PRIVATE_KEY",
            "generate-key-pair",
        ],
    );
}

#[test]
fn a_file_that_is_not_a_public_key_is_refused_with_what_was_found() {
    let dir = scratch_dir();
    // The private key where the public one belongs: a common slip.
    write_file(dir.path(), DEMO_KEY, DEMO_KEY);
    let out = validate(dir.path(), None);
    assert_one_problem(
        &out,
        "key-invalid",
        "9:14",
        &[
            "demo-cosign.key",
            "`PRIVATE KEY`",
            "`PUBLIC KEY` (cosign.pub)",
        ],
    );
    std::fs::write(dir.path().join("broken.pub"), "not a key\n").unwrap_or_else(|e| panic!("{e}"));
    write_file(dir.path(), DEMO_KEY, "broken.pub");
    assert_one_problem(
        &validate(dir.path(), None),
        "key-invalid",
        "9:14",
        &["broken.pub"],
    );
}

#[test]
fn keys_that_are_not_one_pair_are_refused_with_both_fingerprints() {
    let dir = scratch_dir();
    let other = encrypted_key(dir.path(), "other.key");
    write_file(dir.path(), "other.key", DEMO_PUBLIC_KEY);
    let out = validate(dir.path(), Some(PASSWORD));
    let fingerprint = other.public_key().fingerprint();
    assert_one_problem(
        &out,
        "key-mismatch",
        "8:7",
        &["not one key pair", "demo-cosign.pub", &fingerprint],
    );
    // The pair that belongs together passes.
    let public = other
        .public_key()
        .to_pem()
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("other.pub"), public).unwrap_or_else(|e| panic!("{e}"));
    write_file(dir.path(), "other.key", "other.pub");
    let out = validate(dir.path(), Some(PASSWORD));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "releases.toml: valid (1 service, 0 releases)\n");
}

#[test]
fn an_encrypted_key_is_checked_as_far_as_its_envelope_without_a_password() {
    let dir = scratch_dir();
    encrypted_key(dir.path(), "cosign.key");
    // Without COSIGN_PASSWORD the pair cannot be compared: the envelope
    // parsed, so the file is valid.
    write_file(dir.path(), "cosign.key", DEMO_PUBLIC_KEY);
    let out = validate(dir.path(), None);
    assert_eq!(out.code, 0, "{out:?}");
    // With a wrong password it is a problem that says what to set.
    assert_one_problem(
        &validate(dir.path(), Some("not-the-password")),
        "key-invalid",
        "8:7",
        &["password is wrong", "COSIGN_PASSWORD"],
    );
    // A damaged envelope is found without any password.
    let damaged = "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\neyJrZGYiOnt9fQ==\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n";
    std::fs::write(dir.path().join("cosign.key"), damaged).unwrap_or_else(|e| panic!("{e}"));
    assert_one_problem(
        &validate(dir.path(), None),
        "key-invalid",
        "8:7",
        &["not in cosign's format"],
    );
}

#[test]
fn a_key_in_an_unset_variable_is_left_to_apply_and_a_set_one_is_checked() {
    let dir = scratch_dir();
    write_file(dir.path(), "env:COSIGN_PRIVATE_KEY", DEMO_PUBLIC_KEY);
    let out = validate(dir.path(), None);
    assert_eq!(out.code, 0, "{out:?}");
    // Set to the wrong key (the apply job's secret), the pair is checked.
    let other = SigningKey::generate().unwrap();
    let pem = other.to_pkcs8_pem().unwrap_or_else(|e| panic!("{e}"));
    let out = Quayside::new(dir.path())
        .args(["validate"])
        .env(
            "COSIGN_PRIVATE_KEY",
            secrecy::ExposeSecret::expose_secret(&pem),
        )
        .run();
    assert_one_problem(&out, "key-mismatch", "8:7", &["demo-cosign.pub"]);
    assert!(!out.stdout.contains("PRIVATE KEY-----"), "{}", out.stdout);
}

#[test]
fn a_bad_digest_among_ten_thousand_refused_tags_is_listed_first_with_the_counts() {
    let dir = scratch_dir();
    write_file(dir.path(), DEMO_KEY, DEMO_PUBLIC_KEY);
    let mut text =
        std::fs::read_to_string(dir.path().join("releases.toml")).unwrap_or_else(|e| panic!("{e}"));
    let digest = format!("sha256:{}", "a".repeat(64));
    for n in 0..10_000 {
        text.push_str(&format!("\"build-{n}\" = \"{digest}\"\n"));
    }
    text.push_str("\"v1.0.0\" = \"sha256:abc\"\n");
    std::fs::write(dir.path().join("releases.toml"), text).unwrap_or_else(|e| panic!("{e}"));
    let out = validate(dir.path(), None);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout.starts_with("error[invalid-digest]"),
        "{}",
        &out.stdout[..out.stdout.len().min(400)]
    );
    assert!(
        out.stdout.contains("--> releases.toml:10011:"),
        "the bad digest's line"
    );
    assert_eq!(out.stdout.matches("error[").count(), 200);
    assert!(
        out.stdout.ends_with(
            "… and 9801 more problems not listed; by code: 1 × invalid-digest, 10000 × invalid-tag\n\n10001 problems in releases.toml\n"
        ),
        "{}",
        &out.stdout[out.stdout.len().saturating_sub(400)..]
    );
}
