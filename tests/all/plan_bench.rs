//! The 50 x 4 measurement (issue 3): 50 services with 4 two-platform releases
//! each, all promoted and signed in a real registry, then timed `quayside plan`
//! runs (nothing to do) and the exact request count. Not a CI test: it takes
//! minutes, so it is ignored and run by hand:
//!
//! ```text
//! cargo test --test all plan_bench -- --ignored --nocapture
//! ```
//!
//! The timed `plan` runs use the test build's (unoptimised) binary; set
//! `QUAYSIDE_BENCH_BIN` to time another one, e.g. after
//! `cargo build --release`: `QUAYSIDE_BENCH_BIN=$CARGO_TARGET_DIR/release/quayside`;
//! `QUAYSIDE_BENCH_BASELINE_BIN` times a second (older) binary on the same state.

use crate::plan_requests::{expected_unchanged_plan_requests, payloads_are_inline};
use crate::quayside::Quayside;
use crate::support::client::anonymous_options;
use crate::support::registry::TestRegistry;
use crate::support::releases::{demo_public_key, scratch_dir};
use crate::support::seeded::{push_images, write_file};
use quayside::live::{Scope, read_live_state};
use quayside::registry::Connector;
use std::time::{Duration, Instant};

const SERVICES: usize = 50;
const RELEASES: usize = 4;
const PLAN_RUNS: usize = 3;

#[tokio::test]
#[ignore = "a measurement of minutes, run by hand (see the module comment)"]
async fn bench_plan_50_services_x_4_releases() {
    let registry = TestRegistry::start();
    let host = registry.host();
    let started = Instant::now();
    let releases = push_images(
        &Connector::new(anonymous_options()),
        &host,
        SERVICES,
        RELEASES,
    )
    .await;
    eprintln!(
        "pushed {} two-platform images in {:.1} s",
        releases.len(),
        started.elapsed().as_secs_f64()
    );

    let dir = scratch_dir();
    let text = write_file(dir.path(), &host, &host, &releases);
    let started = Instant::now();
    let out = Quayside::new(dir.path()).args(["apply"]).run();
    assert_eq!(out.code, 0, "quayside apply: {out:?}");
    eprintln!(
        "quayside apply (copy, sign, tag {} releases) in {:.1} s: {}",
        releases.len(),
        started.elapsed().as_secs_f64(),
        out.stdout
            .lines()
            .rev()
            .take(2)
            .collect::<Vec<_>>()
            .join(" | ")
    );

    let binary = std::env::var_os("QUAYSIDE_BENCH_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_quayside").into());
    // Optionally an older build to compare with, timed on the same state.
    let baseline = std::env::var_os("QUAYSIDE_BENCH_BASELINE_BIN");
    for binary in std::iter::once(binary).chain(baseline) {
        time_plans(dir.path(), &binary, releases.len());
    }

    let desired = quayside::config::parse_str(&text, "releases.toml", dir.path())
        .expect("the generated releases.toml is valid");
    let connector = Connector::new(anonymous_options());
    let started = Instant::now();
    let live = read_live_state(&desired, &connector, Scope::Plan)
        .await
        .expect("live state");
    let elapsed = started.elapsed();
    let counts = connector.request_counts();
    eprintln!(
        "read_live_state in-process: {:.2} s, {} requests ({} GET, {} HEAD)",
        elapsed.as_secs_f64(),
        counts.total,
        counts.get,
        counts.head
    );
    let inline = payloads_are_inline(&desired).await;
    eprintln!("signature payloads inline: {inline}");
    assert_eq!(
        counts,
        expected_unchanged_plan_requests(SERVICES as u64, RELEASES as u64, inline, true)
    );

    // The pure planner: checking the root's signature of each release.
    let key = demo_public_key(dir.path());
    let started = Instant::now();
    let criteria = quayside::plan::Criteria {
        verifier: Some(&key),
        today: quayside::scan::today_utc(std::time::SystemTime::now()),
        strict: false,
    };
    let plan = quayside::plan::plan(&desired, &live, None, &criteria);
    eprintln!(
        "plan() in-process (verifies {} signatures): {:.2} s",
        releases.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(!plan.has_changes() && !plan.is_refused());
}

/// Times `PLAN_RUNS` runs of `binary plan` (nothing to do) at the default
/// per-host concurrency (8) and more, to see whether the plan is bound by
/// round trips.
fn time_plans(dir: &std::path::Path, binary: &std::ffi::OsStr, releases: usize) {
    eprintln!("timing {}", std::path::Path::new(binary).display());
    for concurrency in ["8", "32"] {
        let mut walls: Vec<Duration> = Vec::new();
        let mut cpu = String::new();
        for _ in 0..PLAN_RUNS {
            let started = Instant::now();
            // GNU time reports the binary's own CPU time on stderr's last line.
            let output = std::process::Command::new("/usr/bin/time")
                .args(["-f", "%U s user, %S s sys"])
                .arg(binary)
                .args(["plan", "--detailed-exitcode", "--concurrency", concurrency])
                .current_dir(dir)
                .env_remove("QUAYSIDE_LOG")
                .output()
                .expect("/usr/bin/time runs quayside");
            walls.push(started.elapsed());
            assert_eq!(
                output.status.code(),
                Some(0),
                "everything unchanged: {output:?}"
            );
            cpu = String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or_default()
                .to_string();
        }
        walls.sort();
        eprintln!(
            "quayside plan --concurrency {concurrency} (binary, {} unchanged releases), {PLAN_RUNS} runs: wall min {:.2} s, median {:.2} s, max {:.2} s; last run CPU {cpu}",
            releases,
            walls[0].as_secs_f64(),
            walls[PLAN_RUNS / 2].as_secs_f64(),
            walls[PLAN_RUNS - 1].as_secs_f64()
        );
    }
}
