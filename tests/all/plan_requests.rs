//! How many requests a plan costs: the live-state reader asks a registry only
//! what the plan needs, and never reads the source for releases that are
//! already in place. Counted in-process through `Connector::request_counts`.

use crate::support::registry::TestRegistry;
use crate::support::releases::scratch_dir;
use crate::support::seeded::{promote, push_images, write_file};
use quayside::live::{Scope, read_live_state};
use quayside::plan::ActionKind;
use quayside::registry::Connector;
use quayside::registry::distribution::{ClientOptions, CredentialEnv, RequestCounts};
use quayside::signing::PublicKey;
use std::time::Duration;

fn options() -> ClientOptions {
    ClientOptions {
        credentials: CredentialEnv::anonymous(),
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        ..ClientOptions::default()
    }
}

/// Requests to plan `services` x `releases` two-platform releases that are all
/// in place and signed once per manifest (as `apply` leaves them), on an
/// anonymous registry (no token requests), from `src/live/read.rs`:
/// - per service: GET the target's tag list (one page: fewer than 100 tags);
/// - per release: HEAD the tag (resolve its digest);
/// - per release digest: GET the index, then for the index and each of its
///   2 children GET the `sha256-<hex>.sig` manifest and GET its one payload
///   blob: 1 + 3 x 2 = 7 GETs;
/// - the source: nothing (no release would be created).
pub fn expected_unchanged_plan_requests(services: u64, releases: u64) -> RequestCounts {
    let get = services * (1 + releases * 7);
    let head = services * releases;
    RequestCounts {
        get,
        head,
        total: get + head,
        ..RequestCounts::default()
    }
}

#[tokio::test]
async fn unchanged_plan_makes_exactly_the_expected_requests_and_never_reads_the_source() {
    let source = TestRegistry::start();
    let target = TestRegistry::start();
    let releases = push_images(&Connector::new(options()), &source.host(), 3, 2).await;
    let dir = scratch_dir();
    let text = write_file(dir.path(), &source.host(), &target.host(), &releases);
    promote(dir.path());

    // The source goes away: a plan with nothing to create must not need it
    // (any request to it would fail the read below).
    drop(source);
    let desired = quayside::config::parse_str(&text, "releases.toml", dir.path())
        .expect("the generated releases.toml is valid");
    let connector = Connector::new(options());
    let live = read_live_state(&desired, &connector, Scope::Plan)
        .await
        .expect("the target alone answers an unchanged plan");
    assert_eq!(
        connector.request_counts(),
        expected_unchanged_plan_requests(3, 2)
    );

    let key = PublicKey::load(&dir.path().join("demo-cosign.pub")).expect("demo public key");
    let plan = quayside::plan::plan(&desired, &live, Some(&key));
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
    // The figure the 50x4 benchmark (`plan_bench`) checks against.
    assert_eq!(expected_unchanged_plan_requests(50, 4).total, 1650);
}
