//! `quayside import` against a real registry holding 30 target tags (signed
//! releases, unsigned releases, tags outside the pattern, a service whose
//! file section has no releases yet): the file gains one line per release
//! tag and nothing else changes, and its plan is all `unchanged` / `sign`,
//! with `unmanaged-tag` warnings only for the tags outside the pattern.

use crate::support::images::push_single;
use crate::support::promotion::Promotion;
use crate::support::releases::ServiceReleases;
use std::collections::BTreeSet;

const OUTSIDE: [&str; 7] = [
    "latest",
    "dev",
    "main",
    "sha-1234abc",
    "v1.0",
    "v2.0.0-rc.1",
    "1.2.3",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_adopts_every_release_tag_of_the_target() {
    let promotion = Promotion::start().await;
    let index = promotion.push_two_platform("gateway", "import index").await;
    let single = promotion.push_single("gateway", "import single").await;
    // Eight signed releases, applied by quayside.
    let signed: Vec<String> = [
        "v1.0.0-rc1",
        "v1.0.0",
        "v1.0.1",
        "v1.0.2",
        "v1.1.0-beta1",
        "v1.1.0-rc1",
        "v1.1.0",
        "v1.2.0",
    ]
    .iter()
    .map(|t| t.to_string())
    .collect();
    let declared: Vec<(&str, &quayside::digest::Digest)> = signed
        .iter()
        .enumerate()
        .map(|(n, tag)| {
            (
                tag.as_str(),
                if n % 2 == 0 { index.digest() } else { &single },
            )
        })
        .collect();
    promotion.write_releases("prod", &[ServiceReleases::new("gateway", &declared)]);
    let apply = promotion.run(["apply", "--allow-dirty"]).await;
    assert_eq!(apply.code, 0, "{apply:?}");

    // Thirteen unsigned releases and seven other tags, pushed by hand.
    let prod = promotion.direct("prod", "gateway");
    for n in 0..13 {
        push_single(
            prod.as_ref(),
            &format!("unsigned {n}"),
            &format!("v0.{n}.0"),
        )
        .await;
    }
    for tag in OUTSIDE {
        push_single(prod.as_ref(), &format!("other {tag}"), tag).await;
    }
    // A second service whose file section has no releases yet: two tags.
    let notifier = promotion.direct("prod", "notifier");
    push_single(notifier.as_ref(), "notifier a", "v3.0.0").await;
    push_single(notifier.as_ref(), "notifier b", "v3.1.0").await;

    // The file keeps two of the signed releases, a comment, and a service
    // table without releases.
    promotion.write_releases("prod", &[ServiceReleases::new("gateway", &declared[..2])]);
    let path = promotion.dir.path().join("releases.toml");
    let before = std::fs::read_to_string(&path).unwrap()
        + "\n# notifications, adopted from the old pipeline\n[services.notifier]\n";
    std::fs::write(&path, &before).unwrap();

    let import = promotion.run(["import"]).await;
    assert_eq!(import.code, 0, "{import:?}");
    assert!(
        import
            .stdout
            .contains("gateway: 19 imported, 2 already declared"),
        "{import:?}"
    );
    assert!(
        import
            .stdout
            .contains("notifier: 2 imported, 0 already declared"),
        "{import:?}"
    );
    assert!(
        import.stdout.contains("not release tags (left in the target, not imported): 1.2.3, dev, latest, main, sha-1234abc, v1.0, v2.0.0-rc.1"),
        "{import:?}"
    );
    let after = std::fs::read_to_string(&path).unwrap();
    // Every line of the old file is still there, in order; only release lines
    // (and the notifier's new table) are added.
    let added: Vec<&str> = similar::TextDiff::from_lines(&before, &after)
        .iter_all_changes()
        .filter_map(|change| match change.tag() {
            similar::ChangeTag::Delete => panic!("import removed {:?}", change.value()),
            similar::ChangeTag::Insert => Some(change.value()),
            similar::ChangeTag::Equal => None,
        })
        .collect();
    let header_or_blank =
        |line: &&str| line.trim().is_empty() || line.trim() == "[services.notifier.releases]";
    assert_eq!(
        added.iter().filter(|l| !header_or_blank(l)).count(),
        21,
        "{after}"
    );
    assert!(after.contains("\"v0.0.0\" = \"sha256:"), "{after}");
    assert!(!after.contains("\"latest\""), "{after}");

    let validate = promotion.run(["validate"]).await;
    assert_eq!(validate.code, 0, "{validate:?}");
    let plan = promotion.run(["plan", "--format", "json"]).await;
    assert_eq!(plan.code, 0, "{plan:?}");
    let json = plan.json();
    assert_eq!(json["summary"]["unchanged"], 8, "{plan:?}");
    assert_eq!(json["summary"]["sign"], 15, "{plan:?}");
    assert_eq!(json["summary"]["create"], 0, "{plan:?}");
    assert_eq!(json["summary"]["refused"], 0, "{plan:?}");
    let unmanaged: BTreeSet<String> = json["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["code"] == "unmanaged-tag")
        .map(|w| w["tag"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        unmanaged,
        OUTSIDE.iter().map(|t| t.to_string()).collect(),
        "{plan:?}"
    );

    // Again: nothing new, the file untouched.
    let again = promotion.run(["import"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again.stdout.contains("releases.toml was not changed."),
        "{again:?}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), after);
}
