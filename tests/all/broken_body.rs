//! Bodies that break while they are read: a source registry (a proxy in
//! front of a real one) announces a manifest or blob and cuts its body short.
//! The error is `BrokenBody`, names the source registry, repository,
//! operation and object, and says to run again; small reads are read again a
//! bounded number of times; a large blob streamed into an upload reports the
//! source's failure, not the target's.

use crate::support::client::anonymous_connector;
use crate::support::faults::Lie;
use crate::support::proxy::Proxy;
use crate::support::registry::TestRegistry;
use bytes::Bytes;
use quayside::config::location::{RepositoryLocation, Scheme};
use quayside::digest::Digest;
use quayside::registry::reread::READS;
use quayside::registry::{BlobReader, RegistryError};

/// Deterministic bytes, larger than the 1 MiB a blob upload buffers, so the
/// copy below streams.
fn large_blob() -> Bytes {
    (0..2 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(31) % 251) as u8)
        .collect::<Vec<u8>>()
        .into()
}

fn assert_names_the_source(error: &RegistryError, source: &Proxy, operation: &str, object: &str) {
    let message = error.to_string();
    assert!(
        matches!(error, RegistryError::BrokenBody { .. }),
        "{message}"
    );
    assert!(
        message.starts_with(&format!(
            "{}: {operation} on dev/cut failed while reading {object}: ",
            source.host()
        )),
        "{message}"
    );
    assert!(
        message.contains("run the command again — nothing was written from it"),
        "{message}"
    );
    assert!(!message.contains("Check the registry address"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_cut_short_is_read_again_then_reported_as_broken() {
    let registry = TestRegistry::start();
    let source = Proxy::start(&registry.host()).await;
    let connector = anonymous_connector();
    let direct = connector.open(&registry.location("dev/cut"));
    let small = Bytes::from_static(b"{\"a small config\":true}");
    let small_digest = Digest::of_bytes(&small);
    direct
        .put_blob(&small_digest, BlobReader::from_bytes(small))
        .await
        .expect("push the small blob");
    let large = large_blob();
    let large_digest = Digest::of_bytes(&large);
    direct
        .put_blob(&large_digest, BlobReader::from_bytes(large))
        .await
        .expect("push the large blob");

    source.lie_about(small_digest.as_str(), Lie::Truncated);
    source.lie_about(large_digest.as_str(), Lie::Truncated);
    let through = connector.open(&RepositoryLocation::Remote {
        scheme: Scheme::Http,
        host: source.host(),
        path: "dev/cut".into(),
    });

    // A small read is read again, READS times in all, then reported.
    let error = through
        .get_small_blob(&small_digest, 1024)
        .await
        .expect_err("every answer is cut short");
    assert_names_the_source(&error, &source, "get blob", &format!("blob {small_digest}"));
    assert_eq!(source.fault_counts().lies, u64::from(READS));
    eprintln!("small read: {error}");

    // A large blob streamed into an upload: the source's break is reported.
    let target = connector.open(&registry.location("prod/cut"));
    let reader = through
        .get_blob(&large_digest)
        .await
        .expect("the head arrives");
    let error = target
        .put_blob(&large_digest, reader)
        .await
        .expect_err("the source breaks mid-stream");
    assert_names_the_source(&error, &source, "get blob", &format!("blob {large_digest}"));
    eprintln!("streamed copy: {error}");
    assert!(
        !target
            .blob_exists(&large_digest)
            .await
            .expect("check the target"),
        "nothing was written from the broken body"
    );
}
