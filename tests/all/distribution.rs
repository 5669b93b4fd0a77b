//! The OCI distribution backend against a real `docker-registry` process, and
//! against the in-process fake for token realms, rate limits and outages.

use crate::support::client::quick_retry_options;
use crate::support::fake::{FakeConfig, FakeRegistry};
use crate::support::images::{push, single_image, two_platform_image};
use crate::support::registry::TestRegistry;
use bytes::Bytes;
use futures::StreamExt;
use quayside::digest::Digest;
use quayside::registry::distribution::{ClientOptions, CredentialEnv};
use quayside::registry::manifest::OCI_MANIFEST;
use quayside::registry::{BlobReader, Connector, ManifestRef, Mount, RegistryError};
use std::time::Duration;

async fn read_all(blob: BlobReader) -> Result<Bytes, RegistryError> {
    let mut stream = blob.stream;
    let mut buffer = Vec::new();
    while let Some(chunk) = stream.next().await {
        buffer.extend_from_slice(&chunk?);
    }
    Ok(Bytes::from(buffer))
}

/// A docker config dir holding `auths` for `host`.
fn docker_config(host: &str, user: &str, password: &str) -> tempfile::TempDir {
    use base64::Engine as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let config = serde_json::json!({"auths": {host: {"auth": auth}}});
    std::fs::write(dir.path().join("config.json"), config.to_string()).expect("write config");
    dir
}

#[tokio::test]
async fn list_tags_follows_pagination_past_100_tags() {
    let registry = TestRegistry::start();
    let connector = Connector::new(quick_retry_options());
    let repository = connector.open(&registry.location("dev/many"));
    let (manifest, blobs) = single_image("many", ("linux", "amd64"));
    for (digest, bytes) in blobs {
        repository
            .put_blob(&digest, BlobReader::from_bytes(bytes))
            .await
            .expect("blob");
    }
    let mut expected: Vec<String> = (0..130).map(|i| format!("t{i:03}")).collect();
    for tag in &expected {
        repository
            .put_manifest(&manifest, Some(tag))
            .await
            .expect("tag");
    }
    // Registry 2.8 ignores `n` and answers in one page; the fake below
    // paginates. Either way every tag comes back.
    let mut tags = repository.list_tags().await.expect("list tags");
    tags.sort();
    expected.sort();
    assert_eq!(tags, expected);
    assert_eq!(
        connector
            .open(&registry.location("dev/none"))
            .list_tags()
            .await
            .expect("empty"),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn list_tags_follows_link_headers_page_by_page() {
    let fake = FakeRegistry::start(FakeConfig::default()).await;
    let (manifest, _) = single_image("pages", ("linux", "amd64"));
    let mut expected: Vec<String> = (0..250).map(|i| format!("v1.0.{i}")).collect();
    for tag in &expected {
        fake.seed_manifest("prod/pages", OCI_MANIFEST, &manifest.bytes, Some(tag));
    }
    let connector = Connector::new(quick_retry_options());
    let mut tags = connector
        .open(&fake.location("prod/pages"))
        .list_tags()
        .await
        .expect("list tags");
    tags.sort();
    expected.sort();
    assert_eq!(tags, expected);
    assert_eq!(connector.request_counts().get, 3, "250 tags at 100 a page");
}

#[tokio::test]
async fn manifests_and_blobs_round_trip() {
    let registry = TestRegistry::start();
    let connector = Connector::new(quick_retry_options());
    let repository = connector.open(&registry.location("dev/gateway"));
    let image = two_platform_image("round-trip");
    push(repository.as_ref(), &image, Some("dev")).await;

    assert_eq!(
        repository.resolve_tag("dev").await.expect("resolve"),
        Some(image.digest().clone())
    );
    assert_eq!(
        repository.resolve_tag("absent").await.expect("resolve"),
        None
    );
    let by_tag = repository
        .get_manifest(ManifestRef::Tag("dev"))
        .await
        .expect("get")
        .expect("present");
    assert_eq!(by_tag, image.index);
    let child = &image.manifests[1];
    let by_digest = repository
        .get_manifest(ManifestRef::Digest(&child.digest))
        .await
        .expect("get")
        .expect("present");
    assert_eq!(by_digest.bytes, child.bytes);
    assert_eq!(by_digest.media_type, OCI_MANIFEST);
    assert!(
        repository
            .manifest_exists(&child.digest)
            .await
            .expect("HEAD")
    );
    let unknown = Digest::of_bytes(b"nothing");
    assert!(!repository.manifest_exists(&unknown).await.expect("HEAD"));
    assert_eq!(
        repository
            .get_manifest(ManifestRef::Digest(&unknown))
            .await
            .expect("get"),
        None
    );

    let (digest, bytes) = &image.blobs[1];
    assert!(repository.blob_exists(digest).await.expect("HEAD"));
    assert!(!repository.blob_exists(&unknown).await.expect("HEAD"));
    let blob = repository.get_blob(digest).await.expect("get blob");
    assert_eq!(blob.size, Some(bytes.len() as u64));
    assert_eq!(&read_all(blob).await.expect("read"), bytes);
    assert_eq!(
        &repository
            .get_small_blob(digest, 1 << 20)
            .await
            .expect("small"),
        bytes
    );
    let missing = repository
        .get_blob(&unknown)
        .await
        .err()
        .expect("absent blob")
        .to_string();
    assert!(
        missing.contains("HTTP 404") && missing.contains("get blob on dev/gateway"),
        "{missing}"
    );
    assert_eq!(repository.list_tags().await.expect("tags"), ["dev"]);
}

#[tokio::test]
async fn a_blob_of_unknown_size_is_streamed_in_a_patch() {
    let registry = TestRegistry::start();
    let connector = Connector::new(quick_retry_options());
    let repository = connector.open(&registry.location("dev/stream"));
    let chunks: Vec<Bytes> = (0..50)
        .map(|i| Bytes::from(vec![i as u8; 10_000]))
        .collect();
    let whole: Vec<u8> = chunks.iter().flat_map(|c| c.to_vec()).collect();
    let digest = Digest::of_bytes(&whole);
    let stream = futures::stream::iter(chunks.into_iter().map(Ok)).boxed();
    repository
        .put_blob(&digest, BlobReader { size: None, stream })
        .await
        .expect("streamed upload");
    let counts = connector.request_counts();
    assert_eq!(counts.patch, 1);
    assert_eq!(counts.bytes_uploaded, whole.len() as u64);
    assert_eq!(
        read_all(repository.get_blob(&digest).await.expect("get"))
            .await
            .expect("read"),
        whole
    );
}

#[tokio::test]
async fn mount_between_repositories_uploads_no_blob_bytes() {
    let registry = TestRegistry::start();
    let connector = Connector::new(quick_retry_options());
    let dev = connector.open(&registry.location("dev/api"));
    let prod = connector.open(&registry.location("prod/api"));
    let image = two_platform_image("mount");
    push(dev.as_ref(), &image, None).await;

    let before = connector.request_counts();
    for (digest, _) in &image.blobs {
        let mounted = prod
            .mount_blob(digest, dev.location())
            .await
            .expect("mount");
        assert_eq!(mounted, Mount::Mounted);
    }
    let after = connector.request_counts();
    assert_eq!(after.bytes_uploaded, before.bytes_uploaded);
    assert_eq!(after.post - before.post, image.blobs.len() as u64);
    for manifest in image.manifests.iter().chain([&image.index]) {
        prod.put_manifest(manifest, None)
            .await
            .expect("manifest after mount");
    }
    assert!(prod.manifest_exists(image.digest()).await.expect("HEAD"));

    // A blob the source lacks: the registry opens an upload instead, which
    // is cancelled (DELETE), and the caller is told to stream.
    let absent = Digest::of_bytes(b"not in dev");
    let before = connector.request_counts();
    assert_eq!(
        prod.mount_blob(&absent, dev.location())
            .await
            .expect("mount"),
        Mount::Declined
    );
    assert_eq!(connector.request_counts().delete - before.delete, 1);
    // Another registry: declined without asking.
    let other = TestRegistry::start();
    let before = connector.request_counts();
    let declined = connector
        .open(&other.location("prod/api"))
        .mount_blob(&image.blobs[0].0, dev.location())
        .await
        .expect("mount");
    assert_eq!(declined, Mount::Declined);
    assert_eq!(connector.request_counts().total, before.total);
}

#[tokio::test]
async fn copy_between_registries_streams_blobs() {
    let (source, target) = (TestRegistry::start(), TestRegistry::start());
    let connector = Connector::new(quick_retry_options());
    let from = connector.open(&source.location("dev/worker"));
    let to = connector.open(&target.location("prod/worker"));
    let image = two_platform_image("copy");
    push(from.as_ref(), &image, Some("dev")).await;

    let index = from
        .get_manifest(ManifestRef::Tag("dev"))
        .await
        .expect("get")
        .expect("present");
    let before = connector.request_counts();
    let mut blob_bytes = 0;
    for child in index.children().expect("children") {
        let manifest = from
            .get_manifest(ManifestRef::Digest(&child.digest))
            .await
            .expect("get")
            .expect("present");
        if let quayside::registry::ManifestKind::Image { config, layers } =
            manifest.kind().expect("kind")
        {
            for blob in std::iter::once(config).chain(layers) {
                blob_bytes += blob.size;
                let reader = from.get_blob(&blob.digest).await.expect("get blob");
                to.put_blob(&blob.digest, reader).await.expect("put blob");
            }
        }
        to.put_manifest(&manifest, None).await.expect("child");
    }
    to.put_manifest(&index, Some("v1.0.0"))
        .await
        .expect("index");
    let uploaded = connector.request_counts().bytes_uploaded - before.bytes_uploaded;
    let manifest_bytes: u64 = image
        .manifests
        .iter()
        .chain([&image.index])
        .map(|m| m.bytes.len() as u64)
        .sum();
    assert_eq!(uploaded, blob_bytes + manifest_bytes);
    assert_eq!(
        to.resolve_tag("v1.0.0").await.expect("resolve"),
        Some(image.digest().clone())
    );
}

#[tokio::test]
async fn basic_auth_uses_docker_config_and_never_shows_the_password() {
    let registry = TestRegistry::start_with_basic_auth("ci", "correct-horse");
    let good = docker_config(&registry.host(), "ci", "correct-horse");
    let connector = Connector::new(ClientOptions {
        credentials: CredentialEnv {
            docker_config_dir: Some(good.path().to_path_buf()),
            ..CredentialEnv::default()
        },
        ..quick_retry_options()
    });
    let repository = connector.open(&registry.location("prod/secure"));
    push(
        repository.as_ref(),
        &two_platform_image("auth"),
        Some("v1.0.0"),
    )
    .await;
    assert_eq!(repository.list_tags().await.expect("tags"), ["v1.0.0"]);

    let bad = docker_config(&registry.host(), "ci", "wrong-battery-staple");
    let connector = Connector::new(ClientOptions {
        credentials: CredentialEnv {
            docker_config_dir: Some(bad.path().to_path_buf()),
            ..CredentialEnv::default()
        },
        ..quick_retry_options()
    });
    let error = connector
        .open(&registry.location("prod/secure"))
        .list_tags()
        .await
        .expect_err("bad password");
    let message = error.to_string();
    assert!(
        matches!(error, RegistryError::Http { status: 401, .. }),
        "{message}"
    );
    assert!(message.contains("credentials from"), "{message}");
    assert!(message.contains("config.json"), "{message}");
    assert!(message.contains("docker login"), "{message}");
    assert!(!message.contains("wrong-battery-staple"), "{message}");
    assert!(!format!("{error:?}").contains("wrong-battery-staple"));

    let anonymous = Connector::new(quick_retry_options());
    let message = anonymous
        .open(&registry.location("prod/secure"))
        .list_tags()
        .await
        .expect_err("anonymous")
        .to_string();
    assert!(
        message.contains("HTTP 401") && message.contains("no credentials"),
        "{message}"
    );
}

/// A bearer-token fake whose realm wants `robot` / `token-secret` and takes
/// `token_delay` per token, holding one image tagged `v1.0.0` in each of
/// `repositories`, with a connector that has those credentials.
struct BearerFake {
    fake: FakeRegistry,
    _config: tempfile::TempDir,
    connector: Connector,
    manifest: quayside::registry::RawManifest,
    blobs: Vec<(Digest, Bytes)>,
}

async fn bearer_fake(repositories: &[&str], token_delay: std::time::Duration) -> BearerFake {
    let fake = FakeRegistry::start(FakeConfig {
        bearer: true,
        realm_credentials: Some(("robot".into(), "token-secret".into())),
        token_delay,
        ..FakeConfig::default()
    })
    .await;
    let (manifest, blobs) = single_image("bearer", ("linux", "amd64"));
    for repository in repositories {
        fake.seed_manifest(repository, OCI_MANIFEST, &manifest.bytes, Some("v1.0.0"));
    }
    for (_, bytes) in &blobs {
        fake.seed_blob(bytes);
    }
    let config = docker_config(&fake.host(), "robot", "token-secret");
    let connector = Connector::new(ClientOptions {
        credentials: CredentialEnv {
            docker_config_dir: Some(config.path().to_path_buf()),
            ..CredentialEnv::default()
        },
        ..quick_retry_options()
    });
    BearerFake {
        fake,
        _config: config,
        connector,
        manifest,
        blobs,
    }
}

/// Two reads of each of four repositories of a bearer fake, all at once
/// (each answers the image); the fake, to count what it was asked.
async fn read_four_repositories_twice_at_once(token_delay: Duration) -> FakeRegistry {
    let names = ["prod/a", "prod/b", "prod/c", "prod/d"];
    let BearerFake {
        fake,
        _config,
        connector,
        manifest,
        ..
    } = bearer_fake(&names, token_delay).await;
    let digest = manifest.digest;
    let repositories: Vec<_> = names
        .iter()
        .map(|name| connector.open(&fake.location(name)))
        .collect();
    let resolved = futures::future::join_all(
        repositories
            .iter()
            .chain(repositories.iter())
            .map(|repository| repository.resolve_tag("v1.0.0")),
    )
    .await;
    for found in resolved {
        assert_eq!(found.expect("resolve"), Some(digest.clone()));
    }
    fake
}

/// Issue 18: the token cache was locked across each fetch, so on Quay
/// (~0.3 s of bcrypt per `/v2/auth`) every repository's token waited for
/// the one before.
#[tokio::test]
async fn token_fetches_for_different_scopes_overlap_and_one_scope_fetches_once() {
    use std::sync::atomic::Ordering::Relaxed;
    // Two requests per repository at once: each scope is fetched once, and
    // the four fetches overlap.
    let fake = read_four_repositories_twice_at_once(Duration::from_millis(300)).await;
    assert_eq!(fake.token_requests.load(Relaxed), 4, "one token per scope");
    assert!(
        fake.max_tokens_in_flight.load(Relaxed) > 1,
        "token fetches for different scopes ran one after another"
    );
}

/// Issue 18: every request in flight before the first token arrived met
/// its own 401 (8 here, up to `--concurrency` on a registry); now the first
/// request learns the challenge while the others wait for it.
#[tokio::test]
async fn regression_requests_in_flight_at_the_start_meet_one_challenge_not_one_each() {
    use std::sync::atomic::Ordering::Relaxed;
    let fake = read_four_repositories_twice_at_once(Duration::ZERO).await;
    // 8 answered reads and the one challenge before them (16 before).
    assert_eq!(fake.registry_requests.load(Relaxed), 8 + 1);
    assert_eq!(fake.token_requests.load(Relaxed), 4, "one token per scope");
}

#[tokio::test]
async fn a_repository_that_will_be_written_asks_one_token_for_reads_and_writes() {
    use std::sync::atomic::Ordering::Relaxed;
    let BearerFake {
        fake,
        _config,
        connector,
        manifest,
        ..
    } = bearer_fake(&["prod/app"], Duration::ZERO).await;
    let location = fake.location("prod/app");
    connector.will_write(&location, &fake.location("dev/app"));
    let repository = connector.open(&location);
    assert_eq!(
        repository.resolve_tag("v1.0.0").await.expect("resolve"),
        Some(manifest.digest.clone())
    );
    repository
        .put_manifest(&manifest, Some("v1.0.1"))
        .await
        .expect("push");
    assert_eq!(
        fake.token_requests.load(Relaxed),
        1,
        "one token serves the reads and the writes (and mounts: a unit test in auth.rs)"
    );
    assert_eq!(connector.request_counts().token, 1);
}

#[tokio::test]
async fn bearer_tokens_are_fetched_once_per_scope() {
    let BearerFake {
        fake,
        _config,
        connector,
        manifest,
        blobs,
    } = bearer_fake(&["prod/app"], Duration::ZERO).await;
    let repository = connector.open(&fake.location("prod/app"));
    assert_eq!(
        repository.resolve_tag("v1.0.0").await.expect("resolve"),
        Some(manifest.digest.clone())
    );
    assert_eq!(repository.list_tags().await.expect("tags"), ["v1.0.0"]);
    assert!(
        repository
            .manifest_exists(&manifest.digest)
            .await
            .expect("HEAD")
    );
    let reads = futures::future::join_all(
        blobs
            .iter()
            .map(|(d, _)| repository.get_small_blob(d, 1 << 20)),
    )
    .await;
    assert!(reads.iter().all(Result::is_ok));
    assert_eq!(
        fake.token_requests
            .load(std::sync::atomic::Ordering::Relaxed),
        1,
        "pull token cached"
    );

    repository
        .put_manifest(&manifest, Some("v1.0.1"))
        .await
        .expect("push");
    assert_eq!(
        fake.token_requests
            .load(std::sync::atomic::Ordering::Relaxed),
        2,
        "push scope needs its own token"
    );
    assert_eq!(connector.request_counts().token, 2);

    // The realm refuses wrong credentials: a clear error without the secret.
    let wrong = docker_config(&fake.host(), "robot", "not-the-secret");
    let connector = Connector::new(ClientOptions {
        credentials: CredentialEnv {
            docker_config_dir: Some(wrong.path().to_path_buf()),
            ..CredentialEnv::default()
        },
        ..quick_retry_options()
    });
    let message = connector
        .open(&fake.location("prod/app"))
        .resolve_tag("v1.0.0")
        .await
        .expect_err("refused")
        .to_string();
    assert!(
        message.contains("token request") && message.contains("HTTP 401"),
        "{message}"
    );
    assert!(!message.contains("not-the-secret"), "{message}");
}

#[tokio::test]
async fn operations_succeed_through_rate_limits_and_outages() {
    let fake = FakeRegistry::start(FakeConfig {
        flaky_in_ten: 3,
        ..FakeConfig::default()
    })
    .await;
    let (manifest, blobs) = single_image("flaky", ("linux", "arm64"));
    for (_, bytes) in &blobs {
        fake.seed_blob(bytes);
    }
    let connector = Connector::new(quick_retry_options());
    let repository = connector.open(&fake.location("prod/flaky"));
    for round in 0..10 {
        let tag = format!("v1.0.{round}");
        repository
            .put_manifest(&manifest, Some(&tag))
            .await
            .expect("put");
        assert_eq!(
            repository.resolve_tag(&tag).await.expect("resolve"),
            Some(manifest.digest.clone())
        );
        for (digest, bytes) in &blobs {
            assert_eq!(
                &repository
                    .get_small_blob(digest, 1 << 20)
                    .await
                    .expect("blob"),
                bytes
            );
        }
    }
    assert_eq!(repository.list_tags().await.expect("tags").len(), 10);
    let counts = connector.request_counts();
    let served = fake
        .registry_requests
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(counts.total, served, "every attempt is counted");
    assert!(counts.total > 41, "failures were retried: {counts:?}");
    assert_eq!(counts.total, counts.get + counts.head + counts.put);
}

#[tokio::test]
async fn a_registry_that_stays_down_is_reported_after_max_attempts() {
    let fake = FakeRegistry::start(FakeConfig {
        always_503: true,
        ..FakeConfig::default()
    })
    .await;
    let connector = Connector::new(quick_retry_options());
    let error = connector
        .open(&fake.location("prod/down"))
        .list_tags()
        .await
        .expect_err("down");
    let message = error.to_string();
    assert!(
        matches!(error, RegistryError::Http { status: 503, .. }),
        "{message}"
    );
    assert!(message.contains("retried 4 times"), "{message}");
    assert!(message.contains("list tags on prod/down"), "{message}");
    assert_eq!(connector.request_counts().get, 5);
}

#[tokio::test]
async fn immutable_tags_and_missing_digest_headers() {
    let fake = FakeRegistry::start(FakeConfig {
        immutable_tags: true,
        omit_digest_header: true,
        ..FakeConfig::default()
    })
    .await;
    let connector = Connector::new(quick_retry_options());
    let repository = connector.open(&fake.location("prod/app"));
    let (first, _) = single_image("first", ("linux", "amd64"));
    let (second, _) = single_image("second", ("linux", "amd64"));
    repository
        .put_manifest(&first, Some("v1.0.0"))
        .await
        .expect("first");
    let error = repository
        .put_manifest(&second, Some("v1.0.0"))
        .await
        .expect_err("moved");
    assert!(
        matches!(&error, RegistryError::TagImmutable { tag, .. } if tag == "v1.0.0"),
        "{error}"
    );
    // Without Docker-Content-Digest the tag is resolved by hashing the body.
    let before = connector.request_counts();
    assert_eq!(
        repository.resolve_tag("v1.0.0").await.expect("resolve"),
        Some(first.digest.clone())
    );
    let after = connector.request_counts();
    assert_eq!((after.head - before.head, after.get - before.get), (1, 1));
}

#[tokio::test]
async fn wrong_content_from_a_registry_is_caught() {
    let fake = FakeRegistry::start(FakeConfig::default()).await;
    let (manifest, blobs) = single_image("corrupt", ("linux", "amd64"));
    let claimed = blobs[1].0.clone();
    fake.seed_corrupt(&claimed, OCI_MANIFEST, &manifest.bytes);
    let connector = Connector::new(quick_retry_options());
    let repository = connector.open(&fake.location("prod/corrupt"));

    let blob = repository.get_blob(&claimed).await.expect("answered");
    let error = read_all(blob).await.expect_err("mismatch");
    assert!(
        matches!(error, RegistryError::DigestMismatch { .. }),
        "{error}"
    );
    let error = repository
        .get_manifest(ManifestRef::Digest(&claimed))
        .await
        .expect_err("mismatch");
    assert!(
        matches!(error, RegistryError::DigestMismatch { .. }),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_to_one_host_respect_the_concurrency_limit() {
    let fake = FakeRegistry::start(FakeConfig {
        delay: Duration::from_millis(30),
        ..FakeConfig::default()
    })
    .await;
    let connector = Connector::new(ClientOptions {
        max_concurrency_per_host: 3,
        ..quick_retry_options()
    });
    let repository = connector.open(&fake.location("prod/busy"));
    let digests: Vec<Digest> = (0..12).map(|i| Digest::of_bytes(&[i])).collect();
    let answers =
        futures::future::join_all(digests.iter().map(|d| repository.blob_exists(d))).await;
    assert!(answers.iter().all(|a| matches!(a, Ok(false))));
    let max = fake.max_in_flight.load(std::sync::atomic::Ordering::SeqCst);
    assert!((2..=3).contains(&max), "at most 3 at once, saw {max}");
}

#[tokio::test]
async fn an_unreachable_registry_is_retried_then_reported() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let connector = Connector::new(quick_retry_options());
    let location = quayside::config::location::RepositoryLocation::Remote {
        scheme: quayside::config::location::Scheme::Http,
        host: format!("127.0.0.1:{port}"),
        path: "prod/gone".into(),
    };
    let error = connector
        .open(&location)
        .resolve_tag("v1.0.0")
        .await
        .expect_err("closed");
    let message = error.to_string();
    assert!(
        matches!(error, RegistryError::Transport { .. }),
        "{message}"
    );
    assert!(
        message.contains("Cannot connect (retried 4 times)"),
        "{message}"
    );
    assert_eq!(connector.request_counts().head, 5);
}

#[tokio::test]
async fn identity_tokens_are_exchanged_with_a_refresh_grant() {
    let fake = FakeRegistry::start(FakeConfig {
        bearer: true,
        ..FakeConfig::default()
    })
    .await;
    let (manifest, _) = single_image("oauth", ("linux", "amd64"));
    fake.seed_manifest("prod/app", OCI_MANIFEST, &manifest.bytes, Some("v1.0.0"));
    let dir = tempfile::tempdir().expect("temp dir");
    let config = serde_json::json!({"auths": {fake.host(): {"identitytoken": "refresh-me"}}});
    std::fs::write(dir.path().join("config.json"), config.to_string()).expect("write");
    let connector = Connector::new(ClientOptions {
        credentials: CredentialEnv {
            docker_config_dir: Some(dir.path().to_path_buf()),
            ..CredentialEnv::default()
        },
        ..quick_retry_options()
    });
    let repository = connector.open(&fake.location("prod/app"));
    assert_eq!(
        repository.resolve_tag("v1.0.0").await.expect("resolve"),
        Some(manifest.digest.clone())
    );
    let counts = connector.request_counts();
    assert_eq!((counts.token, counts.post), (1, 1), "{counts:?}");
}
