//! Reads the live state a plan needs, and only that, concurrently: the target's
//! tag list once per repository; for declared tags that exist, their digest
//! and signatures; the source only for digests that would be created.

use crate::config::model::{Desired, Service};
use crate::digest::Digest;
use crate::live::{ImageSignatures, LiveService, LiveState, ManifestSignatures};
use crate::registry::{Connector, ManifestRef, RegistryError, Repository};
use crate::signing::store::read_signatures;
use futures::{StreamExt, TryStreamExt, stream};
use std::sync::Arc;

/// How many services are read at once. Each registry host also limits its own
/// concurrent requests, so this only bounds memory and task count.
const SERVICES_IN_FLIGHT: usize = 16;

/// What to read: a plan also asks the source about digests to create;
/// `verify` looks at the target only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Plan,
    TargetOnly,
}

pub async fn read_live_state(
    desired: &Desired,
    connector: &Connector,
    scope: Scope,
) -> Result<LiveState, RegistryError> {
    let services = stream::iter(&desired.services)
        .map(|service| async move {
            let live = read_service(service, connector, scope).await?;
            Ok::<_, RegistryError>((service.name.clone(), live))
        })
        .buffer_unordered(SERVICES_IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(LiveState {
        services,
        ..LiveState::default()
    })
}

async fn read_service(
    service: &Service,
    connector: &Connector,
    scope: Scope,
) -> Result<LiveService, RegistryError> {
    let target = connector.open(&service.target);
    let source = connector.open(&service.source);
    let mut live = LiveService {
        target_tags: target.list_tags().await?.into_iter().collect(),
        ..LiveService::default()
    };

    let present: Vec<_> = service
        .releases
        .iter()
        .filter(|release| live.target_tags.contains(&release.tag))
        .collect();
    let resolved: Vec<(String, Option<Digest>)> = stream::iter(present)
        .map(|release| {
            let target = Arc::clone(&target);
            async move {
                let digest = target.resolve_tag(&release.tag).await?;
                Ok::<_, RegistryError>((release.tag.clone(), digest))
            }
        })
        .buffer_unordered(SERVICES_IN_FLIGHT)
        .try_collect()
        .await?;
    live.declared_tags = resolved
        .into_iter()
        .filter_map(|(tag, digest)| Some((tag, digest?)))
        .collect();

    // Signatures matter only where the tag already has the declared digest.
    let mut signed_digests: Vec<&Digest> = service
        .releases
        .iter()
        .filter(|release| live.declared_tags.get(&release.tag) == Some(&release.digest))
        .map(|release| &release.digest)
        .collect();
    signed_digests.sort();
    signed_digests.dedup();
    live.signatures = stream::iter(signed_digests)
        .map(|digest| {
            let target = Arc::clone(&target);
            async move {
                let image = read_image_signatures(target.as_ref(), digest).await?;
                Ok::<_, RegistryError>((digest.clone(), image))
            }
        })
        .buffer_unordered(SERVICES_IN_FLIGHT)
        .try_collect()
        .await?;

    // The source is read only for what would be created.
    if scope == Scope::TargetOnly {
        return Ok(live);
    }
    let mut wanted: Vec<&Digest> = service
        .releases
        .iter()
        .filter(|release| release.tag_check.is_ok())
        .filter(|release| !live.declared_tags.contains_key(&release.tag))
        .map(|release| &release.digest)
        .collect();
    wanted.sort();
    wanted.dedup();
    live.source_has = stream::iter(wanted)
        .map(|digest| {
            let source = Arc::clone(&source);
            async move {
                let exists = source.manifest_exists(digest).await?;
                Ok::<_, RegistryError>((digest.clone(), exists))
            }
        })
        .buffer_unordered(SERVICES_IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(live)
}

/// The signatures of an image and of each child manifest of an index.
pub async fn read_image_signatures(
    repository: &dyn Repository,
    digest: &Digest,
) -> Result<ImageSignatures, RegistryError> {
    let Some(manifest) = repository.get_manifest(ManifestRef::Digest(digest)).await? else {
        return Ok(ImageSignatures::default());
    };
    let children = manifest
        .children()
        .map_err(|error| RegistryError::Invalid {
            repository: repository.location().reference(),
            message: error.to_string(),
        })?;
    let digests: Vec<Digest> = std::iter::once(digest.clone())
        .chain(children.into_iter().map(|child| child.digest))
        .collect();
    let manifests = stream::iter(digests)
        .map(|digest| async move {
            let entries = read_signatures(repository, &digest).await?;
            Ok::<_, RegistryError>(ManifestSignatures { digest, entries })
        })
        .buffered(8)
        .try_collect()
        .await?;
    Ok(ImageSignatures { manifests })
}
