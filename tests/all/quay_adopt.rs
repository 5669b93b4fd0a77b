//! `promote` and `import` against the real Quay (issue 15): promote from a
//! source `dev` tag writes exactly one line and `plan --base HEAD` shows
//! exactly one create; import of an organization holding signed, unsigned
//! and non-release tags, one pushed after a `tags/list` was already read
//! (inside Quay's 120 s cache of that list), adopts every release tag
//! through Quay's REST tag API, and the plan is all `unchanged` / `sign`
//! with no `unmanaged-tag` warning for a release tag.

use crate::support::git::git;
use crate::support::images::{push, push_single, two_platform_image};
use crate::support::promotion::run_async;
use crate::support::quay_promotion::{Credentials, QuayPromotion};
use crate::support::releases::ServiceReleases;
use std::collections::BTreeSet;

fn read(quay: &QuayPromotion) -> String {
    std::fs::read_to_string(quay.dir.path().join("releases.toml")).expect("read releases.toml")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_from_a_dev_tag_on_quay_writes_one_line_and_plan_base_shows_one_create() {
    let Some(quay) = QuayPromotion::start(&["gateway"], Credentials::RobotPerOrganization).await
    else {
        return;
    };
    let first = quay.push_two_platform("gateway", "quay promote 1").await;
    quay.write_releases(&[ServiceReleases::new(
        "gateway",
        &[("v0.9.0", first.digest())],
    )]);
    let dir = quay.dir.path();
    git(dir, &["init", "-q"]);
    git(dir, &["add", "releases.toml"]);
    git(dir, &["commit", "-q", "-m", "before promote"]);
    // CI moved `dev` to a new build.
    let second = quay.push_two_platform("gateway", "quay promote 2").await;
    let before = read(&quay);

    let out = quay
        .run(["promote", "gateway", "v1.0.0", "--from", "dev"])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains(&format!("which the registry serves as {}", second.digest())),
        "{out:?}"
    );
    assert!(
        out.stdout.contains("an index: linux/amd64, linux/arm64"),
        "{out:?}"
    );
    let after = read(&quay);
    let line = format!("\"v1.0.0\" = \"{}\"\n", second.digest());
    assert_eq!(after.matches(&line).count(), 1, "{after}");
    assert_eq!(
        after.replacen(&line, "", 1),
        before,
        "only the line was added"
    );

    let plan = quay
        .run(["plan", "--base", "HEAD", "--format", "json"])
        .await;
    assert_eq!(plan.code, 0, "{plan:?}");
    let json = plan.json();
    let actions = json["actions"].as_array().expect("actions");
    assert_eq!(actions.len(), 1, "{plan:?}");
    assert_eq!(actions[0]["tag"], "v1.0.0");
    assert_eq!(actions[0]["kind"], "create");
    assert_eq!(actions[0]["digest"], second.digest().as_str());
    assert_eq!(json["summary"]["refused"], 0, "{plan:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_on_quay_reads_the_rest_tag_api_and_adopts_a_tag_the_cached_list_hides() {
    let Some(quay) = QuayPromotion::start(&["gateway"], Credentials::RobotPerOrganization).await
    else {
        return;
    };
    // Signed releases, made by apply.
    let signed = quay
        .push_two_platform("gateway", "quay import signed")
        .await;
    quay.write_releases(&[ServiceReleases::new(
        "gateway",
        &[("v1.0.0-rc1", signed.digest()), ("v1.0.0", signed.digest())],
    )]);
    let apply = quay.run(["apply"]).await;
    assert_eq!(apply.code, 0, "{apply:?}");
    // Unsigned releases and other tags, pushed by another pipeline.
    let target = quay.target("gateway");
    let unsigned = two_platform_image("quay import unsigned");
    push(target.as_ref(), &unsigned, Some("v1.1.0")).await;
    push(target.as_ref(), &unsigned, Some("v1.2.0-rc1")).await;
    push_single(target.as_ref(), "quay import latest", "latest").await;
    push_single(target.as_ref(), "quay import sha", "sha-1234abc").await;

    // The tag list was read (by apply, and here once more; Quay caches the
    // answer for 120 s), then a release is pushed: the list does not show it.
    target.list_tags().await.expect("tags/list");
    let late = push_single(target.as_ref(), "quay import late", "v1.3.0").await;
    let cached = target.list_tags().await.expect("tags/list");
    assert!(
        !cached.iter().any(|t| t == "v1.3.0"),
        "Quay's tags/list cache is what this test is about: {cached:?}"
    );

    // Only rc1 declared: import adopts the rest.
    let rc_only = [ServiceReleases::new(
        "gateway",
        &[("v1.0.0-rc1", signed.digest())],
    )];
    // Without an API token Quay's tag API refuses the private repository:
    // import says so and falls back to the (cached) tag list.
    quay.write_releases_at(
        "fallback.toml",
        &quay.quay.host(),
        &quay.target_org,
        &rc_only,
    );
    let fallback = quay.run(["import", "-f", "fallback.toml"]).await;
    assert_eq!(fallback.code, 0, "{fallback:?}");
    assert!(
        fallback.stderr.contains("Quay's tag API")
            && fallback.stderr.contains("QUAY_API_TOKEN is not set")
            && fallback.stderr.contains("caches for 120 s"),
        "{fallback:?}"
    );
    assert!(
        !fallback.stdout.contains("tags from Quay's tag API"),
        "{fallback:?}"
    );

    quay.write_releases(&rc_only);
    let import = run_async(
        quay.quayside()
            .env("QUAY_API_TOKEN", quay.quay.admin_token())
            .args(["import"]),
    )
    .await;
    assert_eq!(import.code, 0, "{import:?}");
    assert!(
        import
            .stdout
            .contains("gateway: 4 imported, 1 already declared (tags from Quay's tag API)"),
        "{import:?}"
    );
    assert!(
        import
            .stdout
            .contains(&format!("  + \"v1.3.0\" = \"{late}\"")),
        "the tag pushed inside the cache window: {import:?}"
    );
    assert!(
        import
            .stdout
            .contains("not release tags (left in the target, not imported): latest, sha-1234abc"),
        "{import:?}"
    );
    let after = read(&quay);
    assert!(
        after.contains(&format!("\"v1.0.0\" = \"{}\"", signed.digest())),
        "{after}"
    );
    assert!(
        after.contains(&format!("\"v1.1.0\" = \"{}\"", unsigned.digest())),
        "{after}"
    );

    let validate = quay.run(["validate"]).await;
    assert_eq!(validate.code, 0, "{validate:?}");
    let plan = quay.run(["plan", "--format", "json"]).await;
    assert_eq!(plan.code, 0, "{plan:?}");
    let json = plan.json();
    assert_eq!(json["summary"]["unchanged"], 2, "{plan:?}");
    assert_eq!(json["summary"]["sign"], 3, "{plan:?}");
    assert_eq!(json["summary"]["create"], 0, "{plan:?}");
    assert_eq!(json["summary"]["refused"], 0, "{plan:?}");
    let unmanaged: BTreeSet<String> = json["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter(|w| w["code"] == "unmanaged-tag")
        .filter_map(|w| w["tag"].as_str().map(str::to_string))
        .collect();
    let release_tags: Vec<&String> = unmanaged.iter().filter(|t| t.starts_with('v')).collect();
    assert!(release_tags.is_empty(), "{unmanaged:?}");
    assert!(
        unmanaged
            .iter()
            .all(|t| t == "latest" || t == "sha-1234abc"),
        "{unmanaged:?}"
    );
}
