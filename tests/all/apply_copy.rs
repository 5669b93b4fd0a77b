//! The Copier across two real registries: a blob that several target
//! repositories need crosses the network once; the other repositories mount
//! it from the one it landed in.

use crate::support::images::{push, two_platform_image};
use crate::support::registry::TestRegistry;
use quayside::apply::copy::Copier;
use quayside::registry::Connector;
use std::sync::atomic::Ordering;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_shared_by_services_is_streamed_once_per_target_registry() {
    let (dev, prod) = (TestRegistry::start(), TestRegistry::start());
    let connector = Connector::new(Default::default());
    let image = two_platform_image("shared base");
    let services = ["a", "b", "c"];
    for service in services {
        let source = connector.open(&dev.location(&format!("dev/{service}")));
        push(source.as_ref(), &image, None).await;
    }
    let copier = Copier::default();
    let copies = services.map(|service| {
        let source = connector.open(&dev.location(&format!("dev/{service}")));
        let target = connector.open(&prod.location(&format!("prod/{service}")));
        let (copier, digest) = (&copier, image.digest());
        async move {
            copier
                .copy_image(source.as_ref(), target.as_ref(), digest)
                .await
                .expect("copy");
            target
        }
    });
    // At once: the later repositories wait for the first stream, then mount.
    let targets = futures::future::join_all(copies).await;
    for target in &targets {
        assert!(target.manifest_exists(image.digest()).await.unwrap());
        for manifest in &image.manifests {
            assert!(target.manifest_exists(&manifest.digest).await.unwrap());
        }
    }
    let blobs = image.blobs.len() as u64;
    let stats = &copier.stats;
    assert_eq!(stats.blobs_copied.load(Ordering::Relaxed), blobs);
    assert_eq!(
        stats.blobs_mounted.load(Ordering::Relaxed),
        blobs * (services.len() as u64 - 1)
    );
    assert_eq!(stats.blobs_present.load(Ordering::Relaxed), 0);
}
