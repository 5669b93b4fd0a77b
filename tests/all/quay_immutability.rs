//! Registry-enforced immutability against the real Quay (issue 14): with
//! `policy.registry_immutability = "require"`, plan shows the organization
//! policy to create, apply creates it before any tag and a second apply
//! writes nothing; Quay then refuses (409) to move or delete a release tag
//! while cosign's `sha256-*.sig` tags stay writable; verify passes, and
//! fails once the policy is deleted; a policy freezing signature tags is
//! refused at the setting's line. An `oci:` target gets one warning.

use crate::quayside::{Outcome, Quayside, repo_root, scratch_copy};
use crate::support::images::single_image;
use crate::support::promotion::run_async;
use crate::support::quay_promotion::{Credentials, QuayPromotion};
use crate::support::releases::ServiceReleases;
use quayside::registry::{BlobReader, ManifestRef, RegistryError};
use reqwest::Method;
use serde_json::Value;

/// The line `registry_immutability = "require"` is written at.
fn require_immutability(path: &std::path::Path) -> usize {
    let text = std::fs::read_to_string(path).expect("read releases.toml");
    let text = text.replacen(
        "[policy]\n",
        "[policy]\nregistry_immutability = \"require\"\n",
        1,
    );
    std::fs::write(path, &text).expect("write releases.toml");
    text.lines()
        .position(|line| line.starts_with("registry_immutability"))
        .expect("the setting")
        + 1
}

async fn with_token(quay: &QuayPromotion, args: &[&str]) -> Outcome {
    run_async(
        quay.quayside()
            .env("QUAY_API_TOKEN", quay.quay.admin_token())
            .args(args),
    )
    .await
}

async fn policies(quay: &QuayPromotion) -> Vec<Value> {
    let list = quay
        .quay
        .api_ok(
            Method::GET,
            &format!("organization/{}/immutabilitypolicy/", quay.target_org),
            None,
        )
        .await;
    list["policies"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quay_enforces_the_release_tags_apply_protects_and_verify_sees_the_policy_go() {
    let Some(quay) = QuayPromotion::start(&["gateway"], Credentials::OneForBoth).await else {
        return;
    };
    let image = quay.push_two_platform("gateway", "immutability 1").await;
    let path = quay.write_releases(&[ServiceReleases::new(
        "gateway",
        &[("v1.0.0-rc1", image.digest()), ("v1.0.0", image.digest())],
    )]);
    let line = require_immutability(&path);

    // Without a token: an error naming the token and the right to grant.
    let anonymous = quay.run(["plan"]).await;
    assert_eq!(anonymous.code, 1, "{anonymous:?}");
    assert!(
        anonymous.stderr.contains("QUAY_API_TOKEN") && anonymous.stderr.contains("org:admin"),
        "{anonymous:?}"
    );

    let plan = with_token(&quay, &["plan", "--format", "json", "--detailed-exitcode"]).await;
    assert_eq!(plan.code, 2, "{plan:?}");
    let json = plan.json();
    let wanted = quayside::immutability::wanted_pattern(&["rc".into(), "beta".into()]);
    assert_eq!(json["summary"]["policies"], 1, "{plan:?}");
    assert_eq!(json["policies"][0]["kind"], "create");
    assert_eq!(
        json["policies"][0]["organization"],
        quay.target_org.as_str()
    );
    assert_eq!(json["policies"][0]["tag_pattern"], wanted.as_str());
    let warning = json["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["code"] == "tags-unprotected")
        .expect("a tags-unprotected warning");
    assert_eq!(warning["location"]["line"], line);
    let text = with_token(&quay, &["plan"]).await;
    assert!(
        text.stdout
            .contains("registry immutability\n  + create  immutability policy"),
        "{text:?}"
    );
    let markdown = with_token(&quay, &["plan", "--format", "markdown"]).await;
    assert!(
        markdown.stdout.contains("#### Registry immutability"),
        "{markdown:?}"
    );
    let strict = with_token(&quay, &["plan", "--strict"]).await;
    assert_eq!(strict.code, 3, "{strict:?}");
    assert!(
        strict.stdout.contains("error[tags-unprotected]"),
        "{strict:?}"
    );
    assert!(policies(&quay).await.is_empty(), "plan writes nothing");

    let apply = with_token(&quay, &["apply"]).await;
    assert_eq!(apply.code, 0, "{apply:?}");
    assert!(
        apply.stdout.contains("created immutability policy"),
        "{apply:?}"
    );
    let created = policies(&quay).await;
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["tagPattern"], wanted.as_str());
    let tags = quay.target_tags("gateway").await;
    for (name, _, _, immutable) in &tags {
        let release = name.starts_with('v');
        assert_eq!(*immutable, release, "{name}: {tags:?}");
    }

    let again = with_token(&quay, &["apply"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("Nothing to do."), "{again:?}");
    assert_eq!(policies(&quay).await.len(), 1);
    assert_eq!(quay.target_tags("gateway").await, tags, "no tag rewritten");

    // Another client cannot move a release tag, nor delete it.
    let target = quay.target("gateway");
    let (other, blobs) = single_image("immutability other", ("linux", "amd64"));
    for (digest, bytes) in blobs {
        target
            .put_blob(&digest, BlobReader::from_bytes(bytes))
            .await
            .unwrap();
    }
    let moved = target.put_manifest(&other, Some("v1.0.0")).await;
    assert!(
        matches!(moved, Err(RegistryError::TagImmutable { .. })),
        "{moved:?}"
    );
    let (status, body) = quay
        .quay
        .api(
            Method::DELETE,
            &format!("repository/{}/gateway/tag/v1.0.0", quay.target_org),
            None,
        )
        .await;
    assert_eq!(status, 409, "{body}");
    // cosign's signature tag stays writable: signing can extend it.
    let signature_tag = image.digest().signature_tag();
    let signature = target
        .get_manifest(ManifestRef::Tag(&signature_tag))
        .await
        .unwrap()
        .expect("apply signed the image");
    target
        .put_manifest(&signature, Some(&signature_tag))
        .await
        .expect("a signature tag is not frozen");

    // A new release signed and tagged under the policy.
    let second = quay.push_two_platform("gateway", "immutability 2").await;
    quay.write_releases(&[ServiceReleases::new(
        "gateway",
        &[
            ("v1.0.0-rc1", image.digest()),
            ("v1.0.0", image.digest()),
            ("v1.1.0", second.digest()),
        ],
    )]);
    require_immutability(&path);
    let apply = with_token(&quay, &["apply"]).await;
    assert_eq!(apply.code, 0, "{apply:?}");
    assert!(!apply.stdout.contains("created immutability policy"));

    let verify = with_token(&quay, &["verify"]).await;
    assert_eq!(verify.code, 0, "{verify:?}");
    assert!(
        verify.stdout.contains("registry immutability: protected"),
        "{verify:?}"
    );

    // The policy removed through the API: verify fails.
    let uuid = created[0]["uuid"].as_str().unwrap().to_string();
    quay.quay
        .api_ok(
            Method::DELETE,
            &format!("organization/{}/immutabilitypolicy/{uuid}", quay.target_org),
            None,
        )
        .await;
    let verify = with_token(&quay, &["verify"]).await;
    assert_eq!(verify.code, 3, "{verify:?}");
    assert!(verify.stdout.contains("UNPROTECTED"), "{verify:?}");

    // A policy freezing everything (cosign's tags too) is refused, located.
    let everything = quay
        .quay
        .api_ok(
            Method::POST,
            &format!("organization/{}/immutabilitypolicy/", quay.target_org),
            Some(serde_json::json!({"tagPattern": ".*", "tagPatternMatches": true})),
        )
        .await;
    let uuid = everything["uuid"].as_str().unwrap();
    let refused = with_token(&quay, &["plan"]).await;
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(
        refused.stdout.contains("error[freezes-signatures]"),
        "{refused:?}"
    );
    assert!(refused.stdout.contains(uuid), "{refused:?}");
    assert!(
        refused
            .stdout
            .contains(&format!("--> releases.toml:{line}:")),
        "{refused:?}"
    );
    assert!(refused.stdout.contains(&quay.quay.host()), "{refused:?}");
}

/// An `oci:` target has no immutability API: one warning, not an error.
#[test]
fn an_oci_target_gets_one_immutability_warning() {
    let dir = scratch_copy(&repo_root().join("examples/quickstart"));
    let path = dir.path().join("releases.toml");
    let line = require_immutability(&path);
    let plan = Quayside::new(dir.path())
        .args(["plan", "--format", "json"])
        .run();
    assert_eq!(plan.code, 0, "{plan:?}");
    let warnings: Vec<Value> = plan.json()["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["code"] == "immutability-unavailable")
        .cloned()
        .collect();
    assert_eq!(warnings.len(), 1, "{plan:?}");
    assert_eq!(warnings[0]["location"]["line"], line);
}
