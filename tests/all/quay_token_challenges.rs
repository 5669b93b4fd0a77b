//! How many 401s a run meets on the real Quay, whose every registry request
//! needs a bearer token (issue 18): the first request to the registry learns
//! its challenge while the others wait, and each scope's token is fetched
//! once, so that a run sees one 401 per registry, not one per request in
//! flight at its start. Counted by a proxy in front of Quay that also
//! carries the token requests (`/v2/auth`, its realm pointed at the proxy).
//! Before this, each of these runs of 6 services met 6 (one per tag-list
//! read in flight at its start); the token requests were one per scope
//! then too (12, 12, 6).

use crate::support::images::push_single;
use crate::support::proxy::{KindCounts, kinds_table as table};
use crate::support::quay_promotion::QuayPromotion;
use crate::support::releases::ServiceReleases;

const SERVICES: [&str; 6] = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"];

/// Challenges (401 answers) among the requests counted.
fn challenges(kinds: &KindCounts) -> u64 {
    kinds
        .iter()
        .filter(|(kind, _)| kind.ends_with("(401)"))
        .map(|(_, n)| n)
        .sum()
}

fn token_requests(kinds: &KindCounts) -> u64 {
    kinds.get("GET token").copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_on_quay_meets_one_challenge_and_one_token_request_per_scope() {
    let Some((quay, proxy)) = QuayPromotion::behind_counting_proxy(&SERVICES).await else {
        return;
    };
    let mut services = Vec::new();
    for service in SERVICES {
        let digest = push_single(
            quay.source(service).as_ref(),
            &format!("challenges {service}"),
            "dev",
        )
        .await;
        services.push((service, digest));
    }
    let declared: Vec<ServiceReleases> = services
        .iter()
        .map(|(service, digest)| ServiceReleases::new(service, &[("v1.0.0", digest)]))
        .collect();
    let target_org = quay.target_org.clone();
    quay.write_releases_at("releases.toml", &proxy.host(), &target_org, &declared);
    let repositories = 2 * SERVICES.len() as u64;

    // Unpaced, so that the start of the run has as many requests in flight
    // as the concurrency limit allows (each of them met a 401 before).
    let plan: &[&str] = &["plan", "--detailed-exitcode"];
    let mut counted = Vec::new();
    for (args, want) in [(plan, 2), (&["apply"][..], 0), (plan, 0)] {
        let command = args[0];
        proxy.reset();
        let outcome = crate::support::promotion::run_async(
            quay.quayside()
                .env("QUAYSIDE_PACING", "off")
                .args(args.iter().copied()),
        )
        .await;
        assert_eq!(outcome.code, want, "{command}: {outcome:?}");
        let kinds = proxy.kinds();
        eprintln!(
            "{command}: {} challenges, {} token requests\n{}",
            challenges(&kinds),
            token_requests(&kinds),
            table(&kinds)
        );
        counted.push((command, kinds));
    }
    for (command, kinds) in counted {
        assert_eq!(challenges(&kinds), 1, "{command}:\n{}", table(&kinds));
        // One token per repository at most (12 here, the source's and the
        // target's of each service): the target's read, write and mount
        // scopes are asked at once (`auth::effective_scopes`).
        assert!(
            (1..=repositories).contains(&token_requests(&kinds)),
            "{command}:\n{}",
            table(&kinds)
        );
    }
}
