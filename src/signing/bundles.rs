//! Reading and writing Sigstore bundle signatures through the registry seam:
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

use crate::digest::Digest;
use crate::registry::race::put_manifest_racing;
use crate::registry::{BlobReader, ManifestRef, RawManifest, RegistryError, Repository};
use crate::signing::bundle::{BUNDLE_MEDIA_TYPE, MAX_BUNDLE_BYTES};
use crate::signing::referrer::{
    EMPTY_CONTENT, bundle_layer, bundle_manifest, fallback_index, fallback_tag, referrers_of,
};
use crate::signing::store::SharedConfig;
use bytes::Bytes;
use std::collections::BTreeMap;

/// Bundles this run wrote, known without reading them again.
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
    /// Each bundle blob found (not yet verified).
    pub bundles: Vec<Bytes>,
    /// `None` where the registry has the referrers API; otherwise the
    /// fallback index as read (`Some(None)`: no such tag yet).
    pub fallback: Option<Option<RawManifest>>,
}

/// Every Sigstore bundle attached to `digest` in `repository`. Referrers that
/// are other artifacts (SBOMs, attestations of other tools) are skipped.
pub async fn read_bundles(
    repository: &dyn Repository,
    digest: &Digest,
) -> Result<StoredBundles, RegistryError> {
    read_bundles_knowing(repository, digest, &KnownBundles::default()).await
}

/// [`read_bundles`], using what `known` says: the bundles of an image whose
/// written bundle was read back already, without a request; the bundle of
/// each listed referrer that was written, without reading its manifest.
pub async fn read_bundles_knowing(
    repository: &dyn Repository,
    digest: &Digest,
    known: &KnownBundles,
) -> Result<StoredBundles, RegistryError> {
    let reference = repository.location().reference();
    if let Some(bundles) = known.read_back.get(&(reference.clone(), digest.clone())) {
        return Ok(StoredBundles {
            bundles: bundles.clone(),
            fallback: None,
        });
    }
    let (index, fallback) = match repository.referrers(digest).await? {
        Some(index) => (Some(index), None),
        None => {
            let tag = fallback_tag(digest);
            let manifest = repository.get_manifest(ManifestRef::Tag(&tag)).await?;
            (manifest.as_ref().map(|m| m.bytes.clone()), Some(manifest))
        }
    };
    let mut bundles = Vec::new();
    let entries = match &index {
        None => Vec::new(),
        Some(index) => referrers_of(index).map_err(|reason| RegistryError::SignatureTag {
            repository: repository.location().reference(),
            message: format!(
                "the referrers of {digest} are not an OCI index: {reason}; remove or fix the tag {}",
                fallback_tag(digest)
            ),
        })?,
    };
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

/// Stores `bundle` as a referrer of `subject` (already in `repository`): its
/// blobs (the empty config through `shared`, once per repository), the
/// artifact manifest by digest (no tag), then, without the referrers API,
/// the fallback index extended with it. `stored` is what [`read_bundles`]
/// found. `created`: RFC 3339 time for the annotation.
pub async fn write_bundle(
    repository: &dyn Repository,
    subject: &RawManifest,
    bundle: Bytes,
    created: &str,
    stored: &StoredBundles,
    shared: &SharedConfig,
) -> Result<Written, RegistryError> {
    let invalid = |reason: String| RegistryError::SignatureTag {
        repository: repository.location().reference(),
        message: reason,
    };
    let referrer = bundle_manifest(subject, bundle, created)
        .map_err(|error| invalid(format!("bundle manifest for {}: {error}", subject.digest)))?;
    let empty = Digest::of_bytes(EMPTY_CONTENT);
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
    let written = referrer.manifest.digest.clone();
    put_manifest_racing(repository, &referrer.manifest, None).await?;
    let Some(existing) = &stored.fallback else {
        // Read back by digest: the referrers list itself may be a cached,
        // older answer for a while (Quay: 60 s), so it cannot confirm this.
        let stored = repository
            .get_manifest(ManifestRef::Digest(&referrer.manifest.digest))
            .await?;
        if stored.is_none() {
            return Err(invalid(format!(
                "the bundle manifest {} put for {} cannot be read back; run apply again",
                referrer.manifest.digest, subject.digest
            )));
        }
        return Ok(Written {
            referrer: written,
            read_back: true,
        });
    };
    let tag = fallback_tag(&subject.digest);
    let index = fallback_index(existing.as_ref(), &referrer)
        .map_err(|error| invalid(format!("tag {tag}: {error}; remove or fix that tag")))?;
    if let Some(index) = index {
        put_manifest_racing(repository, &index, Some(&tag)).await?;
    }
    Ok(Written {
        referrer: written,
        read_back: false,
    })
}

/// What [`write_bundle`] stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// The referrer manifest's digest.
    pub referrer: Digest,
    /// Whether it was read back by digest (referrers API); otherwise it is
    /// listed by the fallback index just put.
    pub read_back: bool,
}
