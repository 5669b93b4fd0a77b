//! What an all-unchanged plan costs on the real Quay with `QUAY_API_TOKEN`
//! (issue 18, item 4): Quay's REST tag list (100 tags with digests per
//! request, not cached) stands in for the tag list and every tag's GET, and
//! an index's verified signature names its children, so what is left per
//! release is its signature (5 requests for these 4 releases). Counted per kind by a proxy in
//! front of Quay; right after an apply, while Quay's `tags/list` cache still
//! holds the empty lists a plan read before it. The apply itself, whose plan
//! saw every `.sig` tag absent in the same listing, signs without reading
//! them (item 3 b).

use crate::support::images::push_single;
use crate::support::proxy::{KindCounts, Proxy, kinds_table as table};
use crate::support::quay_promotion::{Credentials, QuayPromotion};
use crate::support::releases::ServiceReleases;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_plan_right_after_apply_reads_quays_rest_tag_list_and_the_signatures() {
    let services = ["gateway", "notifier"];
    let Some(mut quay) = QuayPromotion::start(&services, Credentials::OneForBoth).await else {
        return;
    };
    let proxy = Proxy::start(&quay.quay.host()).await;
    quay.admin_credentials_for(&[proxy.host()]);
    let first = quay
        .push_two_platform("gateway", "rest list gateway 1")
        .await;
    let second = quay
        .push_two_platform("gateway", "rest list gateway 2")
        .await;
    let notifier = push_single(
        quay.source("notifier").as_ref(),
        "rest list notifier",
        "dev",
    )
    .await;
    let target_org = quay.target_org.clone();
    quay.write_releases_at(
        "releases.toml",
        &proxy.host(),
        &target_org,
        &[
            ServiceReleases::new(
                "gateway",
                &[
                    ("v1.0.0-rc1", first.digest()),
                    ("v1.0.0", first.digest()),
                    ("v1.1.0", second.digest()),
                ],
            ),
            ServiceReleases::new("notifier", &[("v0.1.0", &notifier)]),
        ],
    );

    // Without the token the plan reads `/v2/.../tags/list`: Quay caches the
    // empty lists for 120 s.
    let before = quay.run(["plan", "--detailed-exitcode"]).await;
    assert_eq!(before.code, 2, "{before:?}");
    let kinds = proxy.kinds();
    assert!(
        kinds.get("GET tags/list").is_some_and(|n| *n >= 2),
        "\n{}",
        table(&kinds)
    );

    proxy.reset();
    let apply = quay.run_with_api_token(&["apply"]).await;
    assert_eq!(apply.code, 0, "{apply:?}");
    // Its plan listed the targets through the REST API, which lacked every
    // `.sig` tag: signing the 3 images (7 manifests) read none of them
    // (issue 18, item 3 b); the 3 reads are the confirmation's, of the roots.
    let kinds = proxy.kinds();
    assert_eq!(
        kinds.get("GET manifest .sig"),
        Some(&3),
        "\n{}",
        table(&kinds)
    );
    assert_eq!(
        kinds.get("PUT manifest .sig"),
        Some(&7),
        "\n{}",
        table(&kinds)
    );
    assert_eq!(
        kinds.get("GET REST tag list"),
        Some(&2),
        "\n{}",
        table(&kinds)
    );

    // Seconds later, the cache still stale: the plan sees every release in
    // place and signed.
    proxy.reset();
    let plan = quay
        .run_with_api_token(&["plan", "--detailed-exitcode"])
        .await;
    assert_eq!(
        plan.code, 0,
        "nothing to do right after the apply: {plan:?}"
    );
    assert!(plan.stdout.contains("4 unchanged"), "{plan:?}");
    let mut kinds = proxy.kinds();
    // Quay challenges the first registry request (401, then a token from
    // Quay itself, past the proxy); the other requests wait for that
    // answer (`auth::Probe`), so it is met once.
    let challenges = kinds.remove("GET manifest .sig (401)").unwrap_or(0);
    assert!(challenges <= 2, "\n{}", table(&proxy.kinds()));
    let want: KindCounts = [
        // One page per service (fewer than 100 tags each).
        ("GET REST tag list", 2),
        // The root's `.sig` of each digest in place (3: the rc and its final
        // share one), verified with the key; payloads inline. The indexes'
        // children are named by their verified signatures (no GET of the
        // index) and their `.sig` tags are in the listing.
        ("GET manifest .sig", 3),
    ]
    .into_iter()
    .map(|(kind, n)| (kind.to_string(), n))
    .collect();
    assert_eq!(kinds, want, "\n{}", table(&kinds));

    // The same plan without the token (the registry API, cache-proof since
    // issue 12) agrees, at its own cost.
    let plain = quay.run(["plan", "--detailed-exitcode"]).await;
    assert_eq!(plain.code, 0, "{plain:?}");
    let verify = quay.run_with_api_token(&["verify"]).await;
    assert_eq!(verify.code, 0, "{verify:?}");
}
