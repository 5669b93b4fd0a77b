//! `ci/quayside-ci`, the script behind the GitHub Action and the GitLab
//! components, run as a releases repository's CI runs it: in a git
//! repository holding only `releases.toml` and `cosign.pub`, with quayside
//! installed from a release archive (made by `scripts/package-release` from
//! the binary under test) whose SHA-256 is pinned, against a real registry.

use crate::quayside::{Outcome, repo_root};
use crate::support::git::git;
use crate::support::github::FakeGitHub;
use crate::support::images::TestImage;
use crate::support::promotion::Promotion;
use std::path::{Path, PathBuf};

const VERSION: &str = "0.1.0";
const NULL_COMMIT: &str = "0000000000000000000000000000000000000000";

/// The archive name `quayside-ci install` asks for on this machine.
fn target_triple() -> String {
    format!("{}-unknown-linux-musl", std::env::consts::ARCH)
}

/// A release of the binary under test: the archive in `dist/` and its
/// SHA-256 from the SHA256SUMS the packaging script wrote.
struct Release {
    dist: tempfile::TempDir,
    sha256: String,
}

/// The release workflow's generator (`examples/generate_docs.rs`), compiled
/// into this test binary so that it needs no separate example build.
#[path = "../../examples/generate_docs.rs"]
#[allow(dead_code)]
mod generate_docs_example;

/// The completions and man pages, as the release workflow makes them.
fn generate_docs(out: &Path) {
    generate_docs_example::generate(out).expect("the completions and man pages are written");
}

fn package_release() -> Release {
    let dist = tempfile::tempdir().unwrap();
    let docs = dist.path().join("docs");
    generate_docs(&docs);
    let output = std::process::Command::new(repo_root().join("scripts/package-release"))
        .args([VERSION, &target_triple(), env!("CARGO_BIN_EXE_quayside")])
        .arg(dist.path())
        .arg(&docs)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let sums = std::fs::read_to_string(dist.path().join("SHA256SUMS")).unwrap();
    let (sha256, name) = sums.trim().split_once("  ").unwrap();
    assert_eq!(
        name,
        format!("quayside-{VERSION}-{}.tar.gz", target_triple())
    );
    Release {
        sha256: sha256.to_string(),
        dist,
    }
}

/// One run of a step of the script: where it runs and what it is given.
struct Ci<'a> {
    script: PathBuf,
    repo: &'a Path,
    env: Vec<(String, String)>,
}

impl Ci<'_> {
    fn with(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    async fn run(&self, step: &str) -> Outcome {
        let mut command = tokio::process::Command::new(&self.script);
        command
            .arg(step)
            .current_dir(self.repo)
            .env_remove("QUAYSIDE_LOG")
            .env_remove("GITHUB_OUTPUT")
            .env_remove("GITHUB_PATH")
            .env_remove("COSIGN_PASSWORD")
            .kill_on_drop(true);
        for (name, value) in &self.env {
            command.env(name, value);
        }
        Outcome::from_output(&command.output().await.unwrap())
    }
}

/// A releases repository as users keep one: `releases.toml` promoting
/// `dev/<service>` to `prod/<service>` through the registry, the key from
/// the environment, `cosign.pub` beside it.
fn releases_toml(host: &str, releases: &[(&str, &TestImage)]) -> String {
    let mut text = format!(
        "version = 1\n\n[registries]\nsource = \"http://{host}/dev\"\ntarget = \"http://{host}/prod\"\n\n[policy]\nvulnerability_source = \"none\"\n\n[signing]\nkey = \"env:COSIGN_PRIVATE_KEY\"\npublic_key = \"cosign.pub\"\n\n[services.gateway.releases]\n"
    );
    for (tag, image) in releases {
        text.push_str(&format!("\"{tag}\" = \"{}\"\n", image.digest()));
    }
    text
}

fn commit_file(repo: &Path, text: &str, message: &str) -> String {
    std::fs::write(repo.join("releases.toml"), text).unwrap();
    git(repo, &["add", "releases.toml"]);
    git(repo, &["commit", "-q", "-m", message]);
    git(repo, &["rev-parse", "HEAD"])
}

#[tokio::test]
async fn a_releases_repository_plans_comments_and_applies_with_a_pinned_release() {
    let promotion = Promotion::start().await;
    let first = promotion.push_two_platform("gateway", "ci-first").await;
    let second = promotion.push_two_platform("gateway", "ci-second").await;
    let host = promotion.host();
    let release = package_release();

    // The repository holds releases.toml and cosign.pub, nothing else.
    let repo = tempfile::tempdir().unwrap();
    let repo = repo.path();
    git(repo, &["init", "-q"]);
    std::fs::copy(
        promotion.dir.path().join("demo-cosign.pub"),
        repo.join("cosign.pub"),
    )
    .unwrap();
    git(repo, &["add", "cosign.pub"]);
    let initial = commit_file(
        repo,
        &releases_toml(&host, &[("v1.0.0", &first)]),
        "release v1.0.0",
    );

    // The action's own copy of the script, pinning the release by checksum
    // in its ci/releases.txt.
    let action = tempfile::tempdir().unwrap();
    std::fs::create_dir(action.path().join("ci")).unwrap();
    std::fs::copy(
        repo_root().join("ci/quayside-ci"),
        action.path().join("ci/quayside-ci"),
    )
    .unwrap();
    std::fs::write(
        action.path().join("ci/releases.txt"),
        format!("# pins\n{VERSION} {} {}\n", target_triple(), release.sha256),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let bin = out.path().join("bin");
    let key = std::fs::read_to_string(promotion.dir.path().join("demo-cosign.key")).unwrap();
    let ci = || Ci {
        script: action.path().join("ci/quayside-ci"),
        repo,
        env: vec![
            ("QUAYSIDE_BIN_DIR".into(), bin.display().to_string()),
            ("QUAYSIDE_OUT_DIR".into(), out.path().display().to_string()),
        ],
    };

    let installed = ci()
        .with("QUAYSIDE_VERSION", VERSION)
        .with(
            "QUAYSIDE_RELEASE_URL",
            &format!("file://{}", release.dist.path().display()),
        )
        .run("install")
        .await;
    assert_eq!(installed.code, 0, "{installed:?}");
    assert!(
        installed.stderr.contains("(SHA-256 verified)"),
        "{installed:?}"
    );
    assert!(bin.join("quayside").is_file());

    // The first push of main: no previous commit, so the whole file.
    let applied = ci()
        .with("QUAYSIDE_BEFORE", NULL_COMMIT)
        .with("COSIGN_PRIVATE_KEY", &key)
        .run("apply")
        .await;
    assert_eq!(applied.code, 0, "{applied:?}");
    assert!(
        applied.stderr.contains("a branch's first push"),
        "{applied:?}"
    );
    assert!(applied.stdout.contains("v1.0.0"), "{applied:?}");

    // A pull request adds v1.1.0: plan against main, comment written.
    git(repo, &["checkout", "-q", "-b", "add-v1.1.0"]);
    commit_file(
        repo,
        &releases_toml(&host, &[("v1.0.0", &first), ("v1.1.0", &second)]),
        "release v1.1.0",
    );
    let comment = out.path().join("comment.md");
    let planned = ci().with("QUAYSIDE_BASE", "main").run("plan").await;
    assert_eq!(planned.code, 0, "{planned:?}");
    let commented = ci()
        .with("QUAYSIDE_COMMENT", &format!("file:{}", comment.display()))
        .run("comment")
        .await;
    assert_eq!(commented.code, 0, "{commented:?}");
    let body = std::fs::read_to_string(&comment).unwrap();
    assert!(body.contains("<!-- quayside-plan -->"), "{body}");
    assert!(
        body.contains("| `gateway` | `v1.1.0` | **create** |"),
        "{body}"
    );
    assert!(
        !body.contains("| `gateway` | `v1.0.0` |"),
        "only the added release is planned: {body}"
    );
    assert_eq!(
        std::fs::read_to_string(out.path().join("plan.exit")).unwrap(),
        "0\n"
    );
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("plan.json")).unwrap()).unwrap();
    assert_eq!(plan["summary"]["create"], 1, "{plan}");

    // Merged: main moves on, apply compares with the commit before the push.
    git(repo, &["checkout", "-q", "main"]);
    git(repo, &["merge", "-q", "--ff-only", "add-v1.1.0"]);
    let applied = ci()
        .with("QUAYSIDE_BEFORE", &initial)
        .with("COSIGN_PRIVATE_KEY", &key)
        .run("apply")
        .await;
    assert_eq!(applied.code, 0, "{applied:?}");
    let verified = ci().run("verify").await;
    assert_eq!(verified.code, 0, "{verified:?}");
    for tag in ["v1.0.0", "v1.1.0"] {
        assert!(verified.stdout.contains(tag), "{verified:?}");
    }

    // A pull request that moves v1.0.0 is refused, and the comment says so.
    git(repo, &["checkout", "-q", "-b", "move-v1.0.0"]);
    commit_file(
        repo,
        &releases_toml(&host, &[("v1.0.0", &second), ("v1.1.0", &second)]),
        "move v1.0.0",
    );
    let refused = ci().with("QUAYSIDE_BASE", "main").run("plan").await;
    assert_eq!(refused.code, 3, "{refused:?}");
    ci().with("QUAYSIDE_COMMENT", &format!("file:{}", comment.display()))
        .run("comment")
        .await;
    let body = std::fs::read_to_string(&comment).unwrap();
    assert!(body.contains("<!-- quayside-plan -->"), "{body}");
    assert!(body.contains("changed"), "{body}");
}

#[tokio::test]
async fn install_refuses_an_archive_whose_checksum_does_not_match_and_one_not_pinned() {
    let release = package_release();
    let out = tempfile::tempdir().unwrap();
    let bin = out.path().join("bin");
    let ci = || Ci {
        script: repo_root().join("ci/quayside-ci"),
        repo: out.path(),
        env: vec![
            ("QUAYSIDE_BIN_DIR".into(), bin.display().to_string()),
            ("QUAYSIDE_VERSION".into(), VERSION.into()),
            (
                "QUAYSIDE_RELEASE_URL".into(),
                format!("file://{}", release.dist.path().display()),
            ),
        ],
    };
    let wrong = format!("{}0", &release.sha256[..63]);
    let wrong = if wrong == release.sha256 {
        format!("{}1", &release.sha256[..63])
    } else {
        wrong
    };
    let tampered = ci().with("QUAYSIDE_SHA256", &wrong).run("install").await;
    assert_eq!(tampered.code, 1, "{tampered:?}");
    assert!(
        tampered.stderr.contains(&format!(
            "has SHA-256 {}, expected {wrong}: not installed",
            release.sha256
        )),
        "{tampered:?}"
    );
    assert!(!bin.join("quayside").exists());

    // The project's ci/releases.txt pins no release yet: nothing unverified.
    let unpinned = ci().run("install").await;
    assert_eq!(unpinned.code, 1, "{unpinned:?}");
    assert!(
        unpinned
            .stderr
            .contains("no pinned checksum for quayside 0.1.0"),
        "{unpinned:?}"
    );
    assert!(!bin.join("quayside").exists());
}

#[tokio::test]
async fn the_github_comment_is_posted_once_then_updated_in_place() {
    let other = "LGTM, ship it";
    let github = FakeGitHub::start("kubernaut/releases", 42, "ghs_test_token", &[other]).await;
    let out = tempfile::tempdir().unwrap();
    let event = out.path().join("event.json");
    std::fs::write(&event, r#"{"pull_request":{"number":42}}"#).unwrap();
    let ci = || {
        Ci {
            script: repo_root().join("ci/quayside-ci"),
            repo: out.path(),
            env: vec![],
        }
        .with("QUAYSIDE_OUT_DIR", &out.path().display().to_string())
        .with("QUAYSIDE_COMMENT", "github")
        .with("GITHUB_API_URL", &github.url())
        .with("GITHUB_REPOSITORY", &github.repository)
        .with("GITHUB_EVENT_PATH", &event.display().to_string())
        .with("GITHUB_TOKEN", github.token())
    };
    let plan = |text: &str| {
        std::fs::write(
            out.path().join("plan.md"),
            format!("<!-- quayside-plan -->\n{text}\n"),
        )
        .unwrap()
    };

    plan("first plan: 1 to create");
    let posted = ci().run("comment").await;
    assert_eq!(posted.code, 0, "{posted:?}");
    plan("second plan: 2 to create");
    let updated = ci().run("comment").await;
    assert_eq!(updated.code, 0, "{updated:?}");
    assert!(
        updated
            .stderr
            .contains("updated the plan comment on kubernaut/releases#42"),
        "{updated:?}"
    );

    let comments = github.comments();
    assert_eq!(comments.len(), 2, "{comments:?}");
    assert_eq!(comments[0].body, other, "another comment is left alone");
    assert_eq!(
        comments[1].body,
        "<!-- quayside-plan -->\nsecond plan: 2 to create\n"
    );
    assert_eq!(
        github.requests(),
        [
            "GET /repos/kubernaut/releases/issues/42/comments",
            "POST /repos/kubernaut/releases/issues/42/comments",
            "GET /repos/kubernaut/releases/issues/42/comments",
            "PATCH /repos/kubernaut/releases/issues/comments/101",
        ]
    );

    // A token GitHub refuses is an error that names the pull request, and the
    // token is not printed.
    let refused = ci().with("GITHUB_TOKEN", "ghs_wrong").run("comment").await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("cannot list the comments of kubernaut/releases#42"),
        "{refused:?}"
    );
    assert!(!refused.stderr.contains("ghs_wrong"), "{refused:?}");
}

#[test]
fn the_release_archive_carries_completions_and_man_pages_that_work() {
    let release = package_release();
    let unpacked = tempfile::tempdir().unwrap();
    let archive = release
        .dist
        .path()
        .join(format!("quayside-{VERSION}-{}.tar.gz", target_triple()));
    let output = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(unpacked.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let root = unpacked.path();
    for file in [
        "quayside",
        "README.md",
        "complete/quayside.bash",
        "complete/quayside.fish",
        "complete/_quayside",
        "complete/_quayside.ps1",
        "man/quayside.1",
        "man/quayside-plan.1",
        "man/quayside-apply.1",
        "man/quayside-verify.1",
        "man/quayside-validate.1",
    ] {
        assert!(root.join(file).is_file(), "{file} is in the archive");
    }
    // bash loads the completion and completes the commands.
    let completion = root.join("complete/quayside.bash");
    let script = format!(
        "source '{}'; COMP_WORDS=(quayside pl); COMP_CWORD=1; _quayside quayside pl quayside; echo \"${{COMPREPLY[@]}}\"",
        completion.display()
    );
    let output = std::process::Command::new("bash")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "plan",
        "{output:?}"
    );
    // The plan page documents its options with the CLI's own words.
    let page = std::fs::read_to_string(root.join("man/quayside-plan.1")).unwrap();
    assert!(
        page.contains(".SH NAME\nquayside\\-plan \\- Read the live registries"),
        "{page}"
    );
    assert!(page.contains("\\-\\-detailed\\-exitcode"), "{page}");
}
