//! Measurements of `quayside apply` against a local registry, printed for
//! the issue notes (ignored by default; run with
//! `cargo test --test all apply_measure -- --ignored --nocapture`):
//! 10 services x 2 releases of two-platform images with 1 MiB layers,
//! promoted dev -> prod on one registry. Reports wall time, requests by
//! method, bytes copied and mounted, peak RSS (`/usr/bin/time -v`), and a
//! rerun's requests. It asserts the promises the figures rest on: every blob
//! mounted (none streamed) and a rerun without writes.
//!
//! `QUAYSIDE_MEASURE_BIN` runs another build of the CLI (a release build:
//! `cargo build --release` then `QUAYSIDE_MEASURE_BIN=target/release/quayside`).

use crate::support::images::push;
use crate::support::promotion::{Promotion, sized_two_platform_image};
use crate::support::releases::ServiceReleases;
use std::time::Instant;

const SERVICES: usize = 10;
const LAYER_BYTES: usize = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn apply_measure_ten_services_two_releases() {
    let promotion = Promotion::start().await;
    let mut services = Vec::new();
    for s in 0..SERVICES {
        let name = format!("service{s}");
        let mut images = Vec::new();
        for release in ["rc", "final"] {
            let image = sized_two_platform_image(&format!("{name} {release}"), LAYER_BYTES);
            push(promotion.direct("dev", &name).as_ref(), &image, None).await;
            images.push(image);
        }
        services.push(ServiceReleases::new(
            &name,
            &[
                ("v1.0.0-rc1", images[0].digest()),
                ("v1.0.0", images[1].digest()),
            ],
        ));
    }
    promotion.write_releases("prod", &services);

    promotion.proxy.reset();
    let started = Instant::now();
    let output = tokio::process::Command::new("/usr/bin/time")
        .arg("-v")
        .arg(
            std::env::var_os("QUAYSIDE_MEASURE_BIN")
                .unwrap_or_else(|| env!("CARGO_BIN_EXE_quayside").into()),
        )
        .arg("apply")
        .current_dir(promotion.dir.path())
        .env_remove("COSIGN_PASSWORD")
        .env_remove("QUAYSIDE_LOG")
        .output()
        .await
        .expect("/usr/bin/time (Debian package time) runs quayside");
    let wall = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let counts = promotion.proxy.counts();
    let peak_kib = stderr
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .unwrap_or("?");
    let summary = stdout
        .lines()
        .filter(|line| line.starts_with("Apply:") || line.starts_with("Blobs:"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(summary.contains("Blobs: 0 copied (0 B)"), "{summary}");

    promotion.proxy.reset();
    let rerun_started = Instant::now();
    let rerun = promotion.run(["apply"]).await;
    let rerun_wall = rerun_started.elapsed();
    assert_eq!(rerun.code, 0, "{rerun:?}");
    let rerun_counts = promotion.proxy.counts();
    assert_eq!(rerun_counts.writes(), 0, "{rerun_counts}");

    eprintln!(
        "apply of {SERVICES} services x 2 releases (two-platform, {} KiB layers), same registry:\n  wall {:.2} s; {counts}\n  {summary}\n  peak RSS {peak_kib} KiB\nrerun: wall {:.2} s; {rerun_counts}",
        LAYER_BYTES / 1024,
        wall.as_secs_f64(),
        rerun_wall.as_secs_f64()
    );
}
