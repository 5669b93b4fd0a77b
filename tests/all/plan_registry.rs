//! `quayside plan` (the binary) against a real `docker-registry` holding the
//! quickstart's images, pushed with skopeo and promoted with `quayside
//! apply`: every action kind, refusal and warning a registry can show, in the
//! three output formats, with the exit codes CI relies on.

use crate::quayside::{Outcome, Quayside};
use crate::support::registry::TestRegistry;
use crate::support::releases::{Declared, scratch_dir, skopeo_push, write_releases};
use std::path::Path;

// Digests of the quickstart's `dev/` images (see its `index.json` files).
const GATEWAY_V1: &str = "sha256:2bad65820b83d5fbe0f92c298a639d746a02db653e73bde47f8764391b632d7d";
const GATEWAY_RC: &str = "sha256:cb9d83dd5282d141a63b3d24bbb2cedad57419fee013764e9a6906086bb06ec3";
const DATASTORAGE_V1: &str =
    "sha256:65d681280213865236277e11c79346bb537519c32620e6ac630e8eed6adcf6f9";
const DATASTORAGE_FEATURE: &str =
    "sha256:efea78770b6b11ac3b35e7e92151c92d9db16f586a2882a3e3be2e4c10ff775b";
/// In no repository at all.
const MISSING: &str = "sha256:e3cb16c67c8a5bef34519176e7bb60ea07478d5ee3fe016e4615ded70e315d5a";

/// Released and signed by the first `apply`.
const PROMOTED: &[Declared<'static>] = &[
    ("gateway", "v1.0.0", GATEWAY_V1),
    ("datastorage", "v1.0.0", DATASTORAGE_V1),
];

/// unchanged x2, sign (tag pushed without a signature), create.
const PENDING: &[Declared<'static>] = &[
    ("gateway", "v1.0.0", GATEWAY_V1),
    ("gateway", "v1.1.0-rc1", GATEWAY_RC),
    ("datastorage", "v1.0.0", DATASTORAGE_V1),
    ("datastorage", "v1.1.0", DATASTORAGE_FEATURE),
];

/// `PENDING` plus a retag (prod's v0.9.0 holds another image), a digest no
/// source has, and a tag outside the production pattern.
const REFUSED: &[Declared<'static>] = &[
    ("gateway", "v0.9.0", GATEWAY_V1),
    ("gateway", "v1.0.0", GATEWAY_V1),
    ("gateway", "v1.1.0-rc1", GATEWAY_RC),
    ("gateway", "v1.2.0", MISSING),
    ("datastorage", "v1.0.0", DATASTORAGE_V1),
    ("datastorage", "v1.1.0", DATASTORAGE_FEATURE),
    ("datastorage", "latest", DATASTORAGE_V1),
];

fn quayside(dir: &Path, args: &[&str]) -> Outcome {
    Quayside::new(dir).args(args).run()
}

/// The output with the registry's random port replaced, for snapshots.
fn redact(text: &str, registry: &TestRegistry) -> String {
    text.replace(&registry.host(), "registry.test")
}

#[test]
fn plan_against_a_registry_shows_every_kind_in_every_format() {
    let registry = TestRegistry::start();
    let host = registry.host();
    let (source, target) = (format!("http://{host}/dev"), format!("http://{host}/prod"));
    // What CI builds leave in the development registry.
    for tag in ["v1.0.0-build", "dev", "feature-x"] {
        skopeo_push("gateway", tag, &format!("{host}/dev/gateway:{tag}"));
    }
    for tag in ["dev", "feature-x"] {
        skopeo_push("datastorage", tag, &format!("{host}/dev/datastorage:{tag}"));
    }
    let dir = scratch_dir();
    let dir = dir.path();

    // Promote the first releases: created, signed, tagged.
    write_releases(dir, &source, &target, PROMOTED);
    let out = quayside(dir, &["plan", "--detailed-exitcode", "--format", "json"]);
    assert_eq!(out.code, 2, "{out:?}");
    let plan = out.json();
    assert_eq!(plan["summary"]["create"], 2, "{out:?}");
    let out = quayside(dir, &["apply"]);
    assert_eq!(out.code, 0, "apply against the registry: {out:?}");
    let out = quayside(dir, &["plan", "--detailed-exitcode", "--format", "json"]);
    assert_eq!(out.code, 0, "after apply, nothing to do: {out:?}");
    let plan = out.json();
    assert_eq!(plan["summary"]["unchanged"], 2, "{out:?}");
    let out = quayside(dir, &["apply"]);
    assert_eq!(out.code, 0, "a second apply does nothing: {out:?}");
    let out = quayside(dir, &["verify"]);
    assert_eq!(out.code, 0, "verify after apply: {out:?}");

    // Someone pushed straight to prod: an unsigned release tag and a tag the
    // file does not declare.
    skopeo_push("gateway", "dev", &format!("{host}/prod/gateway:v1.1.0-rc1"));
    skopeo_push(
        "gateway",
        "feature-x",
        &format!("{host}/prod/gateway:v0.9.0"),
    );

    write_releases(dir, &source, &target, PENDING);
    for (format, name) in [
        ("text", "registry_plan_pending_text"),
        ("json", "registry_plan_pending_json"),
        ("markdown", "registry_plan_pending_markdown"),
    ] {
        let out = quayside(dir, &["plan", "--format", format]);
        assert_eq!(out.code, 0, "{format}: {out:?}");
        insta::assert_snapshot!(name, redact(&out.stdout, &registry));
    }
    let out = quayside(dir, &["plan", "--detailed-exitcode", "--format", "json"]);
    assert_eq!(out.code, 2, "{out:?}");
    let plan = out.json();
    let kinds: Vec<(&str, &str)> = plan["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| (a["tag"].as_str().unwrap(), a["kind"].as_str().unwrap()))
        .collect();
    for expected in [
        ("v1.0.0", "unchanged"),
        ("v1.1.0-rc1", "sign"),
        ("v1.1.0", "create"),
    ] {
        assert!(kinds.contains(&expected), "{expected:?} in {kinds:?}");
    }
    let warnings: Vec<(&str, &str)> = plan["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .map(|w| (w["code"].as_str().unwrap(), w["tag"].as_str().unwrap_or("")))
        .collect();
    assert!(
        warnings.contains(&("unmanaged-tag", "v0.9.0")),
        "{warnings:?}"
    );

    write_releases(dir, &source, &target, REFUSED);
    for (format, name) in [
        ("text", "registry_plan_refused_text"),
        ("json", "registry_plan_refused_json"),
        ("markdown", "registry_plan_refused_markdown"),
    ] {
        let out = quayside(dir, &["plan", "--format", format]);
        assert_eq!(out.code, 3, "{format}: {out:?}");
        insta::assert_snapshot!(name, redact(&out.stdout, &registry));
    }
    let out = quayside(dir, &["plan", "--detailed-exitcode", "--format", "json"]);
    assert_eq!(out.code, 3, "refusals win over pending changes: {out:?}");
    let plan = out.json();
    let mut refusals: Vec<(&str, &str)> = plan["refusals"]
        .as_array()
        .expect("refusals")
        .iter()
        .map(|r| (r["code"].as_str().unwrap(), r["tag"].as_str().unwrap()))
        .collect();
    refusals.sort();
    assert_eq!(
        refusals,
        [
            ("invalid-tag", "latest"),
            ("retag", "v0.9.0"),
            ("source-missing", "v1.2.0")
        ]
    );
    // A refused plan writes nothing: apply refuses too, and prod is as it was.
    let out = quayside(dir, &["apply"]);
    assert_eq!(out.code, 3, "{out:?}");
    write_releases(dir, &source, &target, PENDING);
    let out = quayside(dir, &["plan", "--format", "json"]);
    let plan = out.json();
    assert_eq!(
        plan["summary"],
        serde_json::json!({"create": 1, "sign": 1, "unchanged": 2, "refused": 0, "warnings": 2}),
        "{out:?}"
    );
}

#[test]
fn plan_against_a_registry_that_is_down_exits_1_and_names_it() {
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let host = format!("127.0.0.1:{port}");
    let dir = scratch_dir();
    write_releases(
        dir.path(),
        &format!("http://{host}/dev"),
        &format!("http://{host}/prod"),
        PROMOTED,
    );
    let out = quayside(dir.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.is_empty(), "no plan is printed: {out:?}");
    assert!(out.stderr.contains(&host), "names the registry: {out:?}");
}
