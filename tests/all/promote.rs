//! `quayside promote` against a real registry: from a declared rc, from the
//! source's `dev` tag and from a digest, the file's diff is exactly the new
//! line (snapshots) and `plan --base` on it shows exactly that release; a
//! line plan would refuse (already declared, invalid tag, rc rule) is shown
//! and the file is left byte for byte as it was.

use crate::support::git::git;
use crate::support::promotion::Promotion;
use crate::support::releases::{
    DEMO_KEY, DEMO_PUBLIC_KEY, NO_SCANNING, ServiceReleases, signing_lines,
};
use quayside::digest::Digest;

/// A unified diff of the file, digests replaced by the names given.
fn diff(before: &str, after: &str, names: &[(&Digest, &str)]) -> String {
    let mut text = similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .to_string();
    for (digest, name) in names {
        text = text.replace(digest.as_str(), name);
    }
    text
}

/// A file declaring gateway `v1.0.0-rc1` on `digest`.
fn declare_rc(promotion: &Promotion, digest: &Digest, require_rc: bool) {
    promotion.write_releases_with(
        "prod",
        &[ServiceReleases::new("gateway", &[("v1.0.0-rc1", digest)])],
        &format!("{NO_SCANNING}require_rc = {require_rc}\n"),
        &signing_lines(DEMO_KEY, DEMO_PUBLIC_KEY),
    );
}

fn read(promotion: &Promotion) -> String {
    std::fs::read_to_string(promotion.dir.path().join("releases.toml")).unwrap()
}

/// Commits the file, promotes, and checks `plan --base HEAD` names only the
/// new release; returns the diff and promote's stdout.
async fn promote(promotion: &Promotion, args: &[&str]) -> (String, String, String) {
    let dir = promotion.dir.path();
    git(dir, &["add", "-A"]);
    git(
        dir,
        &["commit", "-q", "--allow-empty", "-m", "before promote"],
    );
    let before = read(promotion);
    let mut full = vec!["promote"];
    full.extend_from_slice(args);
    let out = promotion.run(&full).await;
    assert_eq!(out.code, 0, "{out:?}");
    let after = read(promotion);
    // Exactly one line more, everything else byte for byte.
    let added: Vec<&str> = after
        .lines()
        .filter(|l| !before.lines().any(|b| b == *l))
        .collect();
    assert_eq!(added.len(), 1, "{after}");
    assert_eq!(after.replacen(&format!("{}\n", added[0]), "", 1), before);
    let plan = promotion
        .run(["plan", "--base", "HEAD", "--format", "json"])
        .await;
    assert_eq!(plan.code, 0, "{plan:?}");
    let json = plan.json();
    let actions = json["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "{plan:?}");
    assert_eq!(actions[0]["service"], args[0]);
    assert_eq!(actions[0]["tag"], args[1]);
    assert_eq!(actions[0]["kind"], "create");
    (before, after, out.stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_writes_exactly_the_new_line() {
    let promotion = Promotion::start().await;
    let first = promotion.push_two_platform("gateway", "promote 1").await;
    declare_rc(&promotion, first.digest(), false);
    // A comment and alignment the edit must keep.
    let path = promotion.dir.path().join("releases.toml");
    let text = read(&promotion).replace(
        "[services.gateway.releases]\n",
        "# the front door\n[services.gateway.releases]   # newest last\n",
    );
    std::fs::write(&path, text).unwrap();
    git(promotion.dir.path(), &["init", "-q"]);
    let apply = promotion.run(["apply", "--allow-dirty"]).await;
    assert_eq!(apply.code, 0, "{apply:?}");

    // rc → final: the same digest.
    let (before, after, out) =
        promote(&promotion, &["gateway", "v1.0.0", "--from", "v1.0.0-rc1"]).await;
    assert!(out.contains("an index: linux/amd64, linux/arm64"), "{out}");
    insta::assert_snapshot!(
        "promote_from_rc",
        diff(&before, &after, &[(first.digest(), "<first>")])
    );

    // The source's `dev` tag, moved to a new image: the digest it serves now.
    let second = promotion.push_two_platform("gateway", "promote 2").await;
    let (before, after, out) = promote(&promotion, &["gateway", "v1.1.0", "--from", "dev"]).await;
    assert!(
        out.contains(&format!("which the registry serves as {}", second.digest())),
        "{out}"
    );
    insta::assert_snapshot!(
        "promote_from_dev_tag",
        diff(
            &before,
            &after,
            &[(first.digest(), "<first>"), (second.digest(), "<second>")]
        )
    );

    // A platform's digest: written, with the warning.
    let child = second.manifests[0].digest.clone();
    let from = child.to_string();
    let (before, after, out) = promote(&promotion, &["gateway", "v1.2.0", "--from", &from]).await;
    assert!(
        out.contains("warning: a single-platform image manifest"),
        "{out}"
    );
    insta::assert_snapshot!(
        "promote_from_digest",
        diff(
            &before,
            &after,
            &[(second.digest(), "<second>"), (&child, "<child>")]
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_never_writes_a_line_plan_would_refuse() {
    let promotion = Promotion::start().await;
    let image = promotion
        .push_two_platform("gateway", "promote refused")
        .await;
    declare_rc(&promotion, image.digest(), true);
    let before = read(&promotion);
    let other = promotion
        .push_two_platform("gateway", "promote other")
        .await;
    let cases: [(&[&str], &str); 4] = [
        (
            &["gateway", "v1.0.0-rc1", "--from", "dev"],
            "error[already-declared]",
        ),
        (
            &["gateway", "latest", "--from", "dev"],
            "error[invalid-tag]",
        ),
        (
            &["gateway", "v1.0.0-rc.1", "--from", "dev"],
            "set tag_grammar = \"semver\"",
        ),
        // The final on a digest no rc declared.
        (
            &["gateway", "v1.0.0", "--from", "dev"],
            "error[rc-required]",
        ),
    ];
    for (args, want) in cases {
        let mut full = vec!["promote"];
        full.extend_from_slice(args);
        let out = promotion.run(&full).await;
        assert_eq!(out.code, 3, "{args:?}: {out:?}");
        assert!(out.stdout.contains(want), "{args:?}: {out:?}");
        assert_eq!(read(&promotion), before, "{args:?}: the file changed");
    }
    assert_ne!(other.digest(), image.digest());
    let missing = promotion
        .run(["promote", "gateway", "v1.1.0", "--from", "nope"])
        .await;
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(missing.stderr.contains("no tag `nope`"), "{missing:?}");
    let unknown = promotion
        .run(["promote", "gateway2", "v1.1.0", "--from", "dev"])
        .await;
    assert_eq!(unknown.code, 1, "{unknown:?}");
    assert!(
        unknown.stderr.contains("the file declares: gateway"),
        "{unknown:?}"
    );
    assert_eq!(read(&promotion), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_digest_names_the_index_that_holds_it_and_a_lone_image_raises_no_alarm() {
    let promotion = Promotion::start().await;
    // gateway's `dev` is a two-platform index; datastorage's `dev` a lone
    // single-platform image that no index holds.
    let image = promotion.push_two_platform("gateway", "holder 1").await;
    let lone = promotion.push_single("datastorage", "holder 2").await;
    promotion.write_releases_with(
        "prod",
        &[
            ServiceReleases::new("gateway", &[("v0.9.0", image.digest())]),
            ServiceReleases::new("datastorage", &[("v0.9.0", &lone)]),
        ],
        NO_SCANNING,
        &signing_lines(DEMO_KEY, DEMO_PUBLIC_KEY),
    );
    let arm64 = image.manifests[1].digest.clone();
    let index = image.digest();
    let out = promotion
        .run(["promote", "gateway", "v1.0.0", "--from", arm64.as_str()])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains(&format!(
            "warning: a single-platform image manifest: {arm64} is the linux/arm64 manifest of index {index}, which tag `dev` of {}/dev/gateway points at",
            promotion.host()
        )),
        "{out:?}"
    );
    assert!(
        out.stdout.contains(&format!(
            "Release the index instead: `quayside promote gateway v1.0.0 --from {index}`"
        )),
        "{out:?}"
    );

    let out = promotion
        .run(["promote", "datastorage", "v1.0.0", "--from", "dev"])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains(&format!(
            "a single-platform image manifest; no tag of {}/dev/datastorage points at an index that holds it",
            promotion.host()
        )),
        "{out:?}"
    );
    assert!(!out.stdout.contains("warning:"), "{out:?}");
}
