//! `plan --base` / `apply` against git history: throwaway repositories built
//! with the `git` CLI around a copy of the quickstart, plus the registry read
//! count of an incremental plan against a real registry.

use crate::quayside::{Outcome, Quayside, repo_root, scratch_copy};
use crate::support::client::anonymous_options;
use crate::support::git::git;
use crate::support::images::{push, two_platform_image};
use crate::support::registry::TestRegistry;
use quayside::history::Baseline;
use quayside::live::{Scope, read_live_state};
use quayside::registry::Connector;
use quayside::registry::distribution::ClientOptions;
use std::path::Path;

const NEW_DIGEST: &str = "sha256:65d681280213865236277e11c79346bb537519c32620e6ac630e8eed6adcf6f9";

/// The quickstart in a new git repository whose first commit ("base") holds
/// `releases.toml` as `base` makes it; the work tree then holds the original.
fn repo_with_base(base: impl Fn(&str) -> String) -> (tempfile::TempDir, String) {
    let dir = scratch_copy(&repo_root().join("examples/quickstart"));
    let file = dir.path().join("releases.toml");
    let original = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, base(&original)).unwrap();
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "base"]);
    std::fs::write(&file, original).unwrap();
    let base = git(dir.path(), &["rev-parse", "HEAD"]);
    (dir, base)
}

fn commit_all(dir: &Path, message: &str) -> String {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

fn without_line(text: &str, starts: &str) -> String {
    text.lines()
        .filter(|line| !line.starts_with(starts))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// Commit ids change with every run: replace them for snapshots.
fn redact(out: &Outcome, base: &str) -> String {
    out.stdout
        .replace(base, "<base>")
        .replace(&base[..7], "<base>")
}

fn plan(dir: &Path, args: &[&str]) -> Outcome {
    Quayside::new(dir).args(["plan"]).args(args).run()
}

#[test]
fn pr_adding_a_release_plans_one_create_and_skips_the_rest() {
    let (dir, base) = repo_with_base(|text| without_line(text, "\"v1.1.0-rc1\""));
    let text = plan(dir.path(), &["--base", "HEAD"]);
    assert_eq!(text.code, 0, "{text:?}");
    insta::assert_snapshot!("history_add_text", redact(&text, &base));

    let json = plan(dir.path(), &["--base", "HEAD", "--format", "json"]);
    let value = json.json();
    assert_eq!(value["summary"]["create"], 1, "{json:?}");
    assert_eq!(value["summary"]["not_checked"], 2);
    assert_eq!(value["actions"].as_array().unwrap().len(), 1);
    assert_eq!(value["actions"][0]["tag"], "v1.1.0-rc1");
    assert_eq!(value["base"], base.as_str());
    assert_eq!(value["revision"], base.as_str());

    let markdown = plan(dir.path(), &["--base", "HEAD", "--format", "markdown"]);
    assert_eq!(markdown.code, 0, "{markdown:?}");
    insta::assert_snapshot!("history_add_markdown", redact(&markdown, &base));

    // --full checks everything again: the unchanged releases are back.
    let full = plan(
        dir.path(),
        &["--base", "HEAD", "--full", "--format", "json"],
    );
    let value = full.json();
    assert_eq!(value["actions"].as_array().unwrap().len(), 3, "{full:?}");
    assert!(value["summary"].get("not_checked").is_none());
}

#[test]
fn pr_editing_a_released_digest_is_refused_changed() {
    let (dir, _) = repo_with_base(|text| text.to_string());
    let file = dir.path().join("releases.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let old = "sha256:2bad65820b83d5fbe0f92c298a639d746a02db653e73bde47f8764391b632d7d";
    std::fs::write(&file, text.replace(old, NEW_DIGEST)).unwrap();
    let line = text.lines().position(|l| l.contains(old)).unwrap() as u64 + 1;

    let out = plan(dir.path(), &["--base", "HEAD", "--format", "json"]);
    assert_eq!(out.code, 3, "{out:?}");
    let value = out.json();
    let refusal = &value["refusals"][0];
    assert_eq!(refusal["code"], "changed");
    assert_eq!(refusal["tag"], "v1.0.0");
    assert_eq!(refusal["location"]["file"], "releases.toml");
    assert_eq!(refusal["location"]["line"], line);
    // Exactly once: refused, so not also an action.
    assert!(
        !value["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["service"] == "gateway" && a["tag"] == "v1.0.0")
    );
}

#[test]
fn pr_deleting_a_release_is_refused_removed_at_the_base_line() {
    let (dir, base) = repo_with_base(|text| text.to_string());
    let file = dir.path().join("releases.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let line = text.lines().position(|l| l.contains(NEW_DIGEST)).unwrap() as u64 + 1;
    std::fs::write(&file, without_line(&text, "\"v1.0.0\" = \"sha256:65d6")).unwrap();

    let out = plan(dir.path(), &["--base", "HEAD", "--format", "json"]);
    assert_eq!(out.code, 3, "{out:?}");
    let value = out.json();
    let refusal = &value["refusals"][0];
    assert_eq!(refusal["code"], "removed");
    assert_eq!(refusal["service"], "datastorage");
    assert_eq!(
        refusal["location"]["file"],
        format!("releases.toml@{}", &base[..7])
    );
    assert_eq!(refusal["location"]["line"], line);

    let text = plan(dir.path(), &["--base", "HEAD"]);
    assert_eq!(text.code, 3);
    insta::assert_snapshot!("history_removed_text", redact(&text, &base));
}

#[test]
fn pr_only_reordering_and_reformatting_has_nothing_to_do() {
    let (dir, _) = repo_with_base(|text| text.to_string());
    let file = dir.path().join("releases.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let (head, datastorage) = text.split_at(text.find("[services.datastorage").unwrap());
    let (top, gateway) = head.split_at(head.find("[services.gateway").unwrap());
    let reordered = format!(
        "{top}{datastorage}\n{}",
        gateway.replace("\" = \"", "\"   =   \"")
    );
    std::fs::write(&file, reordered).unwrap();

    let out = plan(
        dir.path(),
        &[
            "--base",
            "HEAD",
            "--format",
            "markdown",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("quayside plan: nothing to do"),
        "{out:?}"
    );
    assert!(out.stdout.contains("3 releases unchanged since"), "{out:?}");
    assert!(
        out.stdout.contains("<details><summary>Changes to"),
        "{out:?}"
    );
}

#[test]
fn shallow_clone_without_the_base_is_a_clear_error() {
    let (origin, _) = repo_with_base(|text| text.to_string());
    std::fs::write(origin.path().join("NOTES"), "a second commit\n").unwrap();
    commit_all(origin.path(), "second");
    let clones = tempfile::tempdir().unwrap();
    let url = format!("file://{}", origin.path().display());
    git(
        clones.path(),
        &["clone", "-q", "--depth", "1", &url, "shallow"],
    );
    let out = plan(&clones.path().join("shallow"), &["--base", "HEAD~1"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("HEAD~1"), "{out:?}");
    assert!(out.stderr.contains("shallow"), "{out:?}");
    assert!(out.stderr.contains("fetch-depth: 0"), "{out:?}");
    assert!(!out.stderr.contains("panicked"), "{out:?}");
}

#[test]
fn unknown_revision_and_no_repository_are_clear_errors() {
    let (dir, _) = repo_with_base(|text| text.to_string());
    let out = plan(dir.path(), &["--base", "origin/main"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("`origin/main` not found"), "{out:?}");

    let plain = scratch_copy(&repo_root().join("examples/quickstart"));
    let out = plan(plain.path(), &["--base", "HEAD"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("not inside a git repository"),
        "{out:?}"
    );
}

#[test]
fn detached_head_and_a_renamed_file_work() {
    let (dir, base) = repo_with_base(|text| without_line(text, "\"v1.1.0-rc1\""));
    git(dir.path(), &["mv", "releases.toml", "prod.toml"]);
    commit_all(dir.path(), "rename and add a release");
    git(dir.path(), &["checkout", "-q", "--detach", "HEAD"]);

    let out = plan(
        dir.path(),
        &["-f", "prod.toml", "--base", &base, "--format", "json"],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("renamed from releases.toml"), "{out:?}");
    let value = out.json();
    assert_eq!(value["summary"]["create"], 1, "{out:?}");
    assert_eq!(value["actions"][0]["tag"], "v1.1.0-rc1");
}

#[tokio::test]
async fn apply_refuses_uncommitted_changes_unless_allowed_and_records_the_commit() {
    let (dir, _) = repo_with_base(|text| text.to_string());
    let file = dir.path().join("releases.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{text}\n# an uncommitted comment\n")).unwrap();
    let out = Quayside::new(dir.path()).args(["apply"]).run();
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("uncommitted changes"), "{out:?}");
    assert!(out.stderr.contains("--allow-dirty"), "{out:?}");

    std::fs::write(&file, &text).unwrap();
    let head = git(dir.path(), &["rev-parse", "HEAD"]);
    let out = Quayside::new(dir.path())
        .args(["apply", "--base", "HEAD"])
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains(&format!("Provenance: signatures record git commit {head}")),
        "{out:?}"
    );
    // The commit is in the signed payload's `optional` annotations.
    let location =
        quayside::config::location::RepositoryLocation::parse("oci:prod/gateway", dir.path())
            .unwrap();
    let target = Connector::new(ClientOptions::default()).open(&location);
    let created = quayside::digest::Digest::parse(
        "sha256:cb9d83dd5282d141a63b3d24bbb2cedad57419fee013764e9a6906086bb06ec3",
    )
    .unwrap();
    let entries = quayside::signing::store::read_signatures(target.as_ref(), &created)
        .await
        .expect("signatures readable");
    let payload: serde_json::Value = serde_json::from_slice(&entries[0].payload).unwrap();
    assert_eq!(
        payload["optional"]["dev.quayside/git-commit"],
        head.as_str(),
        "{payload}"
    );
}

/// FIGURE: registry requests of `plan --base` for a one-line PR on a file with
/// 200 releases, against the same plan without `--base`. Reproduce with
/// `cargo test --test all history::incremental -- --nocapture`.
#[tokio::test]
async fn incremental_plan_reads_grow_with_the_diff_not_the_file() {
    let registry = TestRegistry::start();
    let image = two_platform_image("history");
    let setup = Connector::new(anonymous_options());
    let mut base_text = format!(
        "version = 1\n[registries]\nsource = \"http://{0}/dev\"\ntarget = \"http://{0}/prod\"\n[policy]\nvulnerability_source = \"none\"\n",
        registry.host()
    );
    for service in 0..10 {
        let target = setup.open(&registry.location(&format!("prod/svc{service}")));
        push(target.as_ref(), &image, None).await;
        base_text.push_str(&format!("[services.svc{service}.releases]\n"));
        for release in 0..20 {
            let tag = format!("v1.{release}.0");
            target
                .put_manifest(&image.index, Some(&tag))
                .await
                .expect("tag");
            base_text.push_str(&format!("\"{tag}\" = \"{}\"\n", image.digest()));
        }
    }
    let source = setup.open(&registry.location("dev/svc3"));
    push(source.as_ref(), &image, None).await;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("releases.toml");
    std::fs::write(&file, &base_text).unwrap();
    git(dir.path(), &["init", "-q"]);
    commit_all(dir.path(), "200 releases");
    let new_text = base_text.replace(
        "[services.svc3.releases]\n",
        &format!(
            "[services.svc3.releases]\n\"v2.0.0\" = \"{}\"\n",
            image.digest()
        ),
    );
    std::fs::write(&file, &new_text).unwrap();
    let desired = quayside::config::load(&file).expect("valid file");

    let full = Connector::new(anonymous_options());
    read_live_state(&desired, &full, Scope::Plan)
        .await
        .expect("full read");
    let baseline = Baseline::load(&file, "HEAD", &desired).expect("baseline");
    let scoped = baseline.scope(&desired, false);
    let incremental = Connector::new(anonymous_options());
    read_live_state(&scoped.desired, &incremental, Scope::Plan)
        .await
        .expect("incremental read");
    let (full, incremental) = (
        full.request_counts().total,
        incremental.request_counts().total,
    );
    eprintln!(
        "FIGURE plan requests, 201 releases, one-line PR: without --base {full}, with --base {incremental} ({} not checked)",
        scoped.history.not_checked
    );
    assert_eq!(scoped.history.not_checked, 200);
    assert!(
        incremental <= 3,
        "incremental plan made {incremental} requests"
    );
    assert!(full >= 200, "full plan made only {full} requests");
}

/// A huge PR (a long diff, many refusals, thousands of releases) still makes a
/// comment GitHub accepts: verdict first, every `<details>` closed, and a note
/// wherever something was left out.
#[test]
fn markdown_comment_with_a_huge_diff_stays_under_the_limit() {
    use quayside::config::model::SourceLocation;
    use quayside::plan::{Action, ActionKind, Plan, Refusal, RefusalReason, Summary};
    use quayside::render::plan::markdown::{MARKER, MAX_CHARS, render_with_diff};

    let digest = quayside::digest::Digest::parse(NEW_DIGEST).unwrap();
    let actions: Vec<Action> = (0..3000)
        .map(|i| Action {
            service: format!("svc{}", i % 40),
            tag: format!("v1.{i}.0"),
            kind: ActionKind::Create,
            digest: digest.clone(),
            source: "quay.io/dev/svc".into(),
            target: "quay.io/prod/svc".into(),
        })
        .collect();
    let refusals: Vec<Refusal> = (0..400)
        .map(|i| Refusal {
            service: "gateway".into(),
            tag: format!("v0.{i}.0"),
            reason: RefusalReason::Changed {
                base: "abc1234".into(),
                was: digest.clone(),
                now: digest.clone(),
            },
            location: SourceLocation {
                file: "releases.toml".into(),
                line: i + 10,
                column: 1,
            },
            details: Vec::new(),
        })
        .collect();
    let plan = Plan {
        schema: 1,
        summary: Summary {
            create: actions.len(),
            refused: refusals.len(),
            not_checked: 7,
            ..Summary::default()
        },
        actions,
        policies: Vec::new(),
        refusals,
        warnings: Vec::new(),
        declared: Vec::new(),
        file: "releases.toml".into(),
        base: Some("abc1234def".repeat(4)),
        revision: None,
    };
    let diff: String = (0..20_000)
        .map(|i| format!("+\"v1.{i}.0\" = \"{NEW_DIGEST}\"\n"))
        .collect();
    let comment = render_with_diff(&plan, Some(&diff));
    assert!(comment.len() < MAX_CHARS, "{} characters", comment.len());
    let mut lines = comment.lines();
    assert_eq!(lines.next(), Some(MARKER));
    assert_eq!(
        lines.next(),
        Some("### :no_entry: quayside plan: refused: 400 problems")
    );
    assert!(comment.contains("more diff lines not shown"));
    assert!(comment.contains("7 releases unchanged since abc1234, not checked"));
    assert_eq!(
        comment.matches("<details>").count(),
        comment.matches("</details>").count(),
        "every <details> is closed"
    );
}
