//! `[policy] tag_grammar = "semver"` against a real registry: a file of
//! `-alpha.N`, `-beta.N` and `-rc.N` releases validates, plans and applies,
//! and `require_rc` refuses a final whose digest no `-rc.N` declared.

use crate::support::promotion::Promotion;
use crate::support::releases::{DEMO_KEY, DEMO_PUBLIC_KEY, ServiceReleases, signing_lines};

const SEMVER_POLICY: &str =
    "vulnerability_source = \"none\"\ntag_grammar = \"semver\"\nrequire_rc = true\n";

fn write(promotion: &Promotion, services: &[ServiceReleases]) {
    promotion.write_releases_with(
        "prod",
        services,
        SEMVER_POLICY,
        &signing_lines(DEMO_KEY, DEMO_PUBLIC_KEY),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semver_prereleases_validate_plan_and_apply() {
    let promotion = Promotion::start().await;
    let gateway = promotion
        .push_two_platform("gateway", "semver gateway")
        .await;
    let next = promotion.push_single("notifier", "semver notifier").await;
    let services = [
        ServiceReleases::new(
            "gateway",
            &[
                ("v1.30.0-alpha.0", gateway.digest()),
                ("v1.30.0-beta.1", gateway.digest()),
                ("v1.30.0-rc.1", gateway.digest()),
                ("v1.30.0", gateway.digest()),
            ],
        ),
        ServiceReleases::new("notifier", &[("v2.0.0-rc.0", &next)]),
    ];
    write(&promotion, &services);
    let validate = promotion.run(["validate"]).await;
    assert_eq!(validate.code, 0, "{validate:?}");
    let plan = promotion.run(["plan", "--format", "json"]).await;
    assert_eq!(plan.code, 0, "{plan:?}");
    let json = plan.json();
    assert_eq!(json["summary"]["create"], 5, "{plan:?}");
    let apply = promotion.run(["apply"]).await;
    assert_eq!(apply.code, 0, "{apply:?}");
    let verify = promotion.run(["verify"]).await;
    assert_eq!(verify.code, 0, "{verify:?}");
    let again = promotion.run(["plan", "--format", "json"]).await;
    assert_eq!(again.json()["summary"]["unchanged"], 5, "{again:?}");

    // A final on a digest only a beta declared: refused rc-required; the
    // DD-REGISTRY form `-rc1` is refused with the SemVer spelling to write.
    let services = [ServiceReleases::new(
        "notifier",
        &[
            ("v2.0.0-rc.0", &next),
            ("v2.1.0-beta.0", &next),
            ("v2.1.0", &next),
            ("v2.2.0-rc1", &next),
        ],
    )];
    write(&promotion, &services);
    let refused = promotion.run(["plan"]).await;
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(refused.stdout.contains("error[rc-required]"), "{refused:?}");
    assert!(
        refused.stdout.contains("write `v2.2.0-rc.1`"),
        "{refused:?}"
    );
    let validate = promotion.run(["validate"]).await;
    assert_eq!(validate.code, 1, "{validate:?}");
    assert!(
        validate.stdout.contains("under tag_grammar \"semver\""),
        "{validate:?}"
    );
}
