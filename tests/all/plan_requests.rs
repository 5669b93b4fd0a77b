//! How many requests a plan costs: the live-state reader asks a registry only
//! what the plan needs, and never reads the source for releases that are
//! already in place. Counted in-process through `Connector::request_counts`.

use crate::support::client::quick_retry_options;
use crate::support::registry::TestRegistry;
use crate::support::releases::{demo_public_key, scratch_dir};
use crate::support::seeded::{promote, push_images, write_file};
use quayside::live::{Scope, read_live_state};
use quayside::plan::ActionKind;
use quayside::registry::distribution::RequestCounts;
use quayside::registry::manifest::ManifestKind;
use quayside::registry::{Connector, ManifestRef};

/// Requests to plan `services` x `releases` two-platform releases that are all
/// in place and signed once per manifest (as `apply` leaves them), on an
/// anonymous registry (no token requests), from `src/live/read.rs`:
/// - per service: GET the target's tag list (one page: fewer than 100 tags),
///   which also tells which manifests have a `sha256-<hex>.sig` tag;
/// - per release: GET the manifest by tag (its bytes give the digest and the
///   children), GET the index's `.sig` manifest, and GET its payload blob
///   unless the signature layer carries the payload inline (`data`);
/// - the 2 children: nothing (their `.sig` tags are in the tag list);
/// - the source: nothing (no release would be created);
/// - with `bundles` (the format is required, as by default since issue 17;
///   CNCF distribution has no referrers API): per service, `GET
///   .../referrers/<digest>` of its first root (404, remembered for the
///   repository: `registry::distribution::referrers`); per release, GET the
///   fallback index tag `sha256-<hex>` and GET the bundle referrer manifest
///   it lists (the bundle inline in its layer's `data`: no blob GET).
///
/// Before issue 7 it was 1 + 8 per release (HEAD the tag, GET the index, GET
/// the `.sig` manifest and payload of the index and of each child). With
/// bundles before their reads were cut, 4 more per release (the referrers
/// GET per image and the bundle blob).
pub fn expected_unchanged_plan_requests(
    services: u64,
    releases: u64,
    inline_payloads: bool,
    bundles: bool,
) -> RequestCounts {
    let per_release = if inline_payloads { 2 } else { 3 };
    let (bundles_per_service, bundles_per_release) = if bundles { (1, 2) } else { (0, 0) };
    let get = services * (1 + bundles_per_service + releases * (per_release + bundles_per_release));
    RequestCounts {
        get,
        total: get,
        ..RequestCounts::default()
    }
}

/// Whether the signatures `apply` wrote carry their payloads inline, judged
/// on the first release's `.sig` manifest (one signer wrote them all).
pub async fn payloads_are_inline(desired: &quayside::config::model::Desired) -> bool {
    let service = &desired.services[0];
    let tag = service.releases[0].digest.signature_tag();
    let connector = Connector::new(quick_retry_options());
    let manifest = connector
        .open(&service.target)
        .get_manifest(ManifestRef::Tag(&tag))
        .await
        .expect("the target answers")
        .expect("apply signed the release");
    match manifest.kind().expect("a signature manifest") {
        ManifestKind::Image { layers, .. } => layers
            .iter()
            .all(|layer| quayside::signing::inline::payload(layer).is_some()),
        ManifestKind::Index { .. } => panic!("{tag} holds an index"),
    }
}

#[tokio::test]
async fn unchanged_plan_makes_exactly_the_expected_requests_and_never_reads_the_source() {
    let source = TestRegistry::start();
    let target = TestRegistry::start();
    let releases = push_images(&Connector::new(quick_retry_options()), &source.host(), 3, 2).await;
    let dir = scratch_dir();
    let text = write_file(dir.path(), &source.host(), &target.host(), &releases);
    promote(dir.path());

    // The source goes away: a plan with nothing to create must not need it
    // (any request to it would fail the read below).
    drop(source);
    let desired = quayside::config::parse_str(&text, "releases.toml", dir.path())
        .expect("the generated releases.toml is valid");
    let connector = Connector::new(quick_retry_options());
    let live = read_live_state(&desired, &connector, Scope::Plan)
        .await
        .expect("the target alone answers an unchanged plan");
    let inline = payloads_are_inline(&desired).await;
    // The file leaves `signing.formats` at the default: legacy and bundle.
    assert_eq!(
        connector.request_counts(),
        expected_unchanged_plan_requests(3, 2, inline, true),
        "payloads inline: {inline}"
    );

    let key = demo_public_key(dir.path());
    let criteria = quayside::plan::Criteria {
        verifier: Some(&key),
        today: quayside::scan::today_utc(std::time::SystemTime::now()),
        strict: false,
    };
    let plan = quayside::plan::plan(&desired, &live, None, &criteria);
    assert_eq!(plan.actions.len(), 6);
    assert!(
        plan.actions
            .iter()
            .all(|action| action.kind == ActionKind::Unchanged),
        "{:?}",
        plan.actions
    );
    assert!(!plan.is_refused());
}

#[test]
fn the_expected_count_for_50_services_of_4_releases() {
    // Legacy only: 50 x (1 + 4 x 3), or 50 x (1 + 4 x 2) once payloads are
    // inline; it was 1,650.
    assert_eq!(
        expected_unchanged_plan_requests(50, 4, false, false).total,
        650
    );
    assert_eq!(
        expected_unchanged_plan_requests(50, 4, true, false).total,
        450
    );
    // The default formats, what the 50x4 benchmark (`plan_bench`) checks
    // against: 50 x (2 + 4 x 5), or 50 x (2 + 4 x 4) with inline payloads.
    assert_eq!(
        expected_unchanged_plan_requests(50, 4, false, true).total,
        1100
    );
    assert_eq!(
        expected_unchanged_plan_requests(50, 4, true, true).total,
        900
    );
}
