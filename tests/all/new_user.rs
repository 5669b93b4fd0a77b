//! What a new user hit on the way, each fixed and kept fixed: run as a user
//! runs quayside, on a copy of the quickstart (no server needed) or in a
//! git repository made from it.

use crate::quayside::{Outcome, Quayside, repo_root, scratch_copy};
use crate::support::git::git;
use quayside::signing::SigningKey;
use secrecy::{ExposeSecret, SecretString};
use std::path::Path;

fn quickstart() -> tempfile::TempDir {
    scratch_copy(&repo_root().join("examples/quickstart"))
}

/// The quickstart as a git repository, everything committed.
fn quickstart_repo() -> tempfile::TempDir {
    let dir = quickstart();
    git(dir.path(), &["init", "-q"]);
    commit_all(dir.path(), "quickstart");
    dir
}

fn commit_all(dir: &Path, message: &str) {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
}

fn run(dir: &Path, args: &[&str]) -> Outcome {
    Quayside::new(dir)
        .env_remove("COSIGN_PASSWORD")
        .env_remove("COSIGN_PRIVATE_KEY")
        .args(args)
        .run()
}

fn edit(dir: &Path, edit: impl FnOnce(String) -> String) {
    let path = dir.join("releases.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(text)).unwrap();
}

#[test]
fn without_public_key_plan_and_apply_check_signatures_alike() {
    let dir = quickstart();
    edit(dir.path(), |text| {
        text.replace("public_key = \"demo-cosign.pub\"\n", "")
    });
    let planned = run(dir.path(), &["plan", "--format", "json"]);
    assert_eq!(planned.code, 0, "{planned:?}");
    let plan: serde_json::Value = serde_json::from_str(&planned.stdout).unwrap();
    let applied = run(dir.path(), &["apply", "--allow-dirty"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    // v1.0.0 is signed with the demo key: both see it unchanged.
    assert_eq!(plan["summary"]["unchanged"], 1, "{plan}");
    assert_eq!(plan["summary"]["sign"], 0, "{plan}");
    assert!(
        applied
            .stdout
            .contains("2 to create, 0 to sign, 1 unchanged"),
        "{applied:?}"
    );

    // Where plan cannot read the key (a PR has none), it says what to set
    // instead of planning every release as `sign`.
    edit(dir.path(), |text| {
        text.replace(
            "key = \"demo-cosign.key\"",
            "key = \"env:COSIGN_PRIVATE_KEY\"",
        )
    });
    let planned = run(dir.path(), &["plan"]);
    assert_eq!(planned.code, 1, "{planned:?}");
    assert!(planned.stderr.contains("public_key"), "{planned:?}");
}

#[test]
fn usage_errors_exit_1_not_the_changes_pending_code() {
    let dir = quickstart();
    let typo = run(
        dir.path(),
        &["plan", "--detailed-exitcode", "--formt", "json"],
    );
    assert_eq!(typo.code, 1, "{typo:?}");
    assert!(typo.stderr.contains("--formt"), "{typo:?}");
    let help = run(dir.path(), &["plan", "--help"]);
    assert_eq!(help.code, 0, "{help:?}");
    let version = run(dir.path(), &["--version"]);
    assert_eq!(version.code, 0, "{version:?}");
}

#[test]
fn validate_prints_its_result_on_stdout() {
    let dir = quickstart();
    let valid = run(dir.path(), &["validate"]);
    assert_eq!(valid.code, 0, "{valid:?}");
    assert_eq!(
        valid.stdout,
        "releases.toml: valid (2 services, 3 releases)\n"
    );
    assert_eq!(valid.stderr, "");
    edit(dir.path(), |text| text.replace("sha256:2bad", "sha256:zz"));
    let invalid = run(dir.path(), &["validate"]);
    assert_eq!(invalid.code, 1, "{invalid:?}");
    assert!(invalid.stdout.contains("releases.toml:"), "{invalid:?}");
}

#[test]
fn verbose_plan_says_what_it_reads() {
    let dir = quickstart();
    let planned = run(dir.path(), &["-v", "plan"]);
    assert_eq!(planned.code, 0, "{planned:?}");
    assert!(
        planned.stderr.contains("reading") && planned.stderr.contains("oci:prod/gateway"),
        "{planned:?}"
    );
    assert!(!planned.stderr.contains('\u{1b}'), "no colour in a pipe");
}

#[test]
fn concurrency_must_be_positive_and_is_not_offered_where_it_means_nothing() {
    let dir = quickstart();
    let zero = run(dir.path(), &["plan", "--concurrency", "0"]);
    assert_eq!(zero.code, 1, "{zero:?}");
    assert!(zero.stderr.contains("--concurrency"), "{zero:?}");
    let help = run(dir.path(), &["validate", "--help"]);
    assert_eq!(help.code, 0, "{help:?}");
    assert!(!help.stdout.contains("--concurrency"), "{help:?}");
    let help = run(dir.path(), &["plan", "--help"]);
    assert!(help.stdout.contains("--concurrency"), "{help:?}");
}

#[test]
fn an_encrypted_key_without_cosign_password_says_the_password_is_unset() {
    let dir = quickstart();
    let key = SigningKey::generate().unwrap();
    let encrypted = key
        .to_encrypted_pem(&SecretString::from("harbour-lights-7".to_string()))
        .unwrap();
    std::fs::write(dir.path().join("release.key"), encrypted.expose_secret()).unwrap();
    std::fs::write(
        dir.path().join("release.pub"),
        key.public_key().to_pem().unwrap(),
    )
    .unwrap();
    edit(dir.path(), |text| {
        text.replace("demo-cosign.key", "release.key")
            .replace("demo-cosign.pub", "release.pub")
    });
    let applied = run(dir.path(), &["apply", "--allow-dirty"]);
    assert_eq!(applied.code, 1, "{applied:?}");
    assert!(
        applied.stderr.contains("COSIGN_PASSWORD is not set"),
        "{applied:?}"
    );
    assert!(!applied.stderr.contains("wrong"), "{applied:?}");
}

#[test]
fn apply_given_the_releases_file_suggests_dash_f() {
    let dir = quickstart();
    let applied = run(dir.path(), &["apply", "releases.toml"]);
    assert_eq!(applied.code, 1, "{applied:?}");
    assert!(
        applied.stderr.contains("quayside apply -f releases.toml"),
        "{applied:?}"
    );
}

#[test]
fn every_error_says_error_and_names_the_file_given() {
    let dir = quickstart();
    let missing = run(dir.path(), &["plan", "-f", "nope.toml"]);
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(missing.stderr.starts_with("error: "), "{missing:?}");
    std::fs::rename(
        dir.path().join("releases.toml"),
        dir.path().join("prod.toml"),
    )
    .unwrap();
    std::fs::remove_file(dir.path().join("demo-cosign.pub")).unwrap();
    let key = run(dir.path(), &["plan", "-f", "prod.toml"]);
    assert_eq!(key.code, 1, "{key:?}");
    assert!(key.stderr.starts_with("error: prod.toml"), "{key:?}");
    assert!(!key.stderr.contains("releases.toml"), "{key:?}");
}

#[test]
fn a_plan_saved_with_base_is_applied_when_nothing_changed() {
    let dir = quickstart_repo();
    let applied = run(dir.path(), &["apply"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    commit_all(dir.path(), "applied");

    let planned = run(dir.path(), &["plan", "--base", "HEAD", "--out", "p.json"]);
    assert_eq!(planned.code, 0, "{planned:?}");
    let again = run(dir.path(), &["apply", "p.json"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("Nothing to do."), "{again:?}");
}

#[test]
fn a_plan_saved_with_base_refuses_what_it_did_not_check_and_says_so() {
    let dir = quickstart_repo();
    let planned = run(dir.path(), &["plan", "--base", "HEAD", "--out", "p.json"]);
    assert_eq!(planned.code, 0, "{planned:?}");
    // The saved plan checked nothing; apply would create two releases.
    let refused = run(dir.path(), &["apply", "p.json"]);
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("gateway v1.1.0-rc1 was not checked by the saved plan"),
        "{refused:?}"
    );
    assert!(refused.stderr.contains("--full"), "{refused:?}");
}

#[test]
fn a_stale_plan_names_the_release_and_whether_the_file_or_the_registry_changed() {
    let dir = quickstart_repo();
    let planned = run(dir.path(), &["plan", "--out", "p.json"]);
    assert_eq!(planned.code, 0, "{planned:?}");

    // The file changed: a release was removed after the plan was saved.
    edit(dir.path(), |text| {
        text.lines()
            .filter(|line| !line.starts_with("\"v1.0.0\" = \"sha256:65d6"))
            .map(|line| format!("{line}\n"))
            .collect()
    });
    // Only the file: the saved plan stays out of git.
    git(
        dir.path(),
        &["commit", "-q", "-am", "drop datastorage v1.0.0"],
    );
    let refused = run(dir.path(), &["apply", "p.json"]);
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("releases.toml changed since the plan was made"),
        "{refused:?}"
    );
    assert!(refused.stderr.contains("datastorage v1.0.0"), "{refused:?}");
    assert!(
        !refused.stderr.contains("registries changed"),
        "{refused:?}"
    );
    git(dir.path(), &["reset", "-q", "--hard", "HEAD~1"]);

    // The registry changed: another apply created the releases meanwhile.
    let other = run(dir.path(), &["apply"]);
    assert_eq!(other.code, 0, "{other:?}");
    let refused = run(dir.path(), &["apply", "p.json"]);
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(
        refused.stderr.contains(
            "the registries changed since the plan was made (gateway v1.1.0-rc1 is now `unchanged`"
        ),
        "{refused:?}"
    );
}

#[test]
fn apply_on_a_branchs_first_push_checks_everything_instead_of_failing() {
    let dir = quickstart_repo();
    let null = "0".repeat(40);
    let applied = run(dir.path(), &["apply", "--base", &null]);
    assert_eq!(applied.code, 0, "{applied:?}");
    assert!(
        applied.stderr.contains("is the null revision"),
        "{applied:?}"
    );
    assert!(!applied.stderr.contains("not fetched"), "{applied:?}");
    assert!(
        applied
            .stdout
            .contains("2 to create, 0 to sign, 1 unchanged"),
        "{applied:?}"
    );
    let planned = run(dir.path(), &["plan", "--base", &null]);
    assert_eq!(planned.code, 0, "{planned:?}");
}

#[test]
fn a_mistyped_service_says_its_repository_does_not_exist_and_names_the_near_one() {
    let dir = quickstart();
    edit(dir.path(), |text| {
        text.replace("[services.gateway.releases]", "[services.gatway.releases]")
    });
    let planned = run(dir.path(), &["plan"]);
    assert_eq!(planned.code, 3, "{planned:?}");
    assert!(
        planned.stdout.contains(
            "the repository oci:dev/gatway does not exist; the registry has `gateway`: did you mean [services.gateway]?"
        ),
        "{planned:?}"
    );
}

#[tokio::test]
async fn on_a_registry_a_mistyped_service_is_named_from_its_catalog() {
    let promotion = crate::support::promotion::Promotion::start().await;
    let image = promotion.push_two_platform("gateway", "typo").await;
    let path = promotion.write_releases(
        "prod",
        &[crate::support::releases::ServiceReleases::new(
            "gatway",
            &[("v1.0.0", image.digest())],
        )],
    );
    assert!(path.is_file());
    let planned = promotion.run(["plan"]).await;
    assert_eq!(planned.code, 3, "{planned:?}");
    assert!(
        planned.stdout.contains(&format!(
            "the repository {}/dev/gatway does not exist; the registry has `gateway`: did you mean [services.gateway]?",
            promotion.host()
        )),
        "{planned:?}"
    );
}

/// A note on stderr (here: the null revision) must not kill the run when
/// stderr cannot be written (a full disk: `/dev/full`; a log pipe whose
/// reader is gone): `eprintln!` would panic (exit 101). A closed stderr is
/// no test: the standard library treats writes to a closed descriptor as
/// written.
#[test]
fn a_stderr_that_cannot_be_written_loses_the_notes_not_the_plan() {
    let dir = quickstart_repo();
    let null = "0".repeat(40);
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"exec "$0" plan --base "$1" 2>/dev/full"#)
        .arg(env!("CARGO_BIN_EXE_quayside"))
        .arg(&null)
        .current_dir(dir.path())
        .env_remove("COSIGN_PASSWORD")
        .env_remove("COSIGN_PRIVATE_KEY")
        .output()
        .expect("sh runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("2 to create"), "{stdout}");
}
