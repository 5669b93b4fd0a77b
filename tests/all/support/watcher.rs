//! A watcher that polls a target registry while `quayside apply` runs and
//! records every moment the safety rule of SPEC section 5 is broken: a
//! declared tag that exists with another digest than declared, or without a
//! valid signature on the image and every child manifest, or a tag the file
//! does not declare (other than cosign's `sha256-<hex>.sig`).
//!
//! It reads the registry directly (not through the test proxy), with the
//! library's own readers, and checks signatures against the identity that
//! apply signs for (which names the host apply talked to).

use quayside::config::location::RepositoryLocation;
use quayside::digest::Digest;
use quayside::live::read::read_image_signatures;
use quayside::registry::Connector;
use quayside::signing::PublicKey;
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

impl Watcher {
    pub fn start(connector: Arc<Connector>, key: PublicKey, watched: Vec<Watched>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut report = Report::default();
            // One more poll after the stop flag, so the final state is seen.
            loop {
                let last = flag.load(Ordering::SeqCst);
                for target in &watched {
                    poll(&connector, &key, target, &mut report).await;
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

async fn poll(connector: &Connector, key: &PublicKey, target: &Watched, report: &mut Report) {
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
        if !declared && !is_signature_tag(tag) {
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
        // Read after the tag: signatures are only ever added, so one missing
        // now was missing when the tag was seen (no false alarm).
        let image = match read_image_signatures(repository.as_ref(), declared).await {
            Ok(image) => image,
            Err(_) => {
                report.read_errors += 1;
                continue;
            }
        };
        if image.manifests.is_empty() {
            report
                .violations
                .push(format!("{name} is tagged but {declared} cannot be read"));
        }
        for manifest in &image.manifests {
            let signed = manifest
                .entries
                .iter()
                .any(|entry| key.accepts(entry, &manifest.digest, &target.identity));
            if !signed {
                report.violations.push(format!(
                    "{name} is tagged while {} has no valid signature",
                    manifest.digest
                ));
            }
        }
    }
}

/// cosign's `sha256-<64 hex>.sig` signature tag.
fn is_signature_tag(tag: &str) -> bool {
    tag.strip_prefix("sha256-")
        .and_then(|rest| rest.strip_suffix(".sig"))
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}
