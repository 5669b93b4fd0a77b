//! Two `quayside apply` processes started at the same moment on the same
//! file (issue 8: a CI re-run racing the first run). Both must finish with
//! exit 0, or one must report the race clearly; either way the registry ends
//! exactly as declared: every tag at its digest, every manifest validly
//! signed (`verify`), nothing left to do (`plan --detailed-exitcode`).

use crate::support::promotion::{Promotion, run_async};
use crate::support::releases::ServiceReleases;

const SERVICES: usize = 5;
const ROUNDS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_applies_started_together_both_succeed_and_leave_the_declared_state() {
    let promotion = Promotion::start().await;
    let mut services = Vec::new();
    for s in 0..SERVICES {
        let name = format!("service{s}");
        let rc = promotion
            .push_two_platform(&name, &format!("{name} rc"))
            .await;
        // service0's final reuses its rc's digest (the usual promotion).
        let last = if s == 0 {
            rc.digest().clone()
        } else {
            promotion
                .push_two_platform(&name, &format!("{name} final"))
                .await
                .digest()
                .clone()
        };
        services.push(ServiceReleases::new(
            &name,
            &[("v1.0.0-rc1", rc.digest()), ("v1.0.0", &last)],
        ));
    }

    for round in 0..ROUNDS {
        // A fresh target each round: every write of the run is contended.
        promotion.write_releases(&format!("prod{round}"), &services);
        let (first, second) = tokio::join!(
            run_async(promotion.quayside().args(["apply"])),
            run_async(promotion.quayside().args(["apply"])),
        );
        for (name, outcome) in [("first", &first), ("second", &second)] {
            assert_eq!(outcome.code, 0, "round {round}, {name} apply: {outcome:?}");
        }
        let verify = promotion.run(["verify"]).await;
        assert_eq!(verify.code, 0, "round {round}: {verify:?}");
        let plan = promotion.run(["plan", "--detailed-exitcode"]).await;
        assert_eq!(plan.code, 0, "round {round}, nothing left to do: {plan:?}");
        for service in &services {
            let target = promotion.direct(&format!("prod{round}"), &service.name);
            for (tag, digest) in &service.releases {
                assert_eq!(
                    target.resolve_tag(tag).await.unwrap().as_ref(),
                    Some(digest),
                    "round {round}: {}:{tag}",
                    service.name
                );
            }
        }
    }
}
