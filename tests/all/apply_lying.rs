//! A lying source registry: the test proxy answers GETs of chosen objects
//! with bytes that do not match their digest, a truncated body, an absurd
//! size, or a content type that contradicts the manifest. `apply` must stop
//! for each image lied about with an error that names the registry, the
//! repository and what was wrong, tag nothing wrong (a watcher polls the
//! target throughout), and still promote the honest images.
//!
//! Source and target are one registry behind two proxies (two hosts): blobs
//! are streamed through quayside rather than mounted, so blob lies are read.

use crate::quayside::{Outcome, Quayside};
use crate::support::client::anonymous_connector;
use crate::support::faults::Lie;
use crate::support::images::{TestImage, push, two_platform_image};
use crate::support::promotion::run_async;
use crate::support::proxy::Proxy;
use crate::support::registry::TestRegistry;
use crate::support::releases::{demo_public_key, scratch_dir, write_releases};
use crate::support::watcher::{Watched, Watcher};
use quayside::config::model::SignatureFormat;
use quayside::digest::Digest;
use std::sync::Arc;

/// Which object of an image a lie is about.
type Object = fn(&TestImage) -> Digest;

/// One image per service; `lie` is told about `object(image)` on the source.
struct Case {
    service: &'static str,
    lie: Option<(Lie, Object)>,
    /// Words the error must contain (besides registry and repository).
    says: &'static [&'static str],
}

fn a_blob(image: &TestImage) -> Digest {
    image.blobs[1].0.clone()
}

fn a_child(image: &TestImage) -> Digest {
    image.manifests[0].digest.clone()
}

fn the_index(image: &TestImage) -> Digest {
    image.digest().clone()
}

const CASES: &[Case] = &[
    Case {
        service: "blob-bytes",
        lie: Some((Lie::WrongBytes, a_blob)),
        says: &["does not match its digest"],
    },
    Case {
        service: "manifest-bytes",
        lie: Some((Lie::WrongBytes, a_child)),
        says: &["does not match its digest"],
    },
    Case {
        service: "truncated-blob",
        lie: Some((Lie::Truncated, a_blob)),
        says: &[
            "get blob",
            "while reading blob",
            "cut the answer short",
            "run the command again",
        ],
    },
    Case {
        service: "truncated-manifest",
        lie: Some((Lie::Truncated, the_index)),
        says: &[
            "get manifest",
            "while reading manifest",
            "cut the answer short",
            "run the command again",
        ],
    },
    Case {
        service: "absurd-size",
        lie: Some((Lie::AbsurdSize, the_index)),
        says: &["larger than"],
    },
    Case {
        service: "contradicting-type",
        lie: Some((Lie::ContradictingType, a_child)),
        says: &["media type"],
    },
    Case {
        service: "honest",
        lie: None,
        says: &[],
    },
    // A manifest type that is no manifest type is ignored and the type read
    // from the (digest-checked) body, as for registries that omit it: the
    // image is promoted unchanged.
    Case {
        service: "html-type",
        lie: Some((Lie::NotAManifestType, a_child)),
        says: &[],
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lying_registry_stops_apply_for_that_image_only_and_nothing_wrong_is_tagged() {
    let registry = TestRegistry::start();
    let source = Proxy::start(&registry.host()).await;
    let target = Proxy::start(&registry.host()).await;
    let connector = Arc::new(anonymous_connector());
    let mut declared = Vec::new();
    for case in CASES {
        let image = two_platform_image(&format!("lying {}", case.service));
        let dev = connector.open(&registry.location(&format!("dev/{}", case.service)));
        push(dev.as_ref(), &image, Some("dev")).await;
        if let Some((lie, object)) = case.lie {
            source.lie_about(object(&image).as_str(), lie);
        }
        declared.push((case, image.digest().clone()));
    }
    let dir = scratch_dir();
    let text: Vec<(String, Digest)> = declared
        .iter()
        .map(|(case, digest)| (case.service.to_string(), digest.clone()))
        .collect();
    let releases: Vec<(&str, &str, &str)> = text
        .iter()
        .map(|(service, digest)| (service.as_str(), "v1.0.0", digest.as_str()))
        .collect();
    write_releases(
        dir.path(),
        &format!("http://{}/dev", source.host()),
        &format!("http://{}/prod", target.host()),
        &releases,
    );
    let key = demo_public_key(dir.path());
    let watcher = Watcher::start(
        connector.clone(),
        key,
        &SignatureFormat::DEFAULT,
        text.iter()
            .map(|(service, digest)| Watched {
                repository: registry.location(&format!("prod/{service}")),
                identity: format!("{}/prod/{service}", target.host()),
                releases: vec![("v1.0.0".to_string(), digest.clone())],
            })
            .collect(),
    );

    let apply = run(&dir, &["apply"]).await;
    // Twice: a lie is told every time, and a rerun must not get further.
    let again = run(&dir, &["apply"]).await;
    let report = watcher.stop().await;
    eprintln!("lies told: {}\n{apply:?}", source.fault_counts().lies);
    assert_eq!(apply.code, 1, "{apply:?}");
    assert_eq!(again.code, 1, "{again:?}");
    assert!(report.violations.is_empty(), "{:#?}", report.violations);

    let output = format!("{}\n{}", apply.stdout, apply.stderr);
    for (case, digest) in &declared {
        let prod = connector.open(&registry.location(&format!("prod/{}", case.service)));
        let tagged = prod.resolve_tag("v1.0.0").await.expect("resolve the tag");
        let lied = case.lie.is_some() && !case.says.is_empty();
        if !lied {
            assert_eq!(
                tagged.as_ref(),
                Some(digest),
                "{} is promoted",
                case.service
            );
            continue;
        }
        assert_eq!(tagged, None, "{} must not be tagged", case.service);
        let line = output
            .lines()
            .find(|line| line.contains(&format!("! {} ", case.service)))
            .unwrap_or_else(|| panic!("no failure line for {}:\n{output}", case.service));
        assert!(
            line.contains(&format!("dev/{}", case.service)),
            "{}: the error names the source repository: {line}",
            case.service
        );
        eprintln!("{}: {line}", case.service);
        assert!(
            line.contains(&source.host()),
            "{}: the error names the registry: {line}",
            case.service
        );
        for word in case.says {
            assert!(
                line.contains(word),
                "{}: the error says {word:?}: {line}",
                case.service
            );
        }
        // A broken body is no addressing or network problem: the hint for
        // send failures must not be given for it.
        assert!(
            !line.contains("Check the registry address"),
            "{}: the error gives the send-failure hint: {line}",
            case.service
        );
    }
}

async fn run(dir: &tempfile::TempDir, args: &[&str]) -> Outcome {
    run_async(
        Quayside::new(dir.path())
            .env_remove("COSIGN_PASSWORD")
            .env_remove("COSIGN_PRIVATE_KEY")
            .args(args),
    )
    .await
}
