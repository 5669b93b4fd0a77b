//! `apply` and `verify` on the quickstart's `oci:` layouts: the embedded
//! default works end to end without a server.

use crate::quayside::{Quayside, repo_root, scratch_copy};
use crate::support::promotion::tree_hash as snapshot_tree;

#[test]
fn apply_then_verify_then_nothing_to_do() {
    let dir = scratch_copy(&repo_root().join("examples/quickstart"));
    let apply = Quayside::new(dir.path()).args(["apply"]).run();
    assert_eq!(apply.code, 0, "{apply:?}");
    assert!(
        apply
            .stdout
            .contains("Apply: 2 created, 0 signed, 0 failed"),
        "{apply:?}"
    );

    let verify = Quayside::new(dir.path()).args(["verify"]).run();
    assert_eq!(verify.code, 0, "{verify:?}");
    assert!(
        verify
            .stdout
            .contains("3 releases checked, 3 verified, 0 failing"),
        "{verify:?}"
    );

    let plan = Quayside::new(dir.path())
        .args(["plan", "--detailed-exitcode"])
        .run();
    assert_eq!(plan.code, 0, "{plan:?}");

    let before = snapshot_tree(&dir.path().join("prod"));
    let again = Quayside::new(dir.path()).args(["apply"]).run();
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("Nothing to do."), "{again:?}");
    assert_eq!(
        before,
        snapshot_tree(&dir.path().join("prod")),
        "a re-run wrote something"
    );
}

#[test]
fn a_refused_plan_writes_nothing_and_exits_3() {
    let dir = scratch_copy(&repo_root().join("examples/quickstart"));
    let file = dir.path().join("releases.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("# REFUSE: ", "")).unwrap();
    let before = snapshot_tree(dir.path());
    let apply = Quayside::new(dir.path()).args(["apply"]).run();
    assert_eq!(apply.code, 3, "{apply:?}");
    assert!(apply.stdout.contains("error[source-missing]"), "{apply:?}");
    assert_eq!(before, snapshot_tree(dir.path()));
}

#[test]
fn a_wrong_key_fails_before_any_write() {
    let dir = scratch_copy(&repo_root().join("examples/quickstart"));
    std::fs::write(dir.path().join("demo-cosign.key"), "not a key").unwrap();
    let before = snapshot_tree(dir.path());
    let apply = Quayside::new(dir.path()).args(["apply"]).run();
    assert_eq!(apply.code, 1, "{apply:?}");
    assert!(apply.stderr.contains("[signing] key"), "{apply:?}");
    assert_eq!(before, snapshot_tree(dir.path()));
}

#[test]
fn verify_fails_with_3_when_a_release_is_missing() {
    let dir = scratch_copy(&repo_root().join("examples/quickstart"));
    let verify = Quayside::new(dir.path()).args(["verify"]).run();
    assert_eq!(verify.code, 3, "{verify:?}");
    assert!(verify.stdout.contains("MISSING"), "{verify:?}");
}

#[test]
fn a_saved_plan_is_applied_and_a_stale_one_refused() {
    let dir = scratch_copy(&repo_root().join("examples/quickstart"));
    let plan = Quayside::new(dir.path())
        .args(["plan", "--out", "plan.json"])
        .run();
    assert_eq!(plan.code, 0, "{plan:?}");
    let stale = dir.path().join("stale.json");
    std::fs::copy(dir.path().join("plan.json"), &stale).unwrap();

    let apply = Quayside::new(dir.path()).args(["apply", "plan.json"]).run();
    assert_eq!(apply.code, 0, "{apply:?}");

    // The registries moved since `stale.json` was made (its creates are done).
    let before = snapshot_tree(dir.path());
    let again = Quayside::new(dir.path())
        .args(["apply", "stale.json"])
        .run();
    assert_eq!(again.code, 3, "{again:?}");
    assert!(
        again.stderr.contains("changed since the plan was made"),
        "{again:?}"
    );
    assert_eq!(before, snapshot_tree(dir.path()));
}
