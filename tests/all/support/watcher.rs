//! A watcher that polls a target registry while `quayside apply` runs and
//! records every moment the safety rule of SPEC section 5 is broken: a
//! declared tag that exists with another digest than declared, or without a
//! valid signature in every required format (legacy: on the image and every
//! child manifest; bundle: a Sigstore bundle the key verifies for the image's
//! digest, found through the referrers API or the fallback index tag), or a
//! tag the file does not declare (other than cosign's `sha256-<hex>.sig` and
//! the fallback index `sha256-<hex>`).
//!
//! It reads the registry directly (not through the test proxy), with the
//! library's own readers, and checks signatures against the identity that
//! apply signs for (which names the host apply talked to).

use quayside::config::location::RepositoryLocation;
use quayside::config::model::SignatureFormat;
use quayside::digest::Digest;
use quayside::live::read::read_image_signatures;
use quayside::registry::{Connector, RegistryError, Repository};
use quayside::signing::PublicKey;
use quayside::signing::bundles::{Wanted, read_bundles};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// One target repository and the releases it must hold.
#[derive(Clone, Debug)]
pub struct Watched {
    /// Where to read (the registry itself).
    pub repository: RepositoryLocation,
    /// The `docker-reference` signatures must name.
    pub identity: String,
    pub releases: Vec<(String, Digest)>,
}

#[derive(Debug, Default)]
pub struct Report {
    /// Complete polls of every watched repository.
    pub polls: u64,
    /// Declared tags seen in place (over all polls), so a test can tell a
    /// watcher that saw something from one that saw nothing.
    pub tags_seen: u64,
    /// Reads that failed (the registry busy, a manifest between writes).
    pub read_errors: u64,
    pub violations: Vec<String>,
}

pub struct Watcher {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Report>,
}

/// What a tag's image must carry: the key, and the formats the file requires.
struct Required {
    key: PublicKey,
    formats: Vec<SignatureFormat>,
}

impl Watcher {
    /// Watches `watched`, requiring a valid signature by `key` in each of
    /// `formats` (the file's `signing.formats`).
    pub fn start(
        connector: Arc<Connector>,
        key: PublicKey,
        formats: &[SignatureFormat],
        watched: Vec<Watched>,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let required = Required {
            key,
            formats: formats.to_vec(),
        };
        let task = tokio::spawn(async move {
            let mut report = Report::default();
            // One more poll after the stop flag, so the final state is seen.
            loop {
                let last = flag.load(Ordering::SeqCst);
                for target in &watched {
                    poll(&connector, &required, target, &mut report).await;
                }
                report.polls += 1;
                if last {
                    return report;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        Watcher { stop, task }
    }

    pub async fn stop(self) -> Report {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.expect("the watcher task does not panic")
    }
}

async fn poll(connector: &Connector, required: &Required, target: &Watched, report: &mut Report) {
    let repository = connector.open(&target.repository);
    let tags = match repository.list_tags().await {
        Ok(tags) => tags,
        Err(_) => {
            report.read_errors += 1;
            return;
        }
    };
    for tag in &tags {
        let declared = target.releases.iter().any(|(name, _)| name == tag);
        if !declared && !is_signature_tag(tag) && !is_fallback_tag(tag) {
            report.violations.push(format!(
                "{}:{tag} exists but the file does not declare it",
                target.repository.reference()
            ));
        }
    }
    for (tag, declared) in &target.releases {
        if !tags.contains(tag) {
            continue;
        }
        let found = match repository.resolve_tag(tag).await {
            Ok(Some(found)) => found,
            Ok(None) => continue,
            Err(_) => {
                report.read_errors += 1;
                continue;
            }
        };
        report.tags_seen += 1;
        let name = format!("{}:{tag}", target.repository.reference());
        if &found != declared {
            report
                .violations
                .push(format!("{name} points at {found}, declared {declared}"));
            continue;
        }
        // Read after the tag: signatures are only ever added (a fallback
        // index is only ever replaced by one listing more), so one missing
        // now was missing when the tag was seen (no false alarm).
        let repository = repository.as_ref();
        let (key, identity) = (&required.key, target.identity.as_str());
        let mut problems = Vec::new();
        if required.formats.contains(&SignatureFormat::Legacy) {
            problems.push(legacy_problems(repository, key, identity, declared).await);
        }
        if required.formats.contains(&SignatureFormat::Bundle) {
            problems.push(bundle_problems(repository, key, identity, declared).await);
        }
        for found in problems {
            match found {
                Ok(found) => report.violations.extend(
                    found
                        .into_iter()
                        .map(|p| format!("{name} is tagged while {p}")),
                ),
                Err(_) => report.read_errors += 1,
            }
        }
    }
}

/// What is wrong with the legacy signatures of the image `declared`: it
/// cannot be read, or a manifest (the image, a child) has no `.sig`
/// signature the key accepts for `identity`.
pub async fn legacy_problems(
    repository: &dyn Repository,
    key: &PublicKey,
    identity: &str,
    declared: &Digest,
) -> Result<Vec<String>, RegistryError> {
    let image = read_image_signatures(repository, declared).await?;
    if image.manifests.is_empty() {
        return Ok(vec![format!("{declared} cannot be read")]);
    }
    Ok(image
        .manifests
        .iter()
        .filter(|manifest| {
            !manifest
                .entries
                .iter()
                .any(|entry| key.accepts(entry, &manifest.digest, identity))
        })
        .map(|manifest| format!("{} has no valid signature for {identity}", manifest.digest))
        .collect())
}

/// What is wrong with the bundles of the image `declared`: none of those
/// attached (listed by the referrers API, or on CNCF distribution by the
/// fallback index tag) is a signature by the key for `declared` released as
/// `identity`.
pub async fn bundle_problems(
    repository: &dyn Repository,
    key: &PublicKey,
    identity: &str,
    declared: &Digest,
) -> Result<Vec<String>, RegistryError> {
    let stored = read_bundles(repository, declared, Wanted::Signatures).await?;
    let valid = stored
        .bundles
        .iter()
        .any(|bundle| quayside::signing::bundle::verify(bundle, key, declared, identity).is_ok());
    Ok(if valid {
        Vec::new()
    } else {
        vec![format!(
            "{declared} has no valid bundle signature for {identity} ({} bundles attached)",
            stored.bundles.len()
        )]
    })
}

/// cosign's `sha256-<64 hex>.sig` signature tag.
pub fn is_signature_tag(tag: &str) -> bool {
    tag.strip_suffix(".sig").is_some_and(is_fallback_tag)
}

/// The OCI referrers fallback tag `sha256-<64 hex>` (bundles where the
/// registry has no referrers API).
pub fn is_fallback_tag(tag: &str) -> bool {
    tag.strip_prefix("sha256-")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}
