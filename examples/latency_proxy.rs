//! A TCP proxy that makes a loopback registry look `DELAY_MS` milliseconds
//! away, for `bench/run.sh --latency-ms`.
//!
//! Model (TCP level, no HTTP parsing): a new connection costs one delay (the
//! handshake's round trip) before the upstream connection is opened, and
//! every chunk the client sends reaches the registry `DELAY_MS` after it
//! arrived. Chunks are timestamped on arrival and released in order, so the
//! delay is a pipe of fixed latency, not a bandwidth limit. Responses pass
//! at once. Each request/response exchange therefore costs one round trip of
//! `DELAY_MS`, as against a registry that far away; bandwidth and TLS set-up
//! (an extra round trip per connection on a real HTTPS registry) are not
//! modelled.
//!
//! `cargo run --release --example latency_proxy -- LISTEN_PORT UPSTREAM_ADDR DELAY_MS`
//! (listens on 127.0.0.1 only; prints `ready` on stdout once listening).

use anyhow::{Context, Result, bail};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [port, upstream, delay] = args.as_slice() else {
        bail!("usage: latency_proxy LISTEN_PORT UPSTREAM_ADDR DELAY_MS");
    };
    let port: u16 = port
        .parse()
        .with_context(|| format!("port {port}: not a number"))?;
    let delay = Duration::from_millis(
        delay
            .parse()
            .with_context(|| format!("delay {delay}: not a number of milliseconds"))?,
    );
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("listening on 127.0.0.1:{port}"))?;
    println!("ready");
    loop {
        let (client, _) = listener.accept().await.context("accepting")?;
        let upstream = upstream.clone();
        tokio::spawn(async move {
            if let Err(error) = forward(client, &upstream, delay).await {
                eprintln!("latency_proxy: {upstream}: {error:#}");
            }
        });
    }
}

async fn forward(client: TcpStream, upstream: &str, delay: Duration) -> Result<()> {
    tokio::time::sleep(delay).await;
    let server = TcpStream::connect(upstream)
        .await
        .with_context(|| format!("connecting to {upstream}"))?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();

    // Client -> server: read eagerly, deliver each chunk `delay` after it arrived.
    let (chunks, mut pending) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reader = tokio::spawn(async move {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if chunks
                        .send((Instant::now() + delay, buffer[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
    });
    let writer = tokio::spawn(async move {
        while let Some((due, chunk)) = pending.recv().await {
            tokio::time::sleep_until(due).await;
            if server_write.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    });
    // Server -> client: undelayed.
    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
    let _ = client_write.shutdown().await;
    reader.abort();
    writer.abort();
    Ok(())
}
