//! The test proxy with quay.io's rate limits (`tests/all/support/proxy.rs`
//! and `rate_limits.rs`), as a process for `bench/run.sh --rate-limited`.
//!
//! `cargo run --example rate_limit_proxy -- LISTEN_PORT UPSTREAM_ADDR
//! [--no-retry-after] [--ratelimit-headers]` listens on 127.0.0.1 only and
//! prints `ready` on stdout once listening. `GET /_proxy/counts` answers
//! `class requests throttled rate burst floor_s` lines (the floor over the
//! admitted requests); `POST /_proxy/reset` zeroes the counts and fills the
//! buckets.

use anyhow::{Context, Result, bail};

// At the crate root, as in the harness: `proxy` names its siblings
// `super::faults` and `super::rate_limits`. The tests use more of them than
// this proxy does.
#[allow(dead_code)]
#[path = "../tests/all/support/faults.rs"]
mod faults;
#[allow(dead_code)]
#[path = "../tests/all/support/proxy.rs"]
mod proxy;
#[allow(dead_code)]
#[path = "../tests/all/support/rate_limits.rs"]
mod rate_limits;

use faults::FaultPlan;
use proxy::Proxy;
use rate_limits::RateLimits;

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [port, upstream, options @ ..] = args.as_slice() else {
        bail!(
            "usage: rate_limit_proxy LISTEN_PORT UPSTREAM_ADDR [--no-retry-after] [--ratelimit-headers]"
        );
    };
    let port: u16 = port
        .parse()
        .with_context(|| format!("port {port}: not a number"))?;
    let mut limits = RateLimits::quay_io();
    for option in options {
        match option.as_str() {
            "--no-retry-after" => limits.retry_after = false,
            "--ratelimit-headers" => limits.headers = true,
            other => bail!("rate_limit_proxy: unknown option {other}"),
        }
    }
    let _proxy = Proxy::serve(upstream, FaultPlan::none(), Some(limits), port).await;
    println!("ready");
    // Serves until killed.
    std::future::pending::<()>().await;
    Ok(())
}
