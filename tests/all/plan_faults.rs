//! `quayside plan` through a proxy that answers about 30 % of requests with
//! 429 (`Retry-After: 0`) or 503: the retries hide the faults, and the plan is
//! byte for byte the plan made without them.

use crate::quayside::{Outcome, Quayside};
use crate::support::client::anonymous_connector;
use crate::support::faults::{FaultKind, FaultPlan};
use crate::support::images::{push, two_platform_image};
use crate::support::proxy::Proxy;
use crate::support::registry::TestRegistry;
use crate::support::releases::scratch_dir;
use crate::support::seeded::{Release, push_images, write_file};
use quayside::registry::Connector;
use std::path::{Path, PathBuf};

/// About 30 % of requests answered 429 or 503, as before the proxies merged.
fn throttling(seed: u64) -> FaultPlan {
    FaultPlan::spread(
        seed,
        30,
        &[FaultKind::TooManyRequests, FaultKind::Status503],
    )
}

/// A registry behind the (not yet faulty) proxy, holding 3 services x 2
/// releases, and a `releases.toml` declaring them. Everything goes through the
/// proxy, so that every reference (and every signature's docker-reference)
/// names the same host.
struct Proxied {
    _registry: TestRegistry,
    proxy: Proxy,
    host: String,
    connector: Connector,
    releases: Vec<Release>,
    dir: tempfile::TempDir,
}

impl Proxied {
    async fn start() -> Self {
        let registry = TestRegistry::start();
        let proxy = Proxy::start(&registry.host()).await;
        let host = proxy.host();
        let connector = anonymous_connector();
        let releases = push_images(&connector, &host, 3, 2).await;
        let dir = scratch_dir();
        write_file(dir.path(), &host, &host, &releases);
        Proxied {
            _registry: registry,
            proxy,
            host,
            connector,
            releases,
            dir,
        }
    }
}

/// Runs the binary off the async runtime, which keeps serving the proxy.
async fn quayside(dir: &Path, args: &'static [&'static str]) -> Outcome {
    let dir: PathBuf = dir.to_path_buf();
    tokio::task::spawn_blocking(move || Quayside::new(&dir).args(args).run())
        .await
        .expect("the quayside run finishes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_under_injected_429_and_503_equals_the_plan_without_faults() {
    let Proxied {
        _registry,
        proxy,
        host,
        connector,
        mut releases,
        dir,
    } = Proxied::start().await;
    let out = quayside(dir.path(), &["apply"]).await;
    assert_eq!(out.code, 0, "{out:?}");

    // One more release to create, so the plan also reads the source.
    let image = two_platform_image("late build");
    let source = connector.open(&quayside::config::location::RepositoryLocation::Remote {
        scheme: quayside::config::location::Scheme::Http,
        host: host.clone(),
        path: "dev/svc-00".into(),
    });
    push(source.as_ref(), &image, Some("late")).await;
    releases.push(Release {
        service: "svc-00".into(),
        tag: "v2.0.0".into(),
        digest: image.digest().to_string(),
    });
    write_file(dir.path(), &host, &host, &releases);

    let clean = quayside(dir.path(), &["plan", "--format", "json"]).await;
    assert_eq!(clean.code, 0, "{clean:?}");
    let plan = clean.json();
    assert_eq!(plan["summary"]["unchanged"], 6, "{clean:?}");
    assert_eq!(plan["summary"]["create"], 1, "{clean:?}");

    proxy.set_faults(throttling(0x5eed));
    let (requests, faults) = (proxy.counts().total, proxy.fault_counts().total());
    let faulty = quayside(dir.path(), &["plan", "--format", "json"]).await;
    let requests = proxy.counts().total - requests;
    let faults = proxy.fault_counts().total() - faults;
    eprintln!("{faults} injected faults in {requests} requests");
    assert_eq!(faulty.code, 0, "{faulty:?}");
    assert_eq!(faulty.stdout, clean.stdout, "the faults changed the plan");
    // 52 reads (see plan_requests) plus a retry per fault; about 30 % fail.
    assert!(
        faults * 100 >= requests * 15 && faults * 100 <= requests * 45,
        "{faults} faults in {requests} requests"
    );
}

/// Regression: a 503 on the PUT of a small blob (a signature payload or a
/// config) failed the release, because a streamed body cannot be replayed.
/// Small blobs are now buffered, so apply rides out the same 30 % of faults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_apply_under_injected_429_and_503_completes_in_one_run() {
    let Proxied {
        _registry,
        proxy,
        dir,
        ..
    } = Proxied::start().await;

    proxy.set_faults(throttling(0xfa17));
    let before = proxy.fault_counts().total();
    let out = quayside(dir.path(), &["apply"]).await;
    let faults = proxy.fault_counts().total() - before;
    assert_eq!(out.code, 0, "{faults} faults injected\n{out:?}");
    assert!(faults > 10, "only {faults} faults were injected");

    proxy.set_faults(FaultPlan::none());
    let verify = quayside(dir.path(), &["verify"]).await;
    assert_eq!(verify.code, 0, "{verify:?}");
}

/// Regression: a connection closed before the answer (a reset) failed any
/// read at once, so one reset among the hundreds of reads of a plan made the
/// whole `plan` or `apply` exit 1, run after run. Idempotent requests are now
/// retried after a lost answer, like 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_plan_and_apply_ride_out_connection_resets() {
    let Proxied {
        _registry,
        proxy,
        dir,
        ..
    } = Proxied::start().await;

    // Resets only, on about 20 % of requests, each forwarded first: the
    // registry did the work, the client never heard of it.
    proxy.set_faults(FaultPlan {
        rates: vec![(FaultKind::Reset, 2000)],
        ..FaultPlan::spread(0x4e5e7, 0, &[])
    });
    let plan = quayside(dir.path(), &["plan"]).await;
    assert_eq!(plan.code, 0, "{}\n{plan:?}", proxy.fault_counts());
    let apply = quayside(dir.path(), &["apply"]).await;
    let resets = proxy.fault_counts().get(FaultKind::Reset);
    assert!(resets > 10, "only {resets} resets were injected");
    proxy.set_faults(FaultPlan::none());
    // Resets after a PATCH (a streamed chunk, not repeatable) may still fail
    // a release; a rerun completes it.
    if apply.code != 0 {
        let again = quayside(dir.path(), &["apply"]).await;
        assert_eq!(again.code, 0, "{again:?}\nfirst run: {apply:?}");
    }
    let verify = quayside(dir.path(), &["verify"]).await;
    assert_eq!(verify.code, 0, "{verify:?}");
}
