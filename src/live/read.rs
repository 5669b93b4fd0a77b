//! Reads the live state a plan needs, and only that, concurrently: the target's
//! tag list once per repository; every declared tag's manifest (one GET by
//! tag gives both the digest and the children) and, where it has the
//! declared digest, its signatures; the source only for digests that would
//! be created (by GET: apply copies the root manifest from those bytes).
//!
//! A tag list is never the only evidence that a tag is absent: Quay caches
//! each `tags/list` page for 120 s, so a list read before an apply still
//! answers `[]` after it. Declared tags are therefore asked for directly, and
//! so is a `.sig` tag the list lacks; the list only saves requests where it
//! already shows a tag (and names the undeclared tags a plan warns about).
//!
//! Requests per release already in place, on an anonymous registry: the tag
//! list (shared by the service's releases), GET the tag, GET the root's
//! `.sig` manifest, and GET its payload blob unless the signature layer
//! carries it inline (`signing::inline`). Children of an index cost nothing
//! in a plan when their `.sig` tag is listed (one HEAD each when it is not);
//! an audit reads each child's `.sig` manifest too. A release to create
//! costs one GET of its tag (404). Where the file requires bundles (the
//! default), each tagged root's are read too: its referrers list (the first
//! of a repository without the API is its only one: a 404 is remembered) or
//! its fallback index tag, and each bundle referrer manifest listed (the
//! bundle inline in it).

use crate::config::model::{Desired, Service, SignatureFormat};
use crate::digest::Digest;
use crate::live::quay_listing::{self, QuayListing};
use crate::live::{
    AbsentRepository, ImageSignatures, LiveService, LiveState, ManifestSignatures,
    SignatureTagPresence, Standing, standing,
};
use crate::registry::{Connector, ManifestRef, RawManifest, RegistryError, Repository};
use crate::signing::bundles::{KnownBundles, Wanted, read_bundles_knowing};
use crate::signing::store::read_signatures;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// How many services are read at once. Each registry host also limits its own
/// concurrent requests, so this only bounds memory and task count.
const SERVICES_IN_FLIGHT: usize = 16;

/// What to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `plan`: the target (the root manifest's signatures read, children of an
    /// index checked by signature tag) and the source for digests to create.
    Plan,
    /// The target only, read as a plan reads it (apply's confirmation).
    TargetOnly,
    /// `verify`: the target only, every manifest's signatures read, so that
    /// each child's is verified with the key too.
    Audit,
}

impl Scope {
    fn reads_source(self) -> bool {
        self == Scope::Plan
    }

    fn reads_children(self) -> bool {
        self == Scope::Audit
    }
}

pub async fn read_live_state(
    desired: &Desired,
    connector: &Connector,
    scope: Scope,
) -> Result<LiveState, RegistryError> {
    read_live_state_listing(desired, connector, scope, None).await
}

/// [`read_live_state`]; a plan (`Scope::Plan`) lists each target through
/// `quay` where it may (see `quay_listing`), and through the registry API
/// where it may not or Quay does not give the list.
pub async fn read_live_state_listing(
    desired: &Desired,
    connector: &Connector,
    scope: Scope,
    quay: Option<&QuayListing<'_>>,
) -> Result<LiveState, RegistryError> {
    read_all(desired, connector, scope, quay, &KnownBundles::default()).await
}

/// [`read_live_state`], using what this run wrote (`known`, apply's
/// confirmation) instead of reading it again: see `read_bundles_knowing`.
pub async fn read_live_state_knowing(
    desired: &Desired,
    connector: &Connector,
    scope: Scope,
    known: &KnownBundles,
) -> Result<LiveState, RegistryError> {
    read_all(desired, connector, scope, None, known).await
}

async fn read_all(
    desired: &Desired,
    connector: &Connector,
    scope: Scope,
    quay: Option<&QuayListing<'_>>,
    known: &KnownBundles,
) -> Result<LiveState, RegistryError> {
    let quay = quay.filter(|_| scope == Scope::Plan);
    // An audit reads every bundle, attestations included, whatever the
    // formats: `verify` shows provenance and `--strict` requires both.
    let wanted = if scope == Scope::Audit {
        Some(Wanted::SignaturesAndProvenance)
    } else {
        desired
            .signing
            .as_ref()
            .filter(|signing| signing.requires(SignatureFormat::Bundle))
            .map(|_| Wanted::Signatures)
    };
    let bundles = wanted.map(|wanted| (wanted, known));
    let services = stream::iter(&desired.services)
        .map(|service| async move {
            let live = read_service(service, connector, scope, quay, bundles).await?;
            Ok::<_, RegistryError>((service.name.clone(), live))
        })
        .buffer_unordered(SERVICES_IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(LiveState {
        services,
        immutability: Vec::new(),
    })
}

/// `bundles`: read these Sigstore bundles of each tagged root manifest too
/// (what `known` holds taken from there).
async fn read_service(
    service: &Service,
    connector: &Connector,
    scope: Scope,
    quay: Option<&QuayListing<'_>>,
    bundles: Option<(Wanted, &KnownBundles)>,
) -> Result<LiveService, RegistryError> {
    let target = connector.open(&service.target);
    let bundle_target = Arc::clone(&target);
    let listed = match quay.and_then(|quay| Some((quay, quay.repository(service)?))) {
        Some((quay, repository)) => quay.client.tag_list(&repository).await?,
        None => None,
    };
    let mut live = match listed {
        Some(tags) => {
            let verifier = quay.and_then(|quay| quay.verifier);
            quay_listing::read_target(target.as_ref(), service, tags, verifier).await?
        }
        None => read_target(target, service, scope).await?,
    };
    if let Some(bundles) = bundles {
        add_bundles(bundle_target.as_ref(), &mut live, bundles).await?;
    }
    if scope.reads_source() {
        read_source(service, connector, &mut live).await?;
    }
    Ok(live)
}

/// The Sigstore bundles of each root whose signatures were read (the tagged
/// releases), read the same way whichever listing found them.
async fn add_bundles(
    target: &dyn Repository,
    live: &mut LiveService,
    (wanted, known): (Wanted, &KnownBundles),
) -> Result<(), RegistryError> {
    let roots: Vec<Digest> = live.signatures.keys().cloned().collect();
    let read: Vec<(Digest, Vec<Bytes>)> = stream::iter(roots)
        .map(|digest| async move {
            let stored = read_bundles_knowing(target, &digest, wanted, known).await?;
            Ok::<_, RegistryError>((digest, stored.bundles))
        })
        .buffer_unordered(SERVICES_IN_FLIGHT)
        .try_collect()
        .await?;
    for (digest, bundles) in read {
        if let Some(image) = live.signatures.get_mut(&digest) {
            image.bundles = Some(bundles);
        }
    }
    Ok(())
}

/// The target part of a service's live state, through the registry API.
async fn read_target(
    target: Arc<dyn Repository>,
    service: &Service,
    scope: Scope,
) -> Result<LiveService, RegistryError> {
    let mut live = LiveService {
        target_tags: target.list_tags().await?.into_iter().collect(),
        ..LiveService::default()
    };

    // One GET per declared tag, listed or not (the list may be a cached,
    // older page): the manifest's bytes give both the digest the tag points
    // at (hashed, not taken from a header) and the children whose signatures
    // matter. A tag outside the release grammar is asked only when listed: it
    // is refused either way.
    let present: Vec<_> = service
        .releases
        .iter()
        .filter(|release| release.tag_check.is_ok() || live.target_tags.contains(&release.tag))
        .collect();
    let fetched: Vec<(String, Option<RawManifest>)> = stream::iter(present)
        .map(|release| {
            let target = Arc::clone(&target);
            async move {
                let manifest = target.get_manifest(ManifestRef::Tag(&release.tag)).await?;
                Ok::<_, RegistryError>((release.tag.clone(), manifest))
            }
        })
        .buffer_unordered(SERVICES_IN_FLIGHT)
        .try_collect()
        .await?;
    let mut manifests: BTreeMap<Digest, RawManifest> = BTreeMap::new();
    for (tag, manifest) in fetched {
        // Listed but gone by now (deleted meanwhile): absent, as for a HEAD.
        let Some(manifest) = manifest else { continue };
        live.declared_tags.insert(tag, manifest.digest.clone());
        manifests.insert(manifest.digest.clone(), manifest);
    }

    // Signatures matter only where the tag already has the declared digest.
    let signed: Vec<&RawManifest> = service
        .releases
        .iter()
        .filter(|release| live.declared_tags.get(&release.tag) == Some(&release.digest))
        .filter_map(|release| manifests.get_key_value(&release.digest))
        .collect::<BTreeMap<_, _>>()
        .into_values()
        .collect();
    let tags = &live.target_tags;
    live.signatures = stream::iter(signed)
        .map(|manifest| {
            let target = Arc::clone(&target);
            async move {
                let image =
                    image_signatures(target.as_ref(), manifest, tags, scope.reads_children())
                        .await?;
                Ok::<_, RegistryError>((manifest.digest.clone(), image))
            }
        })
        .buffer_unordered(SERVICES_IN_FLIGHT)
        .try_collect()
        .await?;

    Ok(live)
}

/// The source, read only for what would be created.
async fn read_source(
    service: &Service,
    connector: &Connector,
    live: &mut LiveService,
) -> Result<(), RegistryError> {
    let source = connector.open(&service.source);
    let mut wanted: Vec<&Digest> = service
        .releases
        .iter()
        .filter(|release| standing(release, live) == Standing::ToCreate)
        .map(|release| &release.digest)
        .collect();
    wanted.sort();
    wanted.dedup();
    let read: Vec<(Digest, SourceRead)> = stream::iter(wanted)
        .map(|digest| {
            let source = Arc::clone(&source);
            async move {
                let read = read_source_root(source.as_ref(), digest).await?;
                Ok::<_, RegistryError>((digest.clone(), read))
            }
        })
        .buffer_unordered(SERVICES_IN_FLIGHT)
        .try_collect()
        .await?;
    for (digest, read) in read {
        live.source_has.insert(digest.clone(), read.exists);
        if let Some(root) = read.root {
            live.source_roots.insert(digest, root);
        }
    }
    if live.source_has.values().any(|has| !has) && !source.exists().await? {
        let neighbours = source.neighbours().await.unwrap_or_default();
        live.source_missing = Some(AbsentRepository { neighbours });
    }
    Ok(())
}

/// Whether the source has a digest to create, and its root manifest when
/// it arrived intact.
struct SourceRead {
    exists: bool,
    root: Option<RawManifest>,
}

/// Asks the source for a root manifest to create by GET (one request, as a
/// HEAD), so that apply copies it from these bytes instead of reading it
/// again. Bytes that fail their digest or do not parse are not this read's
/// to judge: it asks by HEAD instead, and the copy reads them again and
/// reports them for that release only (`apply_lying`).
async fn read_source_root(
    source: &dyn Repository,
    digest: &Digest,
) -> Result<SourceRead, RegistryError> {
    match source.get_manifest(ManifestRef::Digest(digest)).await {
        Ok(root) => Ok(SourceRead {
            exists: root.is_some(),
            root,
        }),
        Err(error) => {
            tracing::debug!(%error, %digest, "source root unreadable; asking by HEAD");
            Ok(SourceRead {
                exists: source.manifest_exists(digest).await?,
                root: None,
            })
        }
    }
}

/// The signatures of `manifest` (fetched by tag). The root's are read; each
/// child's too when `read_children`, otherwise only whether its `.sig` tag
/// exists: listed in `tags`, or, where the list lacks it, found by asking.
async fn image_signatures(
    repository: &dyn Repository,
    manifest: &RawManifest,
    tags: &BTreeSet<String>,
    read_children: bool,
) -> Result<ImageSignatures, RegistryError> {
    let children = children_of(repository, manifest)?;
    let (read, listed_children) = if read_children {
        (children, Vec::new())
    } else {
        let presence = stream::iter(children)
            .map(|digest| async move {
                let tag = digest.signature_tag();
                let listed = tags.contains(&tag) || repository.resolve_tag(&tag).await?.is_some();
                Ok::<_, RegistryError>(SignatureTagPresence { digest, listed })
            })
            .buffered(8)
            .try_collect()
            .await?;
        (Vec::new(), presence)
    };
    let manifests = stream::iter(std::iter::once(manifest.digest.clone()).chain(read))
        .map(|digest| async move {
            // Read even when the list lacks the `.sig` tag: absent is a 404.
            let entries = read_signatures(repository, &digest).await?;
            Ok::<_, RegistryError>(ManifestSignatures { digest, entries })
        })
        .buffered(8)
        .try_collect()
        .await?;
    Ok(ImageSignatures {
        manifests,
        listed_children,
        bundles: None,
    })
}

/// The signatures of an image and of each child manifest of an index, all
/// read in full (apply reads them before signing what lacks one).
pub async fn read_image_signatures(
    repository: &dyn Repository,
    digest: &Digest,
) -> Result<ImageSignatures, RegistryError> {
    let Some(manifest) = repository.get_manifest(ManifestRef::Digest(digest)).await? else {
        return Ok(ImageSignatures::default());
    };
    let digests: Vec<Digest> = std::iter::once(digest.clone())
        .chain(children_of(repository, &manifest)?)
        .collect();
    let manifests = stream::iter(digests)
        .map(|digest| async move {
            let entries = read_signatures(repository, &digest).await?;
            Ok::<_, RegistryError>(ManifestSignatures { digest, entries })
        })
        .buffered(8)
        .try_collect()
        .await?;
    Ok(ImageSignatures {
        manifests,
        listed_children: Vec::new(),
        bundles: None,
    })
}

pub(super) fn children_of(
    repository: &dyn Repository,
    manifest: &RawManifest,
) -> Result<Vec<Digest>, RegistryError> {
    let children = manifest
        .children()
        .map_err(|source| RegistryError::Manifest {
            repository: repository.location().reference(),
            source,
        })?;
    Ok(children.into_iter().map(|child| child.digest).collect())
}
