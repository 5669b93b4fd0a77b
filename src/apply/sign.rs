//! Signs an image in its target repository: the root manifest and every child
//! of an index (what a containers `policy.json` verifier checks), adding to
//! existing signature manifests and skipping manifests already validly signed.
//!
//! Each `.sig` tag is read once and extended from what was read (read again
//! only if the write fails). Releases run concurrently, and two indexes may
//! share a platform manifest, so writers of one `.sig` tag take its lock in
//! [`SignatureLocks`] first. The root manifest also gets a Sigstore bundle
//! ([`sign_bundle`]) where the file requires that format.

use crate::apply::ApplyError;
use crate::config::location::RepositoryLocation;
use crate::digest::Digest;
use crate::live::CurrentTags;
use crate::plan::SignatureCheck;
use crate::registry::{RawManifest, RegistryError, Repository};
use crate::signing::bundle::SIGN_PREDICATE_TYPE;
use crate::signing::bundles::{
    KnownBundles, StoredBundles, Wanted, read_bundles, read_fallback_bundles,
};
use crate::signing::payload::CHILDREN_ANNOTATION;
use crate::signing::referrer::{ReferrerManifest, bundle_manifest};
use crate::signing::store::{
    SharedConfig, SignatureConfig, entries_of, extend_signatures, read_signature_tag,
};
use crate::signing::{Payload, SignatureEntry, Signer, bundle};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// `.sig` tags read and written at once for one image (root and children).
const SIGNATURES_IN_FLIGHT: usize = 4;

/// The lock of one `.sig` tag.
type TagLock = Arc<tokio::sync::Mutex<()>>;

/// One bundle this run attached.
#[derive(Clone, Debug)]
pub struct WrittenBundle {
    /// The target repository's reference.
    pub repository: String,
    /// The root manifest it signs.
    pub subject: Digest,
    /// The referrer manifest holding it.
    pub referrer: Digest,
    /// Read back by digest (the registry has the referrers API).
    pub read_back: bool,
    pub bundle: Bytes,
}

/// The bundles this run attached: apply's confirmation counts them, as a
/// referrers list read right after the write may be a cached, older one
/// (see `signing::bundles`), and takes those listed from here rather than
/// reading them again.
#[derive(Default)]
pub struct BundlesWritten {
    written: Mutex<Vec<WrittenBundle>>,
}

impl BundlesWritten {
    pub(crate) fn record(&self, bundle: WrittenBundle) {
        let mut written = self
            .written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        written.push(bundle);
    }

    /// What was written, for reading it back without requests.
    pub fn known(&self) -> KnownBundles {
        let mut known = KnownBundles::default();
        let written = self
            .written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        for written in written {
            if written.read_back {
                known
                    .read_back
                    .entry((written.repository.clone(), written.subject))
                    .or_default()
                    .push(written.bundle.clone());
            }
            known
                .referrers
                .insert((written.repository, written.referrer), written.bundle);
        }
        known
    }
}

/// One lock per `.sig` tag (target repository and signed digest) for a run,
/// the config blobs every `.sig` manifest and every bundle referrer of the
/// run share (uploaded once per repository), and which `.sig` tags are known
/// absent.
#[derive(Default)]
pub struct SignatureLocks {
    locks: Mutex<HashMap<(String, Digest), TagLock>>,
    config: SharedConfig,
    /// The plan's current tag lists (Quay's REST list), by target reference.
    current: CurrentTags,
    /// `.sig` tags this run wrote (no longer absent, whatever the plan saw).
    written: Mutex<HashSet<(String, Digest)>>,
}

impl SignatureLocks {
    /// Locks for a run whose plan read these current tag lists.
    pub fn knowing(current: CurrentTags) -> Self {
        SignatureLocks {
            current,
            ..SignatureLocks::default()
        }
    }

    /// Whether the `.sig` tag of `digest` in `repository` is known absent:
    /// the plan's current list lacked it and this run has not written it.
    /// Asked with the tag's lock held.
    fn known_absent(&self, repository: &str, digest: &Digest) -> bool {
        let Some(tags) = self.current.get(repository) else {
            return false;
        };
        !tags.contains(&digest.signature_tag())
            && !self
                .written
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .contains(&(repository.to_string(), digest.clone()))
    }

    fn wrote(&self, repository: String, digest: &Digest) {
        self.written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert((repository, digest.clone()));
    }

    /// The config blobs this run's signature and referrer manifests share.
    pub(crate) fn shared_config(&self) -> &SharedConfig {
        &self.config
    }

    fn lock_of(&self, repository: String, digest: &Digest) -> TagLock {
        let mut locks = self
            .locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(locks.entry((repository, digest.clone())).or_default())
    }
}

/// What the payload's `optional` field records about where a release came from.
#[derive(Clone, Debug, Default)]
pub struct Provenance {
    pub annotations: BTreeMap<String, String>,
}

impl Provenance {
    /// These annotations and, for an index, [`CHILDREN_ANNOTATION`].
    fn with_children(&self, children: &[Digest]) -> Provenance {
        let mut annotations = self.annotations.clone();
        if !children.is_empty() {
            let named: Vec<&str> = children.iter().map(Digest::as_str).collect();
            annotations.insert(CHILDREN_ANNOTATION.to_string(), named.join(","));
        }
        Provenance { annotations }
    }

    pub fn for_release(source: &RepositoryLocation, digest: &Digest, commit: Option<&str>) -> Self {
        let mut annotations = BTreeMap::new();
        annotations.insert(
            "dev.quayside/source".to_string(),
            format!("{}@{digest}", source.reference()),
        );
        if let Some(commit) = commit {
            annotations.insert("dev.quayside/git-commit".to_string(), commit.to_string());
        }
        Provenance { annotations }
    }
}

/// Signs every manifest of the image whose root manifest is `root` (already
/// in `target`) that lacks a valid signature. Returns how many signatures
/// were added.
pub async fn sign_image(
    target: &dyn Repository,
    root: &RawManifest,
    signer: &dyn Signer,
    verifier: &dyn SignatureCheck,
    provenance: &Provenance,
    locks: &SignatureLocks,
) -> Result<usize, ApplyError> {
    let children = root.children().map_err(|source| RegistryError::Manifest {
        repository: target.location().reference(),
        source,
    })?;
    let children: Vec<Digest> = children.into_iter().map(|child| child.digest).collect();
    let root_provenance = provenance.with_children(&children);
    let signed: Vec<(Digest, &Provenance)> =
        std::iter::once((root.digest.clone(), &root_provenance))
            .chain(children.into_iter().map(|child| (child, provenance)))
            .collect();
    let added: Vec<bool> = stream::iter(signed)
        .map(|(digest, provenance)| async move {
            let repository = target.location().reference();
            let lock = locks.lock_of(repository.clone(), &digest);
            let _held = lock.lock().await;
            let config = SignatureConfig::Shared(&locks.config);
            let absent = locks.known_absent(&repository, &digest);
            let added = sign_manifest(
                target, &digest, signer, verifier, provenance, config, absent,
            )
            .await?;
            if added {
                locks.wrote(repository, &digest);
            }
            Ok::<_, ApplyError>(added)
        })
        .buffer_unordered(SIGNATURES_IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(added.into_iter().filter(|added| *added).count())
}

/// What the target holds of the image's referrers before apply attaches
/// any. `fresh`: this run copied the image; with the referrers API its list
/// is then not read: Quay would cache the empty answer for 60 s and hide the
/// bundles from the `verify` that follows. Without the API only the
/// fallback tag is read (whose absence the probe does not tell).
pub async fn stored_referrers(
    target: &dyn Repository,
    digest: &Digest,
    fresh: bool,
) -> Result<StoredBundles, RegistryError> {
    if !fresh {
        return read_bundles(target, digest, Wanted::SignaturesAndProvenance).await;
    }
    if target.has_referrers_api().await? {
        Ok(StoredBundles::default())
    } else {
        read_fallback_bundles(target, digest, Wanted::SignaturesAndProvenance).await
    }
}

/// The Sigstore bundle signature to attach to the image's root manifest
/// (what cosign v3 signs; children are covered by the legacy format), or
/// `None` when `stored` holds one the verifier accepts already. `now`: RFC
/// 3339 UTC for the `created` annotation.
pub fn bundle_signature(
    target: &dyn Repository,
    root: &RawManifest,
    signer: &dyn Signer,
    verifier: &dyn SignatureCheck,
    key_hint: &str,
    stored: &StoredBundles,
    now: &str,
) -> Result<Option<ReferrerManifest>, Box<ApplyError>> {
    let identity = target.location().signed_identity();
    if stored
        .bundles
        .iter()
        .any(|bundle| verifier.accepts_bundle(bundle, &root.digest, &identity))
    {
        return Ok(None);
    }
    let signed = bundle::create(signer, key_hint, &identity, &root.digest).map_err(|source| {
        Box::new(ApplyError::Sign {
            repository: target.location().reference(),
            digest: root.digest.clone(),
            source,
        })
    })?;
    bundle_manifest(root, Bytes::from(signed), SIGN_PREDICATE_TYPE, now)
        .map(Some)
        .map_err(|error| {
            Box::new(ApplyError::referrer(
                target.location().reference(),
                &root.digest,
                error,
            ))
        })
}

/// Signs one manifest unless its `.sig` tag already holds a valid signature.
/// `absent`: the plan's current tag list lacked the tag, so it is not read
/// first (one GET less per signature). A signature another writer put there
/// since the plan is then replaced, not extended: a window of seconds instead
/// of the milliseconds between a read and the put (another quayside run
/// signs with the same key and leaves a valid signature either way); a put
/// that fails is followed by a read and an extension, as always.
async fn sign_manifest(
    target: &dyn Repository,
    digest: &Digest,
    signer: &dyn Signer,
    verifier: &dyn SignatureCheck,
    provenance: &Provenance,
    config: SignatureConfig<'_>,
    absent: bool,
) -> Result<bool, ApplyError> {
    let identity = target.location().signed_identity();
    let existing = if absent {
        None
    } else {
        read_signature_tag(target, digest).await?
    };
    if let Some(manifest) = &existing {
        for entry in entries_of(target, manifest).await? {
            if verifier.accepts(&entry, digest, &identity) {
                return Ok(false);
            }
        }
    }
    let payload = Payload {
        docker_reference: identity.clone(),
        manifest_digest: digest.clone(),
        optional: provenance.annotations.clone(),
    }
    .to_bytes();
    let signature = signer.sign(&payload).map_err(|source| ApplyError::Sign {
        repository: target.location().reference(),
        digest: digest.clone(),
        source,
    })?;
    let entry = SignatureEntry {
        payload: Bytes::from(payload),
        signature,
    };
    extend_signatures(
        target,
        digest,
        existing,
        std::slice::from_ref(&entry),
        config,
    )
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sig_tag_is_known_absent_only_from_a_current_list_and_until_written() {
        let digest = Digest::of_bytes(b"image");
        let listed = Digest::of_bytes(b"signed");
        let current: CurrentTags = [(
            "quay.example/prod/gateway".to_string(),
            [listed.signature_tag()].into_iter().collect(),
        )]
        .into_iter()
        .collect();
        let locks = SignatureLocks::knowing(current);
        assert!(locks.known_absent("quay.example/prod/gateway", &digest));
        assert!(!locks.known_absent("quay.example/prod/gateway", &listed));
        // A target without a current list (distribution's tags/list): read.
        assert!(!locks.known_absent("quay.example/prod/other", &digest));
        locks.wrote("quay.example/prod/gateway".to_string(), &digest);
        assert!(!locks.known_absent("quay.example/prod/gateway", &digest));
    }
}
