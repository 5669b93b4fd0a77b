//! How deep plan and verify check signatures (issue 7), on the quickstart's
//! `oci:` layouts where gateway v1.0.0 (an index of two platforms) is already
//! in place and signed: a plan verifies the tag's own manifest and checks each
//! child only by its `sha256-<hex>.sig` tag; `verify` verifies every child.

use crate::quayside::{Quayside, repo_root, scratch_copy};
use crate::support::releases::demo_public_key;
use quayside::config::location::RepositoryLocation;
use quayside::digest::Digest;
use quayside::live::{Scope, SignatureTagPresence, read_live_state};
use quayside::plan::ActionKind;
use quayside::registry::layout::LayoutRepository;
use quayside::registry::{BlobReader, Connector, Repository};
use quayside::signing::store::signature_manifest;
use quayside::signing::{SignatureEntry, SigningKey};
use quayside::verify::{self, Finding};
use std::path::Path;

const INDEX: &str = "sha256:2bad65820b83d5fbe0f92c298a639d746a02db653e73bde47f8764391b632d7d";
const CHILDREN: [&str; 2] = [
    "sha256:949575349edc590e27a166aa43483a5af7bd7f1abdbd3b05ecbb790ae8cd826d",
    "sha256:05088cd50c0ca2899cbf117ef759aee3074575174bb91c67b7c89a2f2eeeafb8",
];

fn digest(text: &str) -> Digest {
    Digest::parse(text).expect("a digest")
}

fn gateway(dir: &Path) -> LayoutRepository {
    let location = RepositoryLocation::parse("oci:prod", dir).expect("an oci: location");
    LayoutRepository::new(location.child("gateway"))
}

fn connector() -> Connector {
    Connector::new(quayside::registry::distribution::ClientOptions::default())
}

/// The kind of gateway v1.0.0 in a plan of the quickstart.
async fn planned_kind(dir: &Path) -> ActionKind {
    let desired = quayside::config::load(&dir.join("releases.toml")).expect("valid");
    let live = read_live_state(&desired, &connector(), Scope::Plan)
        .await
        .expect("the layouts read");
    let key = demo_public_key(dir);
    let criteria = quayside::plan::Criteria {
        verifier: Some(&key),
        today: quayside::scan::today_utc(std::time::SystemTime::now()),
        strict: false,
    };
    let plan = quayside::plan::plan(&desired, &live, None, &criteria);
    plan.actions
        .iter()
        .find(|a| a.service == "gateway" && a.tag == "v1.0.0")
        .map(|a| a.kind)
        .expect("gateway v1.0.0 is planned")
}

#[tokio::test]
async fn a_child_signed_by_another_key_passes_plan_by_tag_and_fails_verify() {
    let dir = scratch_copy(&repo_root().join("examples/quickstart"));
    let repository = gateway(dir.path());
    let child = digest(CHILDREN[0]);

    // Replace the child's signature manifest with one whose only signature
    // is by a key nobody configured.
    let stranger = SigningKey::generate().unwrap();
    let entry = SignatureEntry::create(&stranger, &repository.location().signed_identity(), &child)
        .expect("a local key signs");
    let built = signature_manifest(None, &[entry], false)
        .expect("builds")
        .expect("something to write");
    for (blob, bytes) in built.blobs {
        repository
            .put_blob(&blob, BlobReader::from_bytes(bytes))
            .await
            .expect("blob written");
    }
    repository
        .put_manifest(&built.manifest, Some(&child.signature_tag()))
        .await
        .expect("signature tag moved");

    // The plan's model says the child was checked by tag only, and passes it.
    let desired = quayside::config::load(&dir.path().join("releases.toml")).expect("valid");
    let live = read_live_state(&desired, &connector(), Scope::Plan)
        .await
        .expect("reads");
    let image = &live.services["gateway"].signatures[&digest(INDEX)];
    assert_eq!(image.manifests.len(), 1, "only the root is read: {image:?}");
    assert_eq!(image.manifests[0].digest, digest(INDEX));
    assert_eq!(
        image.listed_children,
        CHILDREN
            .iter()
            .map(|c| SignatureTagPresence {
                digest: digest(c),
                listed: true
            })
            .collect::<Vec<_>>()
    );
    assert_eq!(planned_kind(dir.path()).await, ActionKind::Unchanged);

    // The audit reads and verifies the child's signature, and fails it.
    let audit = read_live_state(&desired, &connector(), Scope::Audit)
        .await
        .expect("reads");
    let key = demo_public_key(dir.path());
    let checks = verify::check(&desired, &audit, &key);
    let gateway = checks
        .iter()
        .find(|c| c.service == "gateway" && c.tag == "v1.0.0")
        .expect("checked");
    assert_eq!(
        gateway.finding,
        Finding::Unsigned {
            manifests: vec![child.clone()]
        }
    );
    let out = Quayside::new(dir.path()).args(["verify"]).run();
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        out.stdout
            .contains(&format!("UNSIGNED    no valid signature on {child}")),
        "{out:?}"
    );
}

#[tokio::test]
async fn a_child_without_a_signature_tag_makes_the_plan_sign() {
    let dir = scratch_copy(&repo_root().join("examples/quickstart"));
    assert_eq!(planned_kind(dir.path()).await, ActionKind::Unchanged);

    // Untag the second child's signature, as if the index had been signed
    // by `cosign sign` without `--recursive` (layouts have no delete: edit
    // index.json as another tool would).
    let index_path = dir.path().join("prod/gateway/index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).expect("index.json")).expect("json");
    let sig_tag = digest(CHILDREN[1]).signature_tag();
    let manifests = index["manifests"].as_array_mut().expect("manifests");
    let before = manifests.len();
    manifests.retain(|m| m["annotations"]["org.opencontainers.image.ref.name"] != sig_tag.as_str());
    assert_eq!(manifests.len(), before - 1, "{sig_tag} was tagged");
    std::fs::write(&index_path, index.to_string()).expect("index.json written");

    assert_eq!(planned_kind(dir.path()).await, ActionKind::Sign);
    let out = Quayside::new(dir.path())
        .args(["plan", "--detailed-exitcode"])
        .run();
    assert_eq!(out.code, 2, "changes pending: {out:?}");
}
