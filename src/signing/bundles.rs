//! Reading and writing Sigstore bundles (signatures and promotion
//! attestations) through the registry seam:
//! as OCI 1.1 referrers where the registry has the referrers API (Quay), and
//! through the fallback index tag `sha256-<hex>` where it has none (CNCF
//! distribution 2.8, `oci:` layouts), as cosign v3 does.
//!
//! Whether the API exists is asked of the registry (`GET .../referrers/<d>`,
//! 404 = none; the answer is kept per repository for the run, see
//! `registry::distribution::referrers`) rather than inferred from an
//! `OCI-Subject` header on the put: Quay accepts referrers without sending
//! that header.
//!
//! Quay caches each manifest's referrers list for 60 s
//! (`manifest_referrers_cache_ttl`, keyed by repository and digest, not by
//! `artifactType`): a list read before a write answers without it until
//! then. A write is therefore confirmed by reading its manifest back by
//! digest, and a plan within that minute may ask to sign again (adding a
//! second valid bundle, never leaving one missing).
//!
//! Referrers are told apart by their entries' `artifactType` and
//! `dev.sigstore.bundle.predicateType` annotation (Quay's referrers API and
//! the fallback index both carry them), so a plan reads no attestation.

use crate::digest::Digest;
use crate::registry::race::put_manifest_racing;
use crate::registry::{BlobReader, ManifestRef, RawManifest, RegistryError, Repository};
use crate::signing::bundle::{BUNDLE_MEDIA_TYPE, MAX_BUNDLE_BYTES, SIGN_PREDICATE_TYPE};
use crate::signing::provenance::PROMOTION_PREDICATE_TYPE;
use crate::signing::referrer::{
    EMPTY_CONTENT, ReferrerManifest, bundle_layer, fallback_index, fallback_tag, referrers_of,
};
use crate::signing::store::SharedConfig;
use bytes::Bytes;
use std::collections::BTreeMap;

/// Bundle signatures this run wrote, known without reading them again
/// (apply's confirmation).
#[derive(Clone, Debug, Default)]
pub struct KnownBundles {
    /// Each referrer manifest written: its bundle, by target repository
    /// reference and referrer manifest digest (content-addressed: a listed
    /// entry with that digest is that manifest).
    pub referrers: BTreeMap<(String, Digest), Bytes>,
    /// Images whose written bundle was read back by digest (registries with
    /// the referrers API, where a list read now may be an older, cached
    /// one): their bundles, by target repository reference and image digest.
    pub read_back: BTreeMap<(String, Digest), Vec<Bytes>>,
}

/// The bundles stored for one manifest, and where more would be written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredBundles {
    /// Each bundle blob found (not yet verified), and those this run
    /// attached since ([`attach`]).
    pub bundles: Vec<Bytes>,
    /// `None` where the registry has the referrers API; otherwise the
    /// fallback index as read or last written (`Some(None)`: no such tag).
    pub fallback: Option<Option<RawManifest>>,
}

/// Which bundles to read: a plan needs the signatures only; `verify` and
/// `apply` read the promotion attestations too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wanted {
    Signatures,
    SignaturesAndProvenance,
}

impl Wanted {
    /// Whether a referrer whose entry announces `predicate_type` is read.
    /// An entry without the annotation is read to find out.
    fn reads(self, predicate_type: Option<&str>) -> bool {
        match predicate_type {
            None => true,
            Some(SIGN_PREDICATE_TYPE) => true,
            Some(PROMOTION_PREDICATE_TYPE) => self == Wanted::SignaturesAndProvenance,
            // Other tools' attestations (SBOMs, SLSA provenance): not ours.
            Some(_) => false,
        }
    }
}

/// Every Sigstore bundle attached to `digest` in `repository` that `wanted`
/// names. Referrers that are other artifacts are skipped.
pub async fn read_bundles(
    repository: &dyn Repository,
    digest: &Digest,
    wanted: Wanted,
) -> Result<StoredBundles, RegistryError> {
    read_bundles_knowing(repository, digest, wanted, &KnownBundles::default()).await
}

/// [`read_bundles`], using what `known` says: the bundles of an image whose
/// written bundle was read back already, without a request; the bundle of
/// each listed referrer that was written, without reading its manifest.
pub async fn read_bundles_knowing(
    repository: &dyn Repository,
    digest: &Digest,
    wanted: Wanted,
    known: &KnownBundles,
) -> Result<StoredBundles, RegistryError> {
    let reference = repository.location().reference();
    if let Some(bundles) = known.read_back.get(&(reference, digest.clone())) {
        return Ok(StoredBundles {
            bundles: bundles.clone(),
            ..StoredBundles::default()
        });
    }
    match repository.referrers(digest).await? {
        Some(index) => listed_bundles(repository, digest, Some(&index), None, wanted, known).await,
        None => fallback_bundles(repository, digest, wanted, known).await,
    }
}

/// [`read_bundles`] where the registry is known to have no referrers API:
/// the fallback tag only.
pub async fn read_fallback_bundles(
    repository: &dyn Repository,
    digest: &Digest,
    wanted: Wanted,
) -> Result<StoredBundles, RegistryError> {
    fallback_bundles(repository, digest, wanted, &KnownBundles::default()).await
}

async fn fallback_bundles(
    repository: &dyn Repository,
    digest: &Digest,
    wanted: Wanted,
    known: &KnownBundles,
) -> Result<StoredBundles, RegistryError> {
    let tag = fallback_tag(digest);
    let manifest = repository.get_manifest(ManifestRef::Tag(&tag)).await?;
    let index = manifest.as_ref().map(|m| m.bytes.clone());
    listed_bundles(
        repository,
        digest,
        index.as_ref(),
        Some(manifest),
        wanted,
        known,
    )
    .await
}

/// The bundles `index` (a referrers index, or none) lists.
async fn listed_bundles(
    repository: &dyn Repository,
    digest: &Digest,
    index: Option<&Bytes>,
    fallback: Option<Option<RawManifest>>,
    wanted: Wanted,
    known: &KnownBundles,
) -> Result<StoredBundles, RegistryError> {
    let reference = repository.location().reference();
    let entries = match index {
        None => Vec::new(),
        Some(index) => referrers_of(index).map_err(|reason| RegistryError::SignatureTag {
            repository: repository.location().reference(),
            message: format!(
                "the referrers of {digest} are not an OCI index: {reason}; remove or fix the tag {}",
                fallback_tag(digest)
            ),
        })?,
    };
    let mut bundles = Vec::new();
    for entry in entries {
        if let Some(bundle) = known
            .referrers
            .get(&(reference.clone(), entry.digest.clone()))
        {
            bundles.push(bundle.clone());
            continue;
        }
        // An entry without `artifactType` (cosign#4641) is read to find out.
        if entry
            .artifact_type
            .as_deref()
            .is_some_and(|kind| kind != BUNDLE_MEDIA_TYPE)
            || !wanted.reads(entry.predicate_type.as_deref())
        {
            continue;
        }
        let Some(manifest) = repository
            .get_manifest(ManifestRef::Digest(&entry.digest))
            .await?
        else {
            continue;
        };
        let Some(layer) = bundle_layer(&manifest) else {
            continue;
        };
        let bundle = match layer.inline {
            Some(bundle) => bundle,
            None => {
                repository
                    .get_small_blob(&layer.digest, MAX_BUNDLE_BYTES)
                    .await?
            }
        };
        bundles.push(bundle);
    }
    Ok(StoredBundles { bundles, fallback })
}

/// Stores `referrers` (artifact manifests whose subject, `subject`, is in
/// `repository` already): each one's blobs (the empty config every referrer
/// shares through `shared`: asked and uploaded once per repository and run),
/// its manifest by digest (no tag), then, without the referrers API, ONE put of
/// the fallback index extended with all of them. `stored` is what
/// [`read_bundles`] found (or an earlier `attach` left); it is updated to
/// what the registry holds now, so that a later write needs no read.
pub async fn attach(
    repository: &dyn Repository,
    subject: &Digest,
    referrers: &[ReferrerManifest],
    stored: &mut StoredBundles,
    shared: &SharedConfig,
) -> Result<(), RegistryError> {
    let empty = Digest::of_bytes(EMPTY_CONTENT);
    for referrer in referrers {
        for (digest, bytes) in &referrer.blobs {
            if *digest == empty {
                shared
                    .ensure_blob(repository, digest, bytes.clone())
                    .await?;
            } else {
                repository
                    .put_blob(digest, BlobReader::from_bytes(bytes.clone()))
                    .await?;
            }
        }
        put_manifest_racing(repository, &referrer.manifest, None).await?;
        stored.bundles.push(referrer.bundle.clone());
    }
    let Some(existing) = &stored.fallback else {
        return Ok(());
    };
    let tag = fallback_tag(subject);
    let listed: Vec<&ReferrerManifest> = referrers.iter().collect();
    let index = fallback_index(existing.as_ref(), &listed).map_err(|error| {
        RegistryError::SignatureTag {
            repository: repository.location().reference(),
            message: format!("tag {tag}: {error}; remove or fix that tag"),
        }
    })?;
    if let Some(index) = index {
        put_manifest_racing(repository, &index, Some(&tag)).await?;
        stored.fallback = Some(Some(index));
    }
    Ok(())
}

/// Reads the referrer manifest `referrer` of `subject` back by digest where
/// the registry has the referrers API: the list itself may be a cached,
/// older answer for a while (Quay: 60 s), so it cannot confirm the write.
pub async fn confirm_referrer(
    repository: &dyn Repository,
    subject: &Digest,
    referrer: &Digest,
    stored: &StoredBundles,
) -> Result<(), RegistryError> {
    if stored.fallback.is_some() {
        return Ok(());
    }
    let found = repository
        .get_manifest(ManifestRef::Digest(referrer))
        .await?;
    if found.is_none() {
        return Err(RegistryError::SignatureTag {
            repository: repository.location().reference(),
            message: format!(
                "the bundle manifest {referrer} put for {subject} cannot be read back; run apply again"
            ),
        });
    }
    Ok(())
}
